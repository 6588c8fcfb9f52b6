"""Caps on the calls each instance has in flight (a front end's guard, before any work).

``InFlight`` counts an instance's unary calls (or its open streams) and refuses the one over
``max_concurrent_requests_per_instance`` (``max_streams_per_instance``) with a
``LimitExceeded`` naming the limit, before the call does any work, so that one busy instance
cannot take the server from the others.
"""

from __future__ import annotations

import time
from collections import Counter

from qsession.lifecycle.errors import LimitExceeded


class InFlight:
    """How many calls (or streams) each instance has in flight, capped per instance.

    Args:
        limit_name: the ``[limits]`` key, named in refusals.
        maximum: the cap per instance.
        what: what is counted, for messages (e.g. "unary calls").
    """

    def __init__(self, limit_name: str, maximum: int, what: str):
        self.limit_name = limit_name
        self.maximum = maximum
        self.what = what
        self._counts: Counter[str] = Counter()
        self._entered: dict[str, float] = {}  # instance -> when it last entered (monotonic)

    def enter(self, instance: str) -> None:
        """Count one more call of ``instance``.

        Raises:
            LimitExceeded: the instance already has ``maximum`` in flight;
                nothing is counted.
        """
        if self._counts[instance] >= self.maximum:
            raise LimitExceeded(
                f"the instance has {self._counts[instance]} {self.what} in flight, the limit "
                f"{self.limit_name} is {self.maximum}; wait for some to finish, then retry",
                None,
                self.limit_name,
                self.maximum,
            )
        self._counts[instance] += 1
        self._entered[instance] = time.monotonic()

    def others_active(self, instance: str, within: float = 1.0) -> bool:
        """Whether an instance other than ``instance`` has a call in flight, or made one in
        the last ``within`` seconds."""
        since = time.monotonic() - within
        return any(
            other != instance and (other in self._counts or at >= since)
            for other, at in self._entered.items()
        )

    def leave(self, instance: str) -> None:
        """One call of ``instance`` ended."""
        self._counts[instance] -= 1
        if self._counts[instance] <= 0:
            del self._counts[instance]
