"""The scheduler: job mode, sessions and batches on every backend, as Qiskit Runtime documents.

This docstring is the one place the documented rules are written; the ``Scheduler`` applies
them with one lifecycle module per concern: ``sessions`` (what a plan allows, which jobs a
session accepts, its transitions and usage clock), ``queues`` (a QPU and the order its jobs
run in), ``timers`` (ITTL, max TTL, idle timeout), ``transitions`` (the state changes the
rules make), ``bookkeeping`` (the records and running counts) and ``restore`` (the records
after a restart). It is plain Python: no I/O, no threads, no asyncio. Time comes from the
injected ``Clock``; timers (interactive TTL, max TTL, idle timeout) fire when the caller
calls ``poll()`` (ask ``next_deadline()`` when), and before every request, so the state
always matches ``clock.now()``.

The session states (``accepting_jobs`` turns false on close; "Pending" = open or inactive)::

                first job starts                  ITTL passes, no session job queued
      open ─────────────────────────▶ active ─────────────────────────────────────▶ inactive
        │     (through the normal queue)  ▲                                            │
        │                                 └───── a session job starts ◀────────────────┘
        │ idle timeout                           (through the normal queue)
        ▼
      closed ◀── max TTL · cancel · close, once no job is queued or running ── (any state)

The rules, in the guide's words:

- **One QPU per backend.** At most one job runs on a backend at a time.
- **The normal queue.** Jobs in job mode, the jobs of a batch, and the first job of a
  session that is open or inactive wait in it. A free QPU takes its next job from the
  instance furthest below its allocated share of QPU time over the rolling window, and an
  instance at its usage limit starts none (IBM's fair-share scheduler; ``fair_share`` has the
  rules). One instance's jobs run in submission order; under ``policy = "fifo"`` the whole
  queue does.
- **Start.** When a session's first job starts running, the session becomes *active*,
  ``started_at``/``activated_at`` are set and the max TTL clock starts.
- **Active.** An active session holds its backend's QPU: its jobs run, in submission
  order, before every job that is not in it. Between its jobs the QPU stays held, idle,
  for up to the interactive TTL (ITTL): a session job submitted inside that window runs at
  once, ahead of jobs queued earlier. Only one session holds a backend at a time; the
  first job of another session waits in the normal queue.
- **Inactive.** When the ITTL window passes with no session job queued, the session goes
  *inactive* and the QPU returns to the normal queue. A later session job goes through
  the normal queue and, when it starts, reactivates the session (if max TTL has not been
  reached). The window has passed at its deadline exactly: a job submitted at or after
  the deadline is too late.
- **Max TTL.** ``max_ttl`` seconds after the first job started, the session closes
  (``close_reason`` "max_ttl"): a running job runs to completion; queued session jobs end
  in ERROR with a message naming the max TTL.
- **Close.** The session stops accepting jobs; its queued and running jobs still run (with
  priority while it is active); when the last one finishes the session closes at once,
  without waiting for the ITTL. With nothing pending it closes at once.
- **Cancel.** Queued session jobs are CANCELLED; a running job completes; the session
  closes at once (``close_reason`` "cancelled").
- **Idle timeout.** A session or batch that is still open (no job started) and has no job
  queued closes ``idle_timeout`` seconds after its creation, or after its last queued job
  was cancelled (``close_reason`` "idle_timeout").
- **Batch.** Its jobs go through the normal queue with no interactive hold. It is active
  from the start of a job while it has jobs queued or running, and inactive when it has
  none. Max TTL, close and cancel behave as for sessions.
- **Usage.** A session counts the wall time it holds the QPU: from each activation until it
  goes inactive, closes, or its last job completes, whichever is last (idle ITTL time
  counts). A batch counts the QPU time of its jobs.

Decisions where the documentation is silent:

- An active session holding its QPU is not stopped by its instance's usage limit: it is
  work that has started (IBM: "running work continues"); its hold ends at the ITTL.
- A running job whose execution is lost (its worker dies) runs again first on its QPU; after
  ``max_attempts`` starts it ends in ERROR naming the reason. An explicit job cancel or the
  job's ``max_execution_time`` stops a running job; session cancel and max TTL let it finish.
- An instance's usage is the QPU time of its finished jobs, whatever their mode (the sum of
  their ``usage``), kept as a running sum, and over the window for fair share and limits.
  A job's tags may be replaced at any time.

- A job submitted to a session that does not accept jobs: FAILED_PRECONDITION; to an
  unknown session or another instance's: NOT_FOUND; on another backend than its session's:
  INVALID_ARGUMENT. A retried submit with the same ``request_id`` returns the first job.
- Closing a session that no longer accepts jobs, or cancelling a closed one, changes
  nothing (a ``with`` block may close a session that was already cancelled). Cancelling a
  session that is draining after close cancels its queued jobs.
- Cancelling a queued job ends it CANCELLED at once; a running job runs to the end and
  then ends CANCELLED. Cancelling a finished job: FAILED_PRECONDITION.
- Closing an inactive session with queued jobs: they still wait in the normal queue; the
  session regains priority only when one of them starts.
- After a restart (``restore``) a job that was running runs again first on its backend,
  and counts as running for max TTL: it is not failed when the max TTL passes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from qsession.lifecycle.bookkeeping import Bookkeeping
from qsession.lifecycle.clock import Clock
from qsession.lifecycle.errors import FailedPrecondition, NotFound
from qsession.lifecycle.fair_share import LIMIT_REACHED, SESSION_HOLDS_QPU, FairShare
from qsession.lifecycle.model import (
    Job,
    JobStatus,
    Plan,
    Session,
    SessionMode,
    SessionState,
    Transition,
)
from qsession.lifecycle.restore import rebuild
from qsession.lifecycle.sessions import (
    MAX_TRANSITIONS,
    check_accepting,
    job_backend,
    record_transition,
    session_max_ttl,
)
from qsession.lifecycle.timers import TimerKind, Timers
from qsession.lifecycle.transitions import Transitions

__all__ = ["MAX_TRANSITIONS", "Change", "Scheduler", "nothing_to_cancel"]

QUEUED, RUNNING = JobStatus.QUEUED, JobStatus.RUNNING
OPEN, CLOSED = SessionState.OPEN, SessionState.CLOSED
DEDICATED = SessionMode.DEDICATED


@dataclass(frozen=True)
class Change:
    """One state change, handed to ``on_change``.

    Attributes:
        kind: "job" or "session".
        record: a snapshot of the Job or Session after the change.
        time: when the change happened (unix seconds); for a timer, its deadline.
    """

    kind: Literal["job", "session"]
    record: Job | Session
    time: float


def nothing_to_cancel(job: Job) -> FailedPrecondition:
    """The error for cancelling a job that already finished."""
    return FailedPrecondition(
        f"job {job.id} already finished ({job.status}); there is nothing to cancel.",
        field="job_id",
        reason="JOB_ALREADY_FINAL",
    )


class Scheduler:
    """Sessions, batches and job mode on all backends (see the module docstring for the rules).

    Args:
        clock: the time source; every time the scheduler records is ``clock.now()`` or a
            timer's deadline.
        backends: the backend names; each has one QPU.
        idle_timeout: seconds an open session with nothing queued may wait for a job.
        on_change: called once per change of a job or session, in order, after the change,
            with a snapshot. It must not raise and must not call back into the scheduler.
        max_attempts: how many times a job may start running; a job whose execution is lost
            that often (see :meth:`retry`) ends in ERROR.
        fair_share: the order between instances and their limits; default: equal shares
            over 28 days, no limits.
    """

    def __init__(
        self,
        clock: Clock,
        backends: Iterable[str],
        idle_timeout: float,
        on_change: Callable[[Change], None],
        max_attempts: int = 3,
        fair_share: FairShare | None = None,
    ) -> None:
        self._clock = clock
        self._fair = fair_share or FairShare()
        self._max_attempts = max_attempts
        self._on_change = on_change
        self._book = Bookkeeping(backends)
        self._timers = Timers(self._book, idle_timeout)
        self._rules = Transitions(self._book, self._timers, self._emit_job, self._emit_session)

    # ----------------------------------------------------------------- sessions

    def create_session(
        self,
        session_id: str,
        instance: str,
        plan: Plan,
        backend: str,
        mode: SessionMode,
        max_ttl: float | None,
    ) -> Session:
        """Create a session (dedicated mode) or a batch; it is open and has not started.

        Args:
            session_id: the new session's id (unique; chosen by the caller).
            instance: the owning instance.
            plan: the instance's plan (ITTL, max TTL range, whether sessions are allowed).
            backend: the backend its jobs will run on.
            mode: dedicated or batch.
            max_ttl: seconds (already parsed by ``parse_max_ttl``); None: the plan's max_ttl.

        Returns:
            A snapshot of the new session.

        Raises:
            NotFound: (backend) unknown backend.
            PermissionDenied: (mode) a dedicated session on a plan that does not allow it.
            InvalidArgument: (max_ttl) outside the plan's [min_max_ttl, max_ttl].
            ValueError: the id is already taken (a caller bug).
        """
        self._fire_due_timers()
        self._book.qpu(backend)
        mode = SessionMode(mode)
        ttl = session_max_ttl(plan, mode, max_ttl)
        if session_id in self._book.sessions:
            raise ValueError(f"session id {session_id!r} is already taken")
        now = self._clock.now()
        session = Session(
            id=session_id,
            instance=instance,
            backend=backend,
            mode=mode,
            max_ttl=ttl,
            interactive_ttl=plan.interactive_ttl if mode is DEDICATED else 0.0,
            created=now,
            transitions=[Transition(OPEN, True, now)],
        )
        self._book.add_session(session, idle_since=now)
        self._timers.arm_idle_timeout(session_id, now)
        self._emit_session(session, now)
        return session.snapshot()

    def close_session(self, session_id: str) -> Session:
        """Close: stop accepting jobs; queued and running jobs still run; the session
        closes as soon as none is left (at once if none is pending).

        Returns:
            A snapshot of the session after the call.

        Raises:
            NotFound: (session_id) unknown session.
        """
        self._fire_due_timers()
        session = self._book.session(session_id)
        if session.accepting_jobs:
            now = self._clock.now()
            session.accepting_jobs = False
            if self._book.session_jobs[session_id].pending == 0:
                self._rules.close(session, "closed", now)
            else:
                record_transition(session, now)
            self._emit_session(session, now)
        return session.snapshot()

    def cancel_session(self, session_id: str) -> Session:
        """Cancel: queued session jobs are CANCELLED, a running job completes, and the
        session closes at once.

        Returns:
            A snapshot of the session after the call.

        Raises:
            NotFound: (session_id) unknown session.
        """
        self._fire_due_timers()
        session = self._book.session(session_id)
        if session.state is not CLOSED:
            now = self._clock.now()
            for job in self._book.queued_jobs_of(session):
                self._rules.end_queued_job(
                    job, JobStatus.CANCELLED, f"Cancelled: session {session_id} was cancelled.", now
                )
            self._rules.close(session, "cancelled", now)
            self._emit_session(session, now)
        return session.snapshot()

    # --------------------------------------------------------------------- jobs

    def submit(self, job: Job) -> Job:
        """Queue a job in job mode (``session_id`` None) or in a session or batch.

        The scheduler keeps its own copy and sets ``seq`` (submission order), ``status``
        (QUEUED) and ``created`` (now). An empty ``backend`` in a session job means the
        session's backend. A session job submitted while its session holds the QPU in the
        ITTL window runs next, ahead of jobs queued earlier.

        Returns:
            A snapshot of the queued job (the first job, if ``request_id`` was seen before
            for this instance).

        Raises:
            NotFound: (session_id) unknown session or another instance's; (backend)
                unknown backend.
            FailedPrecondition: (session_id) the session no longer accepts jobs.
            InvalidArgument: (backend) not the session's backend.
            ValueError: the job id is already taken (a caller bug).
        """
        self._fire_due_timers()
        if job.request_id is not None:
            first = self._book.first_request(job.instance, job.request_id)
            if first is not None:
                return first.snapshot()
        if job.id in self._book.jobs:
            raise ValueError(f"job id {job.id!r} is already taken")
        job = job.snapshot()
        session = None
        if job.session_id is not None:
            session = self._book.session_of(job.instance, job.session_id)
            check_accepting(session)
            job.backend = job_backend(session, job.backend)
        qpu = self._book.qpu(job.backend)
        now = self._clock.now()
        job.seq = self._book.take_seq()
        job.status = QUEUED
        job.created = now
        self._book.add_job(job)
        self._book.enqueue(job)
        if session is not None and qpu.holder == session.id:
            qpu.ittl_deadline = None  # a session job inside the ITTL window runs at once
        self._emit_job(job, now)
        return job.snapshot()

    def next_job(self, backend: str) -> Job | None:
        """Start the job that should run now on this backend's QPU, if any.

        Call it whenever the backend's QPU is free and after ``poll()``. Order:
        a job that was running when the server stopped runs again first; while an active
        session holds the QPU only its jobs run (none queued: the QPU stays idle, held for
        the ITTL); otherwise the normal queue, in fair-share order (see ``fair_share``).

        Returns:
            A snapshot of the job, now RUNNING (``attempts`` + 1, ``started`` now), or None
            if the QPU is busy, held idle, or nothing is queued.

        Raises:
            NotFound: (backend) unknown backend.
        """
        self._fire_due_timers()
        qpu = self._book.qpu(backend)
        if qpu.running is not None:
            return None
        now = self._clock.now()
        job = self._book.next_in_line(qpu, lambda instance: self._fair.rank(instance, now))
        if job is None:
            return None
        self._rules.start(job, qpu, now)
        return job.snapshot()

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        usage: float,
        error: str | None = None,
        simulation: float = 0.0,
    ) -> Job:
        """Record the end of a running job.

        Args:
            job_id: the running job.
            status: DONE or ERROR (a job whose cancellation was requested ends CANCELLED).
            usage: QPU seconds it used, as charged to its instance.
            error: why it failed (ERROR).
            simulation: wall seconds the emulator took.

        Returns:
            A snapshot of the finished job.

        Raises:
            NotFound: (job_id) unknown job.
            FailedPrecondition: (job_id) the job is not running.
            ValueError: ``status`` is not DONE or ERROR (a caller bug).
        """
        self._fire_due_timers()
        if status not in (JobStatus.DONE, JobStatus.ERROR):
            raise ValueError(f"a job finishes DONE or ERROR, not {status}")
        job = self._book.job(job_id)
        if job.status is not RUNNING:
            raise FailedPrecondition(f"job {job_id} is {job.status}, not RUNNING", field="job_id")
        now = self._clock.now()
        self._book.qpus[job.backend].running = None
        if job.unstored is not None:
            job.status, job.error = JobStatus.ERROR, job.unstored
        elif job.cancel_requested:
            job.status = JobStatus.CANCELLED
            job.error = "Cancelled by the user while running; its execution was stopped."
        else:
            job.status = status
            job.error = error
        job.finished = now
        job.usage = float(usage)
        job.simulation = float(simulation)
        if job.status is JobStatus.DONE:
            job.progress, job.remaining = 1.0, 0.0
        self._book.charge(job)
        self._fair.charge(job.instance, now, job.usage)
        self._emit_job(job, now)
        if job.session_id is not None:
            self._rules.session_job_ended(self._book.sessions[job.session_id], job, now)
        self._fire_due_timers()
        return job.snapshot()

    def retry(self, job_id: str, reason: str) -> Job:
        """A running job's execution was lost (its worker died): it is QUEUED again at the
        head of its backend's queue, its session keeps the QPU, and its next start counts one
        more attempt. A job that has started ``max_attempts`` times ends in ERROR instead,
        naming ``reason``. Lost attempts are not charged.

        Returns:
            A snapshot of the job after the call.

        Raises:
            NotFound: (job_id) unknown job.
            FailedPrecondition: (job_id) the job is not running.
        """
        self._fire_due_timers()
        job = self._book.job(job_id)
        if job.status is not RUNNING:
            raise FailedPrecondition(f"job {job_id} is {job.status}, not RUNNING", field="job_id")
        if job.attempts >= self._max_attempts:
            return self.finish(job_id, JobStatus.ERROR, 0.0, self._gave_up(job, reason))
        self._book.qpus[job.backend].running = None
        self._book.requeue_first(job)
        self._emit_job(job, self._clock.now())
        return job.snapshot()

    def fail_unstored(self, job_id: str, reason: str) -> None:
        """A change of the job, or its result, could not be stored (a bug, not the disk): the
        job ends in ERROR with ``reason``, so that no job is left DONE without its result or
        in a state the store does not hold. A queued job leaves its queue; a running one ends
        in ERROR when its execution does; a finished one is ERROR from now (its end is stored
        again). A job no longer held here is left as stored.
        """
        self._fire_due_timers()
        try:
            job = self._book.job(job_id)
        except NotFound:
            return
        now = self._clock.now()
        if job.status is RUNNING:
            job.unstored = reason
            return
        if job.status is JobStatus.ERROR and job.error == reason:
            return  # its ERROR was what could not be stored: once is enough
        if not job.status.finished:
            self._rules.end_queued_job(job, JobStatus.ERROR, reason, now)
            if job.session_id is not None:
                self._rules.session_lost_queued_job(self._book.sessions[job.session_id], now)
        else:
            job.status, job.error = JobStatus.ERROR, reason
            self._emit_job(job, now)
        self._fire_due_timers()

    def cancel_job(self, job_id: str) -> Job:
        """Cancel a job: a queued job ends CANCELLED at once; a running job is stopped (the
        caller stops its execution and then calls :meth:`finish`) and ends CANCELLED.

        Returns:
            A snapshot of the job after the call.

        Raises:
            NotFound: (job_id) unknown job.
            FailedPrecondition: (job_id) the job already finished.
        """
        self._fire_due_timers()
        job = self._book.job(job_id)
        if job.status.finished:
            raise nothing_to_cancel(job)
        now = self._clock.now()
        if job.status is RUNNING:
            if not job.cancel_requested:
                job.cancel_requested = True
                self._emit_job(job, now)
            return job.snapshot()
        self._rules.end_queued_job(
            job, JobStatus.CANCELLED, "Cancelled by the user before it started.", now
        )
        if job.session_id is not None:
            self._rules.session_lost_queued_job(self._book.sessions[job.session_id], now)
        self._fire_due_timers()
        return job.snapshot()

    def report_progress(self, job_id: str, fraction: float) -> None:
        """A running job's worker reports the fraction of its work done: kept, with the
        seconds it is estimated to need still at its pace so far, and published as a change.
        A report for a job that is not running, or that does not advance, changes nothing
        (the worker's reports are rate-bounded; see ``workers.process``)."""
        job = self._book.jobs.get(job_id)
        if job is None or job.status is not RUNNING or job.started is None:
            return
        fraction = min(1.0, max(0.0, float(fraction)))
        if fraction <= job.progress:
            return
        now = self._clock.now()
        job.progress = fraction
        job.remaining = max(0.0, now - job.started) * (1.0 - fraction) / fraction
        self._emit_job(job, now)

    def update_tags(self, job_id: str, tags: list[str]) -> Job:
        """Replace a job's tags, in any state (the tags are the user's, not the lifecycle's).

        Returns:
            A snapshot of the job after the call.

        Raises:
            NotFound: (job_id) unknown job.
        """
        job = self._book.job(job_id)
        job.tags = list(tags)
        self._emit_job(job, self._clock.now())
        return job.snapshot()

    # ------------------------------------------------------------------- timers

    def poll(self) -> None:
        """Fire every timer due at ``clock.now()``: ITTL windows, max TTLs, idle timeouts."""
        self._fire_due_timers()

    def next_deadline(self) -> float | None:
        """When the next timer is due, or usage leaves the window of an instance whose limit
        keeps its queued jobs waiting on an idle QPU (unix seconds); None if neither."""
        earliest = self._timers.earliest()
        deadlines = [] if earliest is None else [earliest[0]]
        now = self._clock.now()
        for qpu in self._book.qpus.values():
            if qpu.running is None and qpu.holder is None:
                for instance in qpu.waiting_instances():
                    free = self._fair.next_free(instance, now)
                    if free is not None:
                        deadlines.append(free)
        return min(deadlines, default=None)

    # ------------------------------------------------------------------ lookups

    def job(self, job_id: str) -> Job:
        """A snapshot of a job. Raises NotFound (job_id)."""
        return self._book.job(job_id).snapshot()

    def session(self, session_id: str) -> Session:
        """A snapshot of a session. Raises NotFound (session_id)."""
        return self._book.session(session_id).snapshot()

    def job_for_request(self, instance: str, request_id: str) -> Job | None:
        """A snapshot of the job ``instance`` submitted with ``request_id``, or None (also
        when that job was forgotten)."""
        job = self._book.first_request(instance, request_id)
        return None if job is None else job.snapshot()

    def forget(self, job_id: str) -> None:
        """Drop a finished job from memory; it no longer changes (its record lives on in the
        caller's store). Unknown ids are ignored.

        Raises:
            FailedPrecondition: (job_id) the job has not finished.
        """
        job = self._book.jobs.get(job_id)
        if job is not None and not job.status.finished:
            raise FailedPrecondition(
                f"job {job_id} is {job.status}; only finished jobs are forgotten", field="job_id"
            )
        self._book.forget(job_id)

    def queued_of(self, instance: str) -> int:
        """How many jobs of ``instance`` are queued, over all backends (a running count)."""
        return self._book.queued_by_instance.get(instance, 0)

    def queued(self, backend: str) -> int:
        """How many jobs are queued on a backend. Raises NotFound (backend)."""
        return self._book.qpu(backend).queued

    def pending_jobs(self, session_id: str) -> int:
        """How many of a session's jobs are queued or running. Raises NotFound (session_id)."""
        return self._book.session_jobs[self._book.session(session_id).id].pending

    def jobs(self) -> Iterator[Job]:
        """Snapshots of every job the scheduler knows, in submission order."""
        ordered = sorted(self._book.jobs.values(), key=lambda j: j.seq)
        return (job.snapshot() for job in ordered)

    def instance_usage(self, instance: str) -> float:
        """QPU seconds used by ``instance``'s finished jobs (kept as a running sum)."""
        return self._book.usage.get(instance, 0.0)

    def window_usage(self, instance: str) -> float:
        """QPU seconds ``instance``'s jobs used over the fair-share window ending now."""
        return self._fair.used(instance, self._clock.now())

    @property
    def fair_share(self) -> FairShare:
        """The allocations, the window and the policy."""
        return self._fair

    def waiting_reason(self, job: Job) -> str:
        """Why a QUEUED job waits beyond its turn: IBM's limit message when its instance
        reached its usage limit; that an active session holds the QPU when one of another
        session does (never naming it); "" otherwise."""
        if job.status is not QUEUED:
            return ""
        if self._fair.limit_reached(job.instance, self._clock.now()):
            return LIMIT_REACHED
        holder = self._book.qpus[job.backend].holder if job.backend in self._book.qpus else None
        if holder is not None and holder != job.session_id:
            return SESSION_HOLDS_QPU
        return ""

    def sessions(self) -> Iterator[Session]:
        """Snapshots of every session the scheduler knows, oldest first."""
        return (session.snapshot() for session in self._book.sessions.values())

    def sessions_of(self, instance: str) -> Iterator[Session]:
        """Snapshots of ``instance``'s sessions, oldest first (no other instance's is read)."""
        own = self._book.sessions_by_instance.get(instance, {})
        return (session.snapshot() for session in list(own.values()))

    def open_sessions_of(self, instance: str) -> int:
        """How many of ``instance``'s sessions are not closed."""
        own = self._book.sessions_by_instance.get(instance, {})
        return sum(1 for session in own.values() if session.id in self._book.live)

    def forget_sessions(self, keep_newest: int | None, closed_before: float | None) -> list[str]:
        """Forget closed sessions that hold no job any more: each instance's beyond its newest
        ``keep_newest`` sessions, and those closed before ``closed_before``; their ids. (The
        retention rule of jobs, applied to sessions; a background pass, not a request.)"""
        forgotten = []
        for own in list(self._book.sessions_by_instance.values()):
            sessions = list(own.values())  # oldest first
            beyond = len(sessions) - keep_newest if keep_newest is not None else 0
            for index, session in enumerate(sessions):
                closed = session.state is SessionState.CLOSED and session.id not in self._book.live
                old = index < beyond or (
                    closed_before is not None and session.transitions[-1].time < closed_before
                )
                jobs = self._book.session_jobs[session.id]
                holder = self._book.qpus[session.backend].holder == session.id
                if closed and old and jobs.pending == 0 and not holder:
                    self._book.forget_session(session)
                    forgotten.append(session.id)
        return forgotten

    # ------------------------------------------------------------------ restore

    def restore(
        self,
        sessions: list[Session],
        jobs: list[Job],
        usage: dict[str, float] | None = None,
        last_seq: int = 0,
        window_charges: Iterable[tuple[str, float, float]] = (),
    ) -> None:
        """Rebuild the scheduler after a crash from the persisted records.

        Queued jobs keep their submission order. A job that was RUNNING is QUEUED again at
        the head of its backend's queue (its ``attempts`` are kept, so its next start
        counts one more) and its session keeps holding the QPU. Sessions resume from their
        persisted timestamps; timers that passed while the server was down fire at their
        deadlines: a session whose max TTL passed is closed and its queued jobs end in
        ERROR naming the max TTL. A job that already started ``max_attempts`` times ends in
        ERROR instead of running again. Emits a change for every job put back in the queue
        and for every timer that fires.

        ``jobs`` need only be the unfinished jobs and those of sessions that are not closed;
        ``usage`` (instance -> QPU seconds) and ``last_seq`` then cover the jobs left out
        (by default they are taken from ``jobs``). ``window_charges`` are (instance, finished
        at, QPU seconds) of the jobs that finished inside the fair-share window, oldest first.

        Raises:
            ValueError: the scheduler already has sessions or jobs.
            NotFound: (backend) a record names a backend that is not configured.
        """
        if self._book.sessions or self._book.jobs:
            raise ValueError("restore needs an empty scheduler")
        requeued = rebuild(self._book, self._timers, sessions, jobs, usage, last_seq)
        self._fair.load(window_charges)
        self._fire_due_timers()
        now = self._clock.now()
        for job in requeued:
            if job.status is QUEUED and job.attempts >= self._max_attempts:
                reason = "the server stopped while the job ran"
                self._rules.end_queued_job(job, JobStatus.ERROR, self._gave_up(job, reason), now)
                if job.session_id is not None:
                    self._rules.session_lost_queued_job(self._book.sessions[job.session_id], now)
            else:
                self._emit_job(job, now)

    # ----------------------------------------------------------------- inside

    def _gave_up(self, job: Job, reason: str) -> str:
        return (
            f"{reason}; the job was given up after {job.attempts} attempts "
            f"(the server's [execution] max_attempts is {self._max_attempts})"
        )

    def _fire_due_timers(self) -> None:
        now = self._clock.now()
        while (timer := self._timers.pop_due(now)) is not None:
            deadline, kind, key = timer
            if kind is TimerKind.ITTL:
                self._rules.ittl_expired(self._book.qpus[key], deadline)
            elif kind is TimerKind.MAX_TTL:
                self._rules.max_ttl_reached(self._book.live[key], deadline)
            else:
                self._rules.idle_timeout_reached(self._book.live[key], deadline)

    def _emit_job(self, job: Job, at: float) -> None:
        self._on_change(Change("job", job.snapshot(), at))

    def _emit_session(self, session: Session, at: float) -> None:
        self._on_change(Change("session", session.snapshot(), at))
