"""The session rules that need no queue: what a plan allows, which jobs a session accepts,
its recorded transitions, its ITTL window and its usage clock.

Pure functions over the lifecycle's records (see ``scheduler`` for the rules in the guide's
words); the scheduler calls them and the runtime may too.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from qsession.lifecycle.durations import format_duration
from qsession.lifecycle.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from qsession.lifecycle.model import Plan, Session, SessionMode, SessionState, Transition

MAX_TRANSITIONS = 100
"""A session keeps its first transition and its newest ones, this many in all."""

WHY_NOT_ACCEPTING: dict[str | None, str] = {
    None: "it was closed and is finishing the jobs already submitted",
    "closed": "it was closed",
    "cancelled": "it was cancelled",
    "max_ttl": "it reached its max TTL",
    "idle_timeout": "it closed after the idle timeout, as no job was submitted",
}
"""Why a session refuses new jobs, by ``close_reason`` (None: closed, still running its jobs)."""


@dataclass
class SessionJobs:
    """A session's jobs in the scheduler.

    Attributes:
        idle_since: since when an open session has had nothing pending (for the idle
            timeout), unix seconds.
        queue: queued job ids in submission order (finished ids are skipped lazily).
        pending: how many of its jobs are queued or running.
    """

    idle_since: float
    queue: deque[str] = field(default_factory=deque)
    pending: int = 0


def session_max_ttl(plan: Plan, mode: SessionMode, max_ttl: float | None) -> float:
    """The max TTL of a new session or batch on ``plan``, in seconds.

    Args:
        plan: the instance's plan.
        mode: dedicated or batch.
        max_ttl: the requested max TTL in seconds; None: the plan's max_ttl.

    Raises:
        PermissionDenied: (mode) a dedicated session on a plan that does not allow it.
        InvalidArgument: (max_ttl) outside the plan's [min_max_ttl, max_ttl].
    """
    if mode is SessionMode.DEDICATED and not plan.allows_dedicated:
        plan_name = plan.name.capitalize()
        raise PermissionDenied(
            f"The {plan_name} Plan cannot open a session (mode dedicated): the "
            f"{plan_name} Plan runs only job and batch mode. Submit jobs without a "
            "session (job mode) or create a batch (mode batch).",
            field="mode",
            reason="OPEN_PLAN_SESSION",
        )
    ttl = plan.max_ttl if max_ttl is None else float(max_ttl)
    if not plan.min_max_ttl <= ttl <= plan.max_ttl:
        raise InvalidArgument(
            f"max_ttl {format_duration(ttl)} ({ttl:g} s) is outside the {plan.name} "
            f"plan's range: choose between {format_duration(plan.min_max_ttl)} "
            f"({plan.min_max_ttl:g} s) and {format_duration(plan.max_ttl)} "
            f"({plan.max_ttl:g} s), or omit it for the maximum.",
            field="max_ttl",
            reason="MAX_TTL_INVALID",
        )
    return ttl


def check_accepting(session: Session) -> None:
    """Refuse a new job for a session that no longer accepts jobs.

    Raises:
        FailedPrecondition: (session_id) the session was closed, cancelled or ended.
    """
    if not session.accepting_jobs:
        why = WHY_NOT_ACCEPTING[session.close_reason]
        raise FailedPrecondition(
            f"session {session.id} no longer accepts jobs: {why}. Create a new "
            "session to submit more jobs.",
            field="session_id",
            reason="SESSION_NOT_ACCEPTING_JOBS",
        )


def job_backend(session: Session, requested_backend: str) -> str:
    """The backend a job in ``session`` runs on: the session's, which an empty
    ``requested_backend`` means.

    Raises:
        InvalidArgument: (backend, BACKEND_MISMATCH) ``requested_backend`` names another
            backend than the session's.
    """
    if requested_backend and requested_backend != session.backend:
        raise InvalidArgument(
            f"backend: session {session.id} runs on {session.backend!r}, not "
            f"{requested_backend!r}; leave backend empty or name the session's",
            field="backend",
            reason="BACKEND_MISMATCH",
        )
    return session.backend


def record_transition(session: Session, at: float, state: SessionState | None = None) -> None:
    """Enter ``state`` (None: the same state, ``accepting_jobs`` changed) at ``at`` and
    record the transition, keeping the first and the newest, MAX_TRANSITIONS in all."""
    if state is not None:
        session.state = state
    session.transitions.append(Transition(session.state, session.accepting_jobs, at))
    # A batch fed one job at a time turns active and inactive with every job: keep the
    # first transition and the newest ones, so that a session's every change costs the
    # same after 10 jobs as after 100,000 (each is stored and published whole).
    excess = len(session.transitions) - MAX_TRANSITIONS
    if excess > 0:
        del session.transitions[1 : 1 + excess]


def window_start(session: Session) -> float:
    """When the ITTL window starts: the session's last job's completion (else its activation,
    else its creation), unix seconds."""
    return session.last_job_completed or session.activated_at or session.created


def stop_usage_clock(session: Session, at: float) -> None:
    """An active session stops holding its QPU at ``at``: add the held wall time since its
    activation to its usage (a batch counts its jobs' QPU time instead)."""
    if (
        session.mode is SessionMode.DEDICATED
        and session.state is SessionState.ACTIVE
        and session.activated_at is not None
    ):
        session.usage += max(0.0, at - session.activated_at)


def max_ttl_error(session: Session) -> str:
    """The error of a queued job that never started because its session reached max TTL."""
    return (
        f"The job did not run: session {session.id} reached its max TTL of "
        f"{format_duration(session.max_ttl)} ({session.max_ttl:g} s) before the job "
        "started. Create a new session (with a larger max_ttl) and submit it again."
    )
