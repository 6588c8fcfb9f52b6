"""Clocks for the lifecycle: the scheduler reads time only through a ``Clock``.

All times are unix seconds (float). The server uses ``SystemClock``; unit tests use
``VirtualClock`` and step time forward explicitly, so no test ever sleeps.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A source of the current time."""

    def now(self) -> float:
        """Return the current time in unix seconds."""
        ...


class SystemClock:
    """The wall clock (``time.time()``)."""

    def now(self) -> float:
        """Return the current wall-clock time in unix seconds."""
        return time.time()


class VirtualClock:
    """A clock that moves only when told to.

    Args:
        start: the initial time in unix seconds.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        """Return the virtual time in unix seconds."""
        return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds`` (>= 0) and return the new time.

        Raises:
            ValueError: if ``seconds`` is negative (time never goes back).
        """
        if seconds < 0:
            raise ValueError(f"a clock cannot go back in time (advance({seconds}))")
        self._now += seconds
        return self._now
