"""The scheduler's timers and when each is due (see ``scheduler`` for the rules).

- **interactive TTL** (per QPU): the holder's ITTL window ends at ``Qpu.ittl_deadline``.
- **max TTL** (per session): ``max_ttl`` seconds after its first job started, while it is
  not closed.
- **idle timeout** (per session): ``idle_timeout`` seconds after an open session last had
  nothing pending.

A timer is armed by pushing its deadline; the state decides the deadline it has now, so an
armed deadline that no longer agrees (the window closed, the session closed or got a job)
is stale and dropped, never fired.
"""

from __future__ import annotations

import heapq
import itertools
from enum import StrEnum

from qsession.lifecycle.bookkeeping import Bookkeeping
from qsession.lifecycle.model import SessionState
from qsession.lifecycle.queues import Qpu


class TimerKind(StrEnum):
    """What a timer watches: a QPU's ITTL window, or a session's max TTL or idle timeout."""

    ITTL = "interactive TTL"
    MAX_TTL = "max TTL"
    IDLE_TIMEOUT = "idle timeout"


class Timers:
    """The armed timers, earliest first.

    Args:
        book: the records whose state gives each timer's deadline.
        idle_timeout: seconds an open session with nothing queued may wait for a job.
    """

    def __init__(self, book: Bookkeeping, idle_timeout: float) -> None:
        self.idle_timeout = float(idle_timeout)
        self._book = book
        self._heap: list[tuple[float, int, TimerKind, str]] = []
        self._order = itertools.count()

    def arm(self, kind: TimerKind, key: str, deadline: float) -> None:
        """Arm a timer: ``key`` is a backend name (ITTL) or a session id (the others)."""
        heapq.heappush(self._heap, (deadline, next(self._order), kind, key))

    def arm_idle_timeout(self, session_id: str, idle_since: float) -> None:
        """An open session has had nothing pending since ``idle_since``."""
        self.arm(TimerKind.IDLE_TIMEOUT, session_id, idle_since + self.idle_timeout)

    def open_ittl_window(self, qpu: Qpu, deadline: float) -> None:
        """The QPU's holder keeps it, idle, until ``deadline`` (unix seconds)."""
        qpu.ittl_deadline = deadline
        self.arm(TimerKind.ITTL, qpu.name, deadline)

    def deadline(self, kind: TimerKind, key: str) -> float | None:
        """The deadline the timer has now (None: not armed)."""
        if kind is TimerKind.ITTL:
            return self._book.qpus[key].ittl_deadline
        session = self._book.live.get(key)
        if session is None:
            return None
        if kind is TimerKind.MAX_TTL:
            return session.max_ttl_deadline()
        jobs_of = self._book.session_jobs[key]
        if session.state is SessionState.OPEN and jobs_of.pending == 0:
            return jobs_of.idle_since + self.idle_timeout
        return None

    def earliest(self) -> tuple[float, TimerKind, str] | None:
        """The earliest armed timer (deadline, kind, key), or None; stale entries are
        dropped."""
        while self._heap:
            deadline, _, kind, key = self._heap[0]
            if self.deadline(kind, key) == deadline:
                return deadline, kind, key
            heapq.heappop(self._heap)
        return None

    def pop_due(self, now: float) -> tuple[float, TimerKind, str] | None:
        """Disarm and return the earliest timer due at ``now`` (deadline, kind, key), or
        None if none is due."""
        timer = self.earliest()
        if timer is None or timer[0] > now:
            return None
        heapq.heappop(self._heap)
        return timer
