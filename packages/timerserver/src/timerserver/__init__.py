"""The timer service: REST API, runner, metrics and CLI around timerkernel."""

from __future__ import annotations
