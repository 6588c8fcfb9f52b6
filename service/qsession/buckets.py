"""Token buckets, one per key (an instance): what a rate with a burst allows now."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBuckets:
    """A token bucket per key, each filling at ``rate`` a second up to ``burst``.

    Spending may take a bucket below zero: a debt that refilling pays first. A key whose
    bucket is full again is forgotten, so only keys part-spent or in debt take memory.

    Args:
        rate: tokens a second (> 0).
        burst: what a bucket holds when full (a new key's bucket is full).
        clock: the time in seconds (monotonic; injected by unit tests).
    """

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, as of when)

    def level(self, key: str) -> float:
        """The tokens ``key`` has now (negative: what it owes)."""
        return self._level(key, self._clock())

    def spend(self, key: str, amount: float) -> float:
        """Take ``amount`` from ``key``'s bucket; the tokens left (negative: owed)."""
        now = self._clock()
        tokens = self._level(key, now) - amount
        self._buckets[key] = (tokens, now)
        return tokens

    def _level(self, key: str, now: float) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            return self.burst
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        if tokens >= self.burst:
            del self._buckets[key]
        else:
            self._buckets[key] = (tokens, now)
        return tokens
