"""Durable storage backends for timerkernel."""

from __future__ import annotations
