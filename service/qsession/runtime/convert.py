"""Lifecycle records -> their proto messages (what RPCs return and watch streams carry)."""

from __future__ import annotations

from qsession.lifecycle.model import Job, Session
from qsession.v1 import job_pb2, session_pb2
from qsession.wire import to_timestamp
from qsession.wire.states import JOB_STATES, MODES, PROGRAMS, SESSION_STATES


def job_message(
    job: Job, options: job_pb2.JobOptions, num_pubs: int, waiting_reason: str = ""
) -> job_pb2.Job:
    """The Job message of a lifecycle job plus its submission options; ``executor`` is
    where it ran (``job.placement``); ``waiting_reason`` why a queued job waits beyond its
    turn (``Scheduler.waiting_reason``)."""
    message = job_pb2.Job(
        id=job.id,
        program=PROGRAMS[job.program],
        backend=job.backend,
        session_id=job.session_id or "",
        state=JOB_STATES[job.status],
        tags=job.tags,
        create_time=to_timestamp(job.created),
        usage_seconds=job.usage,
        error_message=job.error or "",
        attempts=job.attempts,
        num_pubs=num_pubs,
        options=options,
        estimated_usage_seconds=job.estimated_usage,
        simulation_seconds=job.simulation,
        waiting_reason=waiting_reason,
        progress=job.progress,
    )
    if job.remaining is not None:
        message.remaining_seconds = job.remaining
    if job.started is not None:
        message.start_time.CopyFrom(to_timestamp(job.started))
    if job.finished is not None:
        message.end_time.CopyFrom(to_timestamp(job.finished))
    if job.placement is not None:
        message.executor.CopyFrom(
            job_pb2.Executor(
                engine=job.placement.engine,
                node_id=job.placement.node_id,
                host=job.placement.host,
            )
        )
    return message


def session_message(session: Session, now: float, pending_jobs: int) -> session_pb2.Session:
    """The Session message of a lifecycle session at time ``now``."""
    message = session_pb2.Session(
        id=session.id,
        backend=session.backend,
        mode=MODES[session.mode],
        state=SESSION_STATES[session.state],
        accepting_jobs=session.accepting_jobs,
        max_ttl_seconds=session.max_ttl,
        interactive_ttl_seconds=session.interactive_ttl,
        active_ttl_seconds=session.active_timeout(now),
        create_time=to_timestamp(session.created),
        usage_seconds=session.usage_at(now),
        close_reason=session.close_reason or "",
        pending_jobs=pending_jobs,
    )
    for name in (
        "start_time",
        "activate_time",
        "close_time",
        "last_job_start_time",
        "last_job_end_time",
    ):
        value = getattr(session, _SESSION_TIMES[name])
        if value is not None:
            getattr(message, name).CopyFrom(to_timestamp(value))
    for transition in session.transitions:
        message.transitions.add(
            state=SESSION_STATES[transition.state],
            accepting_jobs=transition.accepting_jobs,
            time=to_timestamp(transition.time),
        )
    return message


_SESSION_TIMES = {
    "start_time": "started_at",
    "activate_time": "activated_at",
    "close_time": "closed_at",
    "last_job_start_time": "last_job_started",
    "last_job_end_time": "last_job_completed",
}
