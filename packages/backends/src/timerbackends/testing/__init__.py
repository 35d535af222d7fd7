"""Utilities for tests and benchmarks; not for production use.

:mod:`timerbackends.testing.postgres` starts a throwaway PostgreSQL server
on the loopback address, so that test suites and benchmarks can run the
stores against a real database without any setup by hand.
"""

from __future__ import annotations
