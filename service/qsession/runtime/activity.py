"""What each QPU did, across instances: busy intervals and the session holding it.

A session's timeline shows the other work on its QPU only as anonymous busy time, and the
Backends page shows which session holds each QPU. Neither can come from the per-instance
queries, so ``QpuActivity`` follows the lifecycle's changes (a ledger change listener) at
O(1) per change and keeps the newest KEPT_INTERVALS executions per backend in memory (older
ones, and those from before a restart, are not shown).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from qsession.lifecycle.clock import Clock
from qsession.lifecycle.model import Job, JobStatus, Session, SessionMode, SessionState
from qsession.lifecycle.scheduler import Change, Scheduler

KEPT_INTERVALS = 5000


@dataclass(frozen=True)
class Execution:
    """One finished execution on a QPU: when, whose, and of which session (or None)."""

    start: float
    end: float
    instance: str
    session_id: str | None
    job_id: str


class QpuActivity:
    """Executions and session holds per backend, and a nudge to whoever shows them.

    Args:
        clock: the runtime's clock.
        backends: the backends' names.
        scheduler: the lifecycle, read once for what runs and holds now.
        running_job: the job a backend's QPU runs now, if any.
    """

    def __init__(
        self,
        clock: Clock,
        backends: Iterable[str],
        scheduler: Scheduler,
        running_job: Callable[[str], Job | None],
    ) -> None:
        self.clock = clock
        self._running_job = running_job
        self.executions: dict[str, deque[Execution]] = {
            name: deque(maxlen=KEPT_INTERVALS) for name in backends
        }
        self.holders: dict[str, tuple[str, str]] = {}  # backend -> (session id, instance)
        self.listeners: set[Callable[[str], None]] = set()  # told the backend that changed
        self._running: set[str] = set()
        for job in scheduler.jobs():
            if job.status is JobStatus.RUNNING:
                self._running.add(job.id)
        for session in scheduler.sessions():
            self._session_changed(session)

    def on_change(self, change: Change) -> None:
        """Record an execution that ended, or a session that took or left its QPU."""
        record = change.record
        if isinstance(record, Job):
            self._job_changed(record)
        else:
            self._session_changed(record)
        for listener in list(self.listeners):
            listener(record.backend)

    def _job_changed(self, job: Job) -> None:
        if job.status is JobStatus.RUNNING:
            self._running.add(job.id)
        elif job.id in self._running:
            self._running.discard(job.id)
            if job.started is not None:
                end = job.finished if job.finished is not None else self.clock.now()
                self.executions[job.backend].append(
                    Execution(job.started, end, job.instance, job.session_id, job.id)
                )

    def _session_changed(self, session: Session) -> None:
        holding = session.mode is SessionMode.DEDICATED and session.state is SessionState.ACTIVE
        if holding:
            self.holders[session.backend] = (session.id, session.instance)
        elif self.holders.get(session.backend, ("",))[0] == session.id:
            del self.holders[session.backend]

    def busy(
        self, backend: str, start: float, end: float, except_session: str
    ) -> list[tuple[float, float]]:
        """The times in [start, end] the QPU ran anything but ``except_session``'s jobs
        (anonymous: no ids, no instances), including what runs now."""
        intervals = [
            (max(e.start, start), min(e.end, end))
            for e in self.executions.get(backend, ())
            if e.session_id != except_session and e.end > start and e.start < end
        ]
        job = self._running_job(backend)
        if job is not None and job.session_id != except_session and job.started:
            intervals.append((max(job.started, start), end))
        return [(a, b) for a, b in intervals if b > a]
