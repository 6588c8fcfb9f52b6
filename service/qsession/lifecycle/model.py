"""The lifecycle's records: plans, jobs and sessions, in the documentation's words.

Times are unix seconds (float); durations are seconds. The scheduler owns and mutates
these records; everything it hands out (lookups, change notifications) is a snapshot
taken with ``snapshot()``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    """A job's state: QUEUED -> RUNNING -> DONE | ERROR | CANCELLED."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    DONE = "DONE"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"

    @property
    def finished(self) -> bool:
        """True for the final states DONE, ERROR and CANCELLED."""
        return self in (JobStatus.DONE, JobStatus.ERROR, JobStatus.CANCELLED)


class SessionState(StrEnum):
    """A session's state, as ``Session.details()["state"]`` reports it.

    open: created, no job has started yet. active: a job is running or the interactive
    TTL window is open. inactive: the window passed with no session job queued.
    closed: drained after close, cancelled, max TTL reached or idle timeout.
    """

    OPEN = "open"
    ACTIVE = "active"
    INACTIVE = "inactive"
    CLOSED = "closed"


class SessionMode(StrEnum):
    """dedicated: a session (QPU held between its jobs); batch: no interactive hold."""

    DEDICATED = "dedicated"
    BATCH = "batch"


class Program(StrEnum):
    """The primitive a job runs."""

    SAMPLER = "sampler"
    ESTIMATOR = "estimator"
    EXECUTOR = "executor"


@dataclass(frozen=True)
class Plan:
    """An instance's plan: the limits its sessions live under.

    Attributes:
        name: "open", "premium", ... (the Open Plan is named "open").
        interactive_ttl: seconds the QPU is held for a session between its jobs.
        max_ttl: the largest max TTL a session may ask for, and the default, in seconds.
        min_max_ttl: the smallest max TTL a session may ask for, in seconds.
        allows_dedicated: whether the plan may open sessions (dedicated mode); the
            Open Plan may not (job and batch mode only).
    """

    name: str
    interactive_ttl: float
    max_ttl: float
    min_max_ttl: float
    allows_dedicated: bool


@dataclass(frozen=True)
class Placement:
    """Where a job's execution ran (the Job message's ``executor``).

    Attributes:
        engine: "local" (a worker process on the server's machine) or "ray" (a Ray actor).
        node_id: the Ray node's id (hex); empty for the local engine, which has no nodes.
        host: the host name of the machine the execution ran on.
    """

    engine: str
    node_id: str = ""
    host: str = ""


@dataclass
class Job:
    """A Sampler or Estimator job as the scheduler sees it (no PUBs, no results).

    Attributes:
        id: server-assigned id.
        instance: the owning instance; other instances never see the job.
        backend: the backend (QPU) it runs on.
        program: sampler or estimator.
        session_id: the session or batch it belongs to; None in job mode.
        tags: the user's tags, kept in order.
        seq: submission order on the server, assigned by ``Scheduler.submit``; the normal
            queue is FIFO by seq.
        status: QUEUED, RUNNING, DONE, ERROR or CANCELLED.
        created: when it was submitted.
        started: when it last started running; None before.
        finished: when it reached DONE, ERROR or CANCELLED; None before.
        usage: modelled QPU seconds it used (0 if it never ran; see
            ``execution.qpu_time``).
        estimated_usage: its modelled QPU seconds, known at admission (IBM's
            ``usage_estimation``); 0 when unknown (a record from before it was kept).
        simulation: wall seconds the emulator took on its last attempt (0 before).
        progress: the fraction of a running job's work done, as its worker reports it (1.0
            once DONE; 0 before it reports, and again when an attempt is lost).
        remaining: seconds a running job is estimated to need still, from its pace so far;
            None until it reports progress.
        error: why it failed or was cancelled; None otherwise.
        attempts: how many times it started running (more than 1 after a restart).
        cancel_requested: the user cancelled it while it ran; it ends CANCELLED.
        unstored: why one of its changes could not be stored, if one could not while it ran:
            it then ends in ERROR with that reason (see ``Scheduler.fail_unstored``).
        request_id: the client's idempotency key; a retried submit returns the first job.
        placement: where its latest attempt ran (engine, node, host); None before it first
            starts. The runtime records it (the scheduler never sets it).
    """

    id: str
    instance: str
    backend: str
    program: Program
    session_id: str | None = None
    tags: list[str] = field(default_factory=list)
    seq: int = 0
    status: JobStatus = JobStatus.QUEUED
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    usage: float = 0.0
    estimated_usage: float = 0.0
    simulation: float = 0.0
    progress: float = 0.0
    remaining: float | None = None
    error: str | None = None
    attempts: int = 0
    cancel_requested: bool = False
    unstored: str | None = None
    request_id: str | None = None
    placement: Placement | None = None

    def snapshot(self) -> Job:
        """Return an independent copy."""
        return dataclasses.replace(self, tags=list(self.tags))


@dataclass(frozen=True)
class Transition:
    """One state change of a session: the state entered, whether it accepted jobs after
    the change, and when (unix seconds)."""

    state: SessionState
    accepting_jobs: bool
    time: float


@dataclass
class Session:
    """A session (dedicated mode) or a batch on one backend.

    Attributes:
        id: server-assigned id.
        instance: the owning instance.
        backend: the backend all its jobs run on.
        mode: dedicated or batch.
        max_ttl: seconds the session may live from its first job's start.
        interactive_ttl: seconds the QPU is held between its jobs (0 for a batch).
        state: open, active, inactive or closed.
        accepting_jobs: False once closed, cancelled or ended.
        created: when it was created.
        started_at: when its first job started (the max TTL clock starts); None before.
        activated_at: when it last became active; None before.
        closed_at: when it closed; None before.
        last_job_started: when its most recent job started; None before.
        last_job_completed: when its most recent job finished; None before.
        usage: seconds of usage accounted so far (see ``Scheduler``); while a session is
            active, ``details()`` adds the time since ``activated_at``.
        transitions: changes of state or accepting_jobs, oldest first: the first and the
            newest, MAX_TRANSITIONS in all (see ``sessions.record_transition``).
        close_reason: "closed", "cancelled", "max_ttl" or "idle_timeout"; None while open.
    """

    id: str
    instance: str
    backend: str
    mode: SessionMode
    max_ttl: float
    interactive_ttl: float
    state: SessionState = SessionState.OPEN
    accepting_jobs: bool = True
    created: float = 0.0
    started_at: float | None = None
    activated_at: float | None = None
    closed_at: float | None = None
    last_job_started: float | None = None
    last_job_completed: float | None = None
    usage: float = 0.0
    transitions: list[Transition] = field(default_factory=list)
    close_reason: str | None = None

    def snapshot(self) -> Session:
        """Return an independent copy."""
        return dataclasses.replace(self, transitions=list(self.transitions))

    def max_ttl_deadline(self) -> float | None:
        """When the max TTL is reached (started_at + max_ttl); None before the start."""
        return None if self.started_at is None else self.started_at + self.max_ttl

    def active_timeout(self, now: float) -> float:
        """Seconds of max TTL left at ``now``: max_ttl before the start, 0 once closed."""
        if self.state is SessionState.CLOSED:
            return 0.0
        deadline = self.max_ttl_deadline()
        return self.max_ttl if deadline is None else max(0.0, deadline - now)

    def usage_at(self, now: float) -> float:
        """Usage in seconds at ``now``.

        A session (dedicated) counts the wall time it holds the QPU, so while it is active
        the time since ``activated_at`` is added; a batch counts its jobs' QPU time.
        """
        if (
            self.mode is SessionMode.DEDICATED
            and self.state is SessionState.ACTIVE
            and self.activated_at is not None
        ):
            return self.usage + max(0.0, now - self.activated_at)
        return self.usage

    def details(self, now: float) -> dict[str, Any]:
        """The session as qiskit-ibm-runtime's ``Session.details()`` presents it.

        Keys: id, backend_name, interactive_timeout, max_time, active_timeout (seconds of
        max TTL left), state, accepting_jobs, last_job_started, last_job_completed,
        started_at, closed_at, activated_at, mode, usage_time, timestamps.
        Durations are seconds (ints when whole, as IBM's service returns them); times are
        ISO 8601 UTC strings ("2024-01-01T00:00:00.000Z") or None; usage_time is None
        until the first job starts; timestamps lists every transition as
        ``{"status", "accepting_jobs", "timestamp"}``.
        """
        return {
            "id": self.id,
            "backend_name": self.backend,
            "interactive_timeout": _seconds(self.interactive_ttl),
            "max_time": _seconds(self.max_ttl),
            "active_timeout": _seconds(self.active_timeout(now)),
            "state": str(self.state),
            "accepting_jobs": self.accepting_jobs,
            "last_job_started": _iso(self.last_job_started),
            "last_job_completed": _iso(self.last_job_completed),
            "started_at": _iso(self.started_at),
            "closed_at": _iso(self.closed_at),
            "activated_at": _iso(self.activated_at),
            "mode": str(self.mode),
            "usage_time": None if self.started_at is None else _seconds(self.usage_at(now)),
            "timestamps": [
                {
                    "status": str(t.state),
                    "accepting_jobs": t.accepting_jobs,
                    "timestamp": _iso(t.time),
                }
                for t in self.transitions
            ],
        }

    def status(self) -> str:
        """The session status as qiskit-ibm-runtime's ``Session.status()`` words it.

        open or inactive: "Pending"; active and accepting jobs: "In progress, accepting
        new jobs"; active and not accepting: "In progress, not accepting new jobs";
        closed: "Closed".
        """
        if self.state in (SessionState.OPEN, SessionState.INACTIVE):
            return "Pending"
        if self.state is SessionState.ACTIVE:
            if self.accepting_jobs:
                return "In progress, accepting new jobs"
            return "In progress, not accepting new jobs"
        return "Closed"


def _seconds(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _iso(time: float | None) -> str | None:
    if time is None:
        return None
    stamp = datetime.fromtimestamp(time, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
