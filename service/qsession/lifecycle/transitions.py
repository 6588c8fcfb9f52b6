"""The state changes the scheduler's rules make (see ``scheduler`` for the rules).

A job starts or ends while queued; a session job ends; a session loses its last queued job,
goes inactive, or closes; an ITTL window, a max TTL or an idle timeout passes. Each change
updates the records and is reported, once, through the ``emit`` callbacks.
"""

from __future__ import annotations

from collections.abc import Callable

from qsession.lifecycle.bookkeeping import Bookkeeping
from qsession.lifecycle.model import Job, JobStatus, Session, SessionMode, SessionState
from qsession.lifecycle.queues import Qpu
from qsession.lifecycle.sessions import (
    max_ttl_error,
    record_transition,
    stop_usage_clock,
    window_start,
)
from qsession.lifecycle.timers import TimerKind, Timers

RUNNING = JobStatus.RUNNING
OPEN, ACTIVE, INACTIVE, CLOSED = (
    SessionState.OPEN,
    SessionState.ACTIVE,
    SessionState.INACTIVE,
    SessionState.CLOSED,
)
DEDICATED, BATCH = SessionMode.DEDICATED, SessionMode.BATCH


class Transitions:
    """The state changes of jobs and sessions, applied to the records.

    Args:
        book: the records and counts.
        timers: the timers the changes arm.
        emit_job: reports a job's change (the job, when, unix seconds).
        emit_session: reports a session's change (the session, when, unix seconds).
    """

    def __init__(
        self,
        book: Bookkeeping,
        timers: Timers,
        emit_job: Callable[[Job, float], None],
        emit_session: Callable[[Session, float], None],
    ) -> None:
        self._book = book
        self._timers = timers
        self._emit_job = emit_job
        self._emit_session = emit_session

    def start(self, job: Job, qpu: Qpu, now: float) -> None:
        """A queued job starts running on its QPU: a session's first job starts its max TTL
        clock, an open or inactive session becomes active, an active session holds the QPU."""
        job.status = RUNNING
        job.started = now
        job.attempts += 1
        qpu.running = job.id
        qpu.queued -= 1
        self._book.count_queued(job, -1)
        self._emit_job(job, now)
        if job.session_id is None:
            return
        session = self._book.sessions[job.session_id]
        session.last_job_started = now
        if session.started_at is None:
            session.started_at = now  # the session starts: the max TTL clock starts
            self._timers.arm(TimerKind.MAX_TTL, session.id, now + session.max_ttl)
        if session.state in (OPEN, INACTIVE):
            session.activated_at = now
            record_transition(session, now, ACTIVE)
        if session.mode is DEDICATED and session.state is ACTIVE:
            qpu.holder = session.id  # an active session holds the QPU
            qpu.ittl_deadline = None
        self._emit_session(session, now)

    def session_job_ended(self, session: Session, job: Job, now: float) -> None:
        """A session job finished: count usage, then drain-close, open the ITTL window, or
        (a batch with nothing left) go inactive."""
        jobs_of = self._book.session_jobs[session.id]
        jobs_of.pending -= 1
        session.last_job_completed = now
        if session.mode is BATCH:
            session.usage += job.usage
        if session.state is CLOSED:
            if session.mode is DEDICATED and session.closed_at is not None:
                # The job ran past max TTL or cancel: the QPU was held until it completed.
                session.usage += max(0.0, now - max(session.closed_at, job.started or now))
        elif not session.accepting_jobs and jobs_of.pending == 0:
            self.close(session, "closed", now)  # closed and drained: no ITTL wait
        elif jobs_of.pending == 0:
            if session.mode is DEDICATED:
                qpu = self._book.qpus[session.backend]
                self._timers.open_ittl_window(qpu, now + session.interactive_ttl)
            else:
                self._deactivate(session, now)
        self._emit_session(session, now)

    def session_lost_queued_job(self, session: Session, now: float) -> None:
        """A queued session job was cancelled and none is left: a session that no longer
        accepts jobs closes; an open one restarts its idle timeout; one holding the QPU
        resumes its ITTL window; an active batch goes inactive."""
        jobs_of = self._book.session_jobs[session.id]
        if jobs_of.pending > 0 or session.state is CLOSED:
            return
        qpu = self._book.qpus[session.backend]
        if not session.accepting_jobs:
            self.close(session, "closed", now)
            self._emit_session(session, now)
        elif session.state is OPEN:
            jobs_of.idle_since = now
            self._timers.arm_idle_timeout(session.id, now)
        elif qpu.holder == session.id and qpu.running is None:
            window_end = window_start(session) + session.interactive_ttl
            self._timers.open_ittl_window(qpu, max(window_end, now))
        elif session.mode is BATCH and session.state is ACTIVE:
            self._deactivate(session, now)
            self._emit_session(session, now)

    def ittl_expired(self, qpu: Qpu, at: float) -> None:
        """The ITTL window passed with no session job queued: the session goes inactive
        and the QPU returns to the normal queue."""
        assert qpu.holder is not None
        session = self._book.sessions[qpu.holder]
        self._deactivate(session, at)
        self._emit_session(session, at)

    def max_ttl_reached(self, session: Session, at: float) -> None:
        """Max TTL: queued session jobs fail naming the max TTL; the session closes; a
        running job (or one that was running before a restart) runs to completion."""
        message = max_ttl_error(session)
        for job in self._book.queued_jobs_of(session):
            if job.attempts == 0:
                self.end_queued_job(job, JobStatus.ERROR, message, at)
        self.close(session, "max_ttl", at)
        self._emit_session(session, at)

    def idle_timeout_reached(self, session: Session, at: float) -> None:
        """An open session got no job within the idle timeout: it closes."""
        self.close(session, "idle_timeout", at)
        self._emit_session(session, at)

    def _deactivate(self, session: Session, at: float) -> None:
        """The session goes inactive and releases its QPU."""
        stop_usage_clock(session, at)
        record_transition(session, at, INACTIVE)
        self._release_qpu(session)

    def close(self, session: Session, reason: str, at: float) -> None:
        """The session closes for ``reason`` (its ``close_reason``) and releases its QPU; the
        caller reports the change."""
        stop_usage_clock(session, at)
        session.accepting_jobs = False
        session.closed_at = at
        session.close_reason = reason
        record_transition(session, at, CLOSED)
        self._book.live.pop(session.id, None)
        self._release_qpu(session)

    def _release_qpu(self, session: Session) -> None:
        """The QPU the session holds returns to the normal queue."""
        qpu = self._book.qpus[session.backend]
        if qpu.holder == session.id:
            qpu.holder = None
            qpu.ittl_deadline = None

    def end_queued_job(self, job: Job, status: JobStatus, error: str, at: float) -> None:
        """A queued job ends (CANCELLED or ERROR) without running, with ``error``."""
        job.status = status
        job.error = error
        job.finished = at
        self._book.qpus[job.backend].queued -= 1
        self._book.count_queued(job, -1)
        if job.session_id is not None:
            self._book.session_jobs[job.session_id].pending -= 1
        self._emit_job(job, at)
