"""Fair share between instances: which instance's job a free QPU runs next, and usage limits.

IBM's QPUs do not run their queues first come, first served (guides "Fair-share scheduler"
and "Set instance allocation limits"); neither does qsession under ``policy = "fair_share"``:

- **Allocation.** Each instance has a share of QPU time: a relative weight (``allocation =
  7``) or QPU seconds per window (``allocation = "2h"``). Its *fraction* of the installation
  is its weight over the sum of the configured weights, or its seconds over the window's
  capacity (the window times the number of QPUs). An instance with no allocation weighs 1.
- **Window usage.** Each instance's usage on all QPUs over a rolling window (``[scheduler]
  window``, 28 days by default): the modelled QPU seconds of its finished jobs, the figure
  ``usage()`` reports.
- **Order.** A free QPU's next job comes from the instance furthest below its share: the
  smallest window usage over fraction. Ties (no usage yet) go to the oldest queued job. Among
  one instance's jobs the order stays first in, first out. Under ``policy = "fifo"`` every
  instance ranks the same, so the oldest job runs first (the old behaviour).
- **Limit.** An instance whose allocation is a limit (``limit = true``) and whose window usage
  reached it starts no job: running work continues, its queued jobs stay queued, nothing is
  cancelled, new jobs may be submitted and wait. They run again once enough usage has left
  the window. ``next_free`` says when, so the scheduler's caller wakes up then.

Kept incrementally: a charge goes into a per-instance run of time buckets (``BUCKETS`` per
window), and expired buckets leave from the front. Ranking an instance costs the same with
20,000 finished jobs as with 20; picking a QPU's next job costs one rank per instance that has
jobs queued on it. A charge leaves the window up to one bucket (window / ``BUCKETS``: 39
minutes of 28 days) late, never early.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

POLICIES = ("fair_share", "fifo")
DEFAULT_WINDOW = 28 * 24 * 3600.0
BUCKETS = 1024
"""Time buckets per window: how finely usage leaves the window."""

LIMIT_REACHED = (
    "This instance has met its usage limit. Workloads will not run until time is made available."
)
"""What a job waiting on its instance's limit says (qiskit-ibm-runtime's wording)."""
SESSION_HOLDS_QPU = (
    "An active session holds the backend's QPU between its jobs (for up to its interactive "
    "time-to-live); this job runs once that session goes inactive or closes."
)
"""What a job waiting behind another session's hold says (the session is not named)."""


@dataclass(frozen=True)
class Allocation:
    """An instance's allocation (``[[instances]] allocation`` and ``limit``).

    Attributes:
        share: a relative weight; None when ``seconds`` is set.
        seconds: QPU seconds per window; None when ``share`` is set.
        limit: the allocation is also a limit: reached, the instance's jobs wait.
    """

    share: float | None = 1.0
    seconds: float | None = None
    limit: bool = False

    def __post_init__(self) -> None:
        if (self.share is None) == (self.seconds is None):
            raise ValueError("an allocation is either a share or seconds per window")


class _Window:
    """One instance's charges in the window: (bucket, seconds) runs, oldest first."""

    __slots__ = ("charges", "total")

    def __init__(self) -> None:
        self.charges: deque[list[float]] = deque()  # [bucket index, seconds]
        self.total = 0.0


class FairShare:
    """Window usage per instance, and the rank that orders instances on a free QPU.

    Args:
        window: the rolling window, seconds.
        policy: "fair_share" or "fifo".
        allocations: instance -> Allocation; others weigh 1 with no limit.
        qpus: how many QPUs the installation has (the window's capacity in QPU seconds is
            ``window * qpus``).
    """

    def __init__(
        self,
        window: float = DEFAULT_WINDOW,
        policy: str = "fair_share",
        allocations: Mapping[str, Allocation] | None = None,
        qpus: int = 1,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, not {policy!r}")
        if window <= 0:
            raise ValueError("the window must be positive")
        self.window = float(window)
        self.policy = policy
        self.allocations = dict(allocations or {})
        self.capacity = self.window * max(1, qpus)
        self._width = self.window / BUCKETS
        self._shares = sum(a.share for a in self.allocations.values() if a.share is not None)
        self._used: dict[str, _Window] = {}

    # ----------------------------------------------------------------- charges

    def charge(self, instance: str, at: float, seconds: float) -> None:
        """Count ``seconds`` of QPU time used by ``instance`` at time ``at``."""
        if seconds <= 0:
            return
        window = self._used.setdefault(instance, _Window())
        bucket = math.floor(at / self._width)
        if window.charges and window.charges[-1][0] >= bucket:
            window.charges[-1][1] += seconds  # (a restore may replay charges out of order)
        else:
            window.charges.append([bucket, seconds])
        window.total += seconds

    def load(self, charges: Iterable[tuple[str, float, float]]) -> None:
        """Replay (instance, finished at, seconds) charges, oldest first (after a restart)."""
        for instance, at, seconds in charges:
            self.charge(instance, at, seconds)

    def used(self, instance: str, now: float) -> float:
        """``instance``'s QPU seconds in the window ending ``now``."""
        window = self._used.get(instance)
        if window is None:
            return 0.0
        horizon = now - self.window
        charges = window.charges
        while charges and (charges[0][0] + 1) * self._width <= horizon:
            window.total -= charges.popleft()[1]
        if not charges:
            del self._used[instance]
            return 0.0
        return max(0.0, window.total)

    # ------------------------------------------------------------- allocation

    def allocation(self, instance: str) -> Allocation:
        """``instance``'s allocation (a weight of 1 with no limit when none is configured)."""
        return self.allocations.get(instance, Allocation())

    def allocated_seconds(self, instance: str) -> float:
        """QPU seconds per window ``instance`` is allocated (a share as its part of the
        window's capacity)."""
        return self.fraction(instance) * self.capacity

    def fraction(self, instance: str) -> float:
        """``instance``'s fraction of the installation's QPU time."""
        allocation = self.allocation(instance)
        if allocation.seconds is not None:
            return allocation.seconds / self.capacity
        share = allocation.share or 0.0
        return share / max(self._shares, share, 1.0)

    def limit_reached(self, instance: str, now: float) -> bool:
        """Whether ``instance`` has a limit and its window usage reached it."""
        return self._at_limit(instance, self.used(instance, now))

    def _at_limit(self, instance: str, used: float) -> bool:
        return self.allocation(instance).limit and used >= self.allocated_seconds(instance)

    def rank(self, instance: str, now: float) -> float | None:
        """Where ``instance`` stands for a free QPU: lower goes first (window usage over its
        fraction; 0 for all under "fifo"); None when its limit stops it."""
        used = self.used(instance, now)
        if self._at_limit(instance, used):
            return None
        if self.policy == "fifo":
            return 0.0
        fraction = self.fraction(instance)
        return used / fraction if fraction > 0 else (math.inf if used > 0 else 0.0)

    def next_free(self, instance: str, now: float) -> float | None:
        """When ``instance``, stopped by its limit at ``now``, may have usage leave the window
        (its oldest charge's bucket expiring); None if it is not stopped."""
        if not self.limit_reached(instance, now):
            return None
        oldest = self._used[instance].charges[0][0]
        return (oldest + 1) * self._width + self.window
