"""Rebuilding the scheduler's records after a restart (see ``Scheduler.restore``).

Queued jobs keep their submission order; a job that was RUNNING is QUEUED again, to run
first on its backend, with its ``attempts`` kept; sessions resume from their persisted
timestamps: their timers are armed at the deadlines the records give (the caller fires
those that passed) and an active session holds its QPU again.
"""

from __future__ import annotations

from qsession.lifecycle.bookkeeping import Bookkeeping
from qsession.lifecycle.model import Job, JobStatus, Session, SessionMode, SessionState
from qsession.lifecycle.sessions import window_start
from qsession.lifecycle.timers import TimerKind, Timers


def rebuild(
    book: Bookkeeping,
    timers: Timers,
    sessions: list[Session],
    jobs: list[Job],
    usage: dict[str, float] | None,
    last_seq: int,
) -> list[Job]:
    """Load persisted sessions and jobs (copies of them) into empty records and arm timers.

    Args:
        book: empty records to fill.
        timers: the timers to arm.
        sessions: the persisted sessions.
        jobs: the persisted jobs (any order).
        usage: instance -> QPU seconds of its finished jobs; None: summed from ``jobs``.
        last_seq: the largest submission order ever given (``jobs`` may raise it).

    Returns:
        The jobs that were RUNNING, now QUEUED at the head of their backends' queues, in
        submission order.

    Raises:
        NotFound: (backend) a record names a backend that is not configured.
    """
    book.next_seq = last_seq + 1
    if usage is not None:
        book.usage = dict(usage)
    for record in sessions:
        session = record.snapshot()
        book.qpu(session.backend)
        book.add_session(session, idle_since=session.created)
    requeued: list[Job] = []
    for job_record in sorted(jobs, key=lambda j: j.seq):
        job = job_record.snapshot()
        qpu = book.qpu(job.backend)
        book.add_job(job)
        book.next_seq = max(book.next_seq, job.seq + 1)
        if usage is None:
            book.charge(job)
        if job.session_id is not None:
            jobs_of = book.session_jobs[job.session_id]
            jobs_of.idle_since = max(jobs_of.idle_since, job.finished or job.created)
        if job.status is JobStatus.RUNNING:
            job.status = JobStatus.QUEUED
            job.started = None
            qpu.reruns.append(job.id)
            requeued.append(job)
        if job.status is JobStatus.QUEUED:
            book.enqueue(job)
    for live in book.live.values():
        jobs_of = book.session_jobs[live.id]
        deadline = live.max_ttl_deadline()
        if deadline is not None:
            timers.arm(TimerKind.MAX_TTL, live.id, deadline)
        elif jobs_of.pending == 0:
            timers.arm_idle_timeout(live.id, jobs_of.idle_since)
        if live.mode is SessionMode.DEDICATED and live.state is SessionState.ACTIVE:
            qpu = book.qpus[live.backend]
            qpu.holder = live.id
            if jobs_of.pending == 0:
                timers.open_ittl_window(qpu, window_start(live) + live.interactive_ttl)
    return requeued
