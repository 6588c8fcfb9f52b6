"""The scheduler's rules, one test per rule, stepped on a virtual clock (no sleeping).

Times in these tests are seconds since the world's start (``world.t``). Plans follow the
guide's defaults: interactive TTL 60 s, max TTL between 5 min and 8 h, idle timeout 30 min.
"""

from __future__ import annotations

import itertools

import pytest

from qsession.lifecycle.clock import VirtualClock
from qsession.lifecycle.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from qsession.lifecycle.model import (
    Job,
    JobStatus,
    Plan,
    Program,
    Session,
    SessionMode,
    SessionState,
)
from qsession.lifecycle.scheduler import MAX_TRANSITIONS, Change, Scheduler

PREMIUM = Plan(
    "premium", interactive_ttl=60, max_ttl=8 * 3600, min_max_ttl=300, allows_dedicated=True
)
OPEN_PLAN = Plan("open", interactive_ttl=60, max_ttl=600, min_max_ttl=300, allows_dedicated=False)
IDLE_TIMEOUT = 1800.0
DEDICATED, BATCH = SessionMode.DEDICATED, SessionMode.BATCH
QUEUED, RUNNING, DONE, ERROR, CANCELLED = (
    JobStatus.QUEUED,
    JobStatus.RUNNING,
    JobStatus.DONE,
    JobStatus.ERROR,
    JobStatus.CANCELLED,
)
OPEN, ACTIVE, INACTIVE, CLOSED = (
    SessionState.OPEN,
    SessionState.ACTIVE,
    SessionState.INACTIVE,
    SessionState.CLOSED,
)


class World:
    """A scheduler on a virtual clock, with the helpers a driver would use."""

    def __init__(self, backends: tuple[str, ...] = ("qpu_a",)) -> None:
        self.clock = VirtualClock()
        self.t0 = self.clock.now()
        self.changes: list[Change] = []
        self.scheduler = Scheduler(self.clock, backends, IDLE_TIMEOUT, self.changes.append)
        self._ids = itertools.count(1)

    @property
    def t(self) -> float:
        return self.clock.now() - self.t0

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.scheduler.poll()

    def open_session(
        self,
        mode: SessionMode = DEDICATED,
        backend: str = "qpu_a",
        max_ttl: float | None = None,
        plan: Plan = PREMIUM,
        instance: str = "alice",
    ) -> str:
        session_id = f"s{next(self._ids)}"
        self.scheduler.create_session(session_id, instance, plan, backend, mode, max_ttl)
        return session_id

    def submit(
        self,
        session_id: str | None = None,
        backend: str = "qpu_a",
        instance: str = "alice",
        tags: tuple[str, ...] = (),
        request_id: str | None = None,
    ) -> str:
        job = Job(
            id=f"j{next(self._ids)}",
            instance=instance,
            backend=backend,
            program=Program.SAMPLER,
            session_id=session_id,
            tags=list(tags),
            request_id=request_id,
        )
        return self.scheduler.submit(job).id

    def start(self, backend: str = "qpu_a") -> str | None:
        job = self.scheduler.next_job(backend)
        return None if job is None else job.id

    def run(self, seconds: float, backend: str = "qpu_a") -> str:
        """Start the next job on the backend, run it for ``seconds``, finish it DONE."""
        job_id = self.start(backend)
        assert job_id is not None, "expected a job to start"
        self.clock.advance(seconds)
        self.scheduler.finish(job_id, DONE, usage=seconds)
        return job_id

    def job(self, job_id: str) -> Job:
        return self.scheduler.job(job_id)

    def session(self, session_id: str) -> Session:
        return self.scheduler.session(session_id)

    def rel(self, time: float | None) -> float | None:
        return None if time is None else time - self.t0


# ------------------------------------------------------------------ start and open


def test_session_is_pending_until_its_first_job_starts() -> None:
    w = World()
    s = w.open_session()
    w.submit(s)
    session = w.session(s)
    assert session.state is OPEN
    assert session.started_at is None
    assert session.status() == "Pending"


def test_first_session_job_goes_through_the_normal_queue() -> None:
    w = World()
    earlier = w.submit()
    s = w.open_session()
    first = w.submit(s)
    assert w.start() == earlier
    w.advance(5)
    w.scheduler.finish(earlier, DONE, usage=5)
    assert w.start() == first
    session = w.session(s)
    assert session.state is ACTIVE
    assert session.status() == "In progress, accepting new jobs"
    assert session.started_at == session.activated_at == w.job(first).started


# ------------------------------------------------------------------ active and ITTL


def test_active_session_job_submitted_within_ittl_overtakes_earlier_queued_jobs() -> None:
    w = World()
    s = w.open_session()
    w.submit(s)
    w.run(10)
    other = w.submit()
    w.advance(30)
    assert w.start() is None  # the QPU is held for the session, idle
    second = w.submit(s)
    assert w.start() == second
    assert w.job(other).status is QUEUED


def test_qpu_stays_held_and_idle_during_the_ittl_window() -> None:
    w = World()
    s = w.open_session()
    w.submit(s)
    w.run(10)
    w.submit()
    for _ in range(59):
        w.advance(1)
        assert w.start() is None
        assert w.session(s).state is ACTIVE


@pytest.mark.parametrize(
    ("submitted_after", "runs_at_once"),
    [(59.999, True), (60.0, False), (60.001, False)],
    ids=["just-inside-window", "at-deadline", "after-deadline"],
)
def test_ittl_expiry_racing_a_submission(submitted_after: float, runs_at_once: bool) -> None:
    """The window has passed at its deadline exactly, even if the driver has not polled
    yet: a session job submitted then waits behind earlier jobs."""
    w = World()
    s = w.open_session()
    w.submit(s)
    w.run(10)
    other = w.submit()
    w.clock.advance(submitted_after)  # no poll: the submission races the ITTL timer
    late = w.submit(s)
    started = w.start()
    if runs_at_once:
        assert started == late
        assert w.session(s).state is ACTIVE
    else:
        assert started == other
        assert w.session(s).state is INACTIVE
        assert w.rel(w.session(s).transitions[-1].time) == 70.0  # inactive at the deadline


def test_session_goes_inactive_when_the_ittl_passes_and_the_normal_queue_resumes() -> None:
    w = World()
    s = w.open_session()
    w.submit(s)
    w.run(10)
    other = w.submit()
    w.advance(60)
    session = w.session(s)
    assert session.state is INACTIVE
    assert session.status() == "Pending"
    assert w.start() == other


def test_reactivation_goes_through_the_normal_queue() -> None:
    w = World()
    s = w.open_session()
    w.submit(s)
    w.run(10)
    w.advance(60)
    other = w.submit()
    again = w.submit(s)
    assert w.start() == other  # the inactive session's job waits its turn
    w.clock.advance(5)
    w.scheduler.finish(other, DONE, usage=5)
    assert w.start() == again
    session = w.session(s)
    assert session.state is ACTIVE
    assert w.rel(session.activated_at) == 75
    assert w.rel(session.started_at) == 0
    assert [t.state for t in session.transitions] == [OPEN, ACTIVE, INACTIVE, ACTIVE]


def test_no_reactivation_after_max_ttl() -> None:
    w = World()
    s = w.open_session(max_ttl=300)
    w.submit(s)
    w.run(10)
    w.advance(300)
    assert w.session(s).state is CLOSED
    with pytest.raises(FailedPrecondition) as raised:
        w.submit(s)
    assert raised.value.field == "session_id"
    assert "max TTL" in str(raised.value)


def test_only_one_session_holds_a_backend_at_a_time() -> None:
    w = World()
    s1, s2 = w.open_session(), w.open_session()
    w.submit(s1)
    w.run(10)
    waiting = w.submit(s2)
    w.advance(30)
    assert w.start() is None  # s1 holds the QPU; s2's first job waits in the normal queue
    w.advance(30)
    assert w.session(s1).state is INACTIVE
    assert w.start() == waiting
    assert w.session(s2).state is ACTIVE


# ------------------------------------------------------------------------ max TTL


def test_max_ttl_while_a_job_runs() -> None:
    w = World()
    s = w.open_session(max_ttl=300)
    w.submit(s)
    running = w.start()
    assert running is not None
    queued = [w.submit(s), w.submit(s)]
    other = w.submit()
    w.advance(300)
    session = w.session(s)
    assert session.state is CLOSED
    assert session.close_reason == "max_ttl"
    assert w.rel(session.closed_at) == 300
    for job_id in queued:
        job = w.job(job_id)
        assert job.status is ERROR
        assert "max TTL" in (job.error or "")
    assert w.job(running).status is RUNNING  # a running job runs to completion
    w.clock.advance(20)
    w.scheduler.finish(running, DONE, usage=320)
    assert w.job(running).status is DONE
    assert w.start() == other


def test_max_ttl_counts_from_the_first_jobs_start_not_from_creation() -> None:
    w = World()
    blocker = w.submit()
    s = w.open_session(max_ttl=300)
    w.submit(s)
    w.run(1000)  # the blocker runs first; the session is still open
    assert w.session(s).state is OPEN
    first = w.start()
    assert w.job(first).session_id == s  # type: ignore[arg-type]
    assert w.scheduler.next_deadline() == w.t0 + 1000 + 300
    assert w.job(blocker).status is DONE


# ------------------------------------------------------------------- close, cancel


def test_close_while_jobs_queued_drains_with_priority_then_closes_without_ittl() -> None:
    w = World()
    s = w.open_session()
    w.submit(s)
    first = w.start()
    other = w.submit()
    tail = [w.submit(s), w.submit(s)]
    w.scheduler.close_session(s)
    session = w.session(s)
    assert not session.accepting_jobs
    assert session.state is ACTIVE
    assert session.status() == "In progress, not accepting new jobs"
    with pytest.raises(FailedPrecondition):
        w.submit(s)
    w.clock.advance(5)
    w.scheduler.finish(first, DONE, usage=5)  # type: ignore[arg-type]
    assert w.run(5) == tail[0]
    assert w.run(5) == tail[1]
    session = w.session(s)
    assert session.state is CLOSED
    assert session.close_reason == "closed"
    assert session.closed_at == w.job(tail[1]).finished
    assert w.start() == other  # no ITTL wait after the drain


def test_close_with_nothing_pending_closes_at_once_and_frees_the_qpu() -> None:
    w = World()
    s = w.open_session()
    w.submit(s)
    w.run(10)
    other = w.submit()
    w.advance(5)
    w.scheduler.close_session(s)
    assert w.session(s).state is CLOSED
    assert w.start() == other


def test_cancel_while_one_runs() -> None:
    w = World()
    s = w.open_session()
    w.submit(s)
    running = w.start()
    queued = w.submit(s)
    other = w.submit()
    w.scheduler.cancel_session(s)
    session = w.session(s)
    assert session.state is CLOSED
    assert session.close_reason == "cancelled"
    assert w.job(queued).status is CANCELLED
    assert w.job(running).status is RUNNING  # type: ignore[arg-type]
    w.clock.advance(5)
    w.scheduler.finish(running, DONE, usage=5)  # type: ignore[arg-type]
    assert w.job(running).status is DONE  # type: ignore[arg-type]
    assert w.start() == other


def test_cancel_after_close_cancels_the_queued_tail() -> None:
    w = World()
    s = w.open_session()
    w.submit(s)
    running = w.start()
    tail = w.submit(s)
    w.scheduler.close_session(s)
    w.scheduler.cancel_session(s)
    assert w.job(tail).status is CANCELLED
    assert w.session(s).close_reason == "cancelled"
    assert w.job(running).status is RUNNING  # type: ignore[arg-type]


def test_closing_a_closed_session_changes_nothing() -> None:
    w = World()
    s = w.open_session()
    w.scheduler.cancel_session(s)
    before = len(w.changes)
    assert w.scheduler.close_session(s).close_reason == "cancelled"
    assert w.scheduler.cancel_session(s).close_reason == "cancelled"
    assert len(w.changes) == before


# -------------------------------------------------------------------- idle timeout


def test_idle_timeout_closes_an_open_session_with_no_job() -> None:
    w = World()
    s = w.open_session()
    w.advance(IDLE_TIMEOUT - 1)
    assert w.session(s).state is OPEN
    w.advance(1)
    session = w.session(s)
    assert session.state is CLOSED
    assert session.close_reason == "idle_timeout"
    assert w.rel(session.closed_at) == IDLE_TIMEOUT


def test_idle_timeout_spares_an_open_session_whose_job_is_queued() -> None:
    w = World()
    w.submit()
    s = w.open_session()
    mine = w.submit(s)
    w.run(IDLE_TIMEOUT * 2)
    assert w.session(s).state is OPEN
    assert w.start() == mine


def test_idle_timeout_restarts_when_the_only_queued_job_is_cancelled() -> None:
    w = World()
    w.submit()
    s = w.open_session()
    mine = w.submit(s)
    w.advance(1000)
    w.scheduler.cancel_job(mine)
    w.advance(IDLE_TIMEOUT - 1)
    assert w.session(s).state is OPEN
    w.advance(1)
    assert w.session(s).close_reason == "idle_timeout"


# ------------------------------------------------------------ concurrency, backends


def test_session_jobs_run_in_submission_order_and_keep_their_tags() -> None:
    w = World()
    s = w.open_session()
    submitted = [
        w.submit(s, tags=("cobyla",)) if i % 2 == 0 else w.submit(s, tags=("nelder-mead",))
        for i in range(6)
    ]
    ran = [w.run(1) for _ in submitted]
    assert ran == submitted
    assert [w.job(j).tags for j in ran[:2]] == [["cobyla"], ["nelder-mead"]]
    assert [w.job(j).seq for j in ran] == sorted(w.job(j).seq for j in ran)


def test_several_sessions_and_job_mode_clients_on_several_backends() -> None:
    w = World(backends=("qpu_a", "qpu_b"))
    a1, a2 = w.open_session(backend="qpu_a"), w.open_session(backend="qpu_a")
    b1 = w.open_session(backend="qpu_b", instance="bob")
    x_a = w.submit(backend="qpu_a", instance="carol")
    j_a1 = w.submit(a1)
    j_a2 = w.submit(a2)
    j_b1 = w.submit(b1, backend="qpu_b", instance="bob")
    x_b = w.submit(backend="qpu_b", instance="carol")

    assert w.start("qpu_a") == x_a
    assert w.start("qpu_b") == j_b1  # each backend has its own QPU and queue
    assert w.start("qpu_a") is None  # one job at a time
    w.clock.advance(2)
    w.scheduler.finish(x_a, DONE, usage=2)
    w.scheduler.finish(j_b1, DONE, usage=2)
    assert w.start("qpu_a") == j_a1
    assert w.start("qpu_b") is None  # b1 holds qpu_b for its ITTL
    w.clock.advance(2)
    w.scheduler.finish(j_a1, DONE, usage=2)
    more_a1 = w.submit(a1)
    assert w.start("qpu_a") == more_a1  # a1's job overtakes a2's queued first job
    w.clock.advance(2)
    w.scheduler.finish(more_a1, DONE, usage=2)
    w.advance(60)
    assert w.start("qpu_b") == x_b  # b1 went inactive at 62 s
    assert w.start("qpu_a") == j_a2  # a1 went inactive; a2 starts through the normal queue
    assert w.session(a2).state is ACTIVE
    assert w.session(a1).state is INACTIVE
    assert w.session(b1).state is INACTIVE


def test_a_job_on_another_backend_than_its_session_is_invalid() -> None:
    w = World(backends=("qpu_a", "qpu_b"))
    s = w.open_session(backend="qpu_a")
    with pytest.raises(InvalidArgument) as raised:
        w.submit(s, backend="qpu_b")
    assert raised.value.field == "backend"


def test_an_empty_backend_means_the_sessions_backend() -> None:
    w = World(backends=("qpu_a", "qpu_b"))
    s = w.open_session(backend="qpu_b")
    assert w.job(w.submit(s, backend="")).backend == "qpu_b"


def test_another_instances_session_is_not_found() -> None:
    w = World()
    s = w.open_session(instance="alice")
    with pytest.raises(NotFound) as raised:
        w.submit(s, instance="mallory")
    assert raised.value.field == "session_id"


def test_unknown_backend_is_not_found() -> None:
    w = World()
    with pytest.raises(NotFound) as raised:
        w.open_session(backend="ibm_nowhere")
    assert raised.value.field == "backend"
    with pytest.raises(NotFound):
        w.submit(backend="ibm_nowhere")


def test_retrying_a_submit_with_the_same_request_id_returns_the_first_job() -> None:
    w = World()
    first = w.submit(request_id="r-1")
    assert w.submit(request_id="r-1") == first
    assert w.submit(request_id="r-1", instance="bob") != first
    assert w.scheduler.queued("qpu_a") == 2


# ------------------------------------------------------------------------ plans


def test_open_plan_refuses_sessions_but_runs_batch_and_job_mode() -> None:
    w = World()
    with pytest.raises(PermissionDenied) as raised:
        w.open_session(plan=OPEN_PLAN)
    assert raised.value.field == "mode"
    assert "Open Plan runs only job and batch mode" in str(raised.value)
    batch = w.open_session(mode=BATCH, plan=OPEN_PLAN)
    batch_job = w.submit(batch)
    assert w.run(1) == batch_job
    job_mode = w.submit()
    assert w.run(1) == job_mode


def test_max_ttl_must_lie_within_the_plans_range() -> None:
    w = World()
    for outside in (299, 8 * 3600 + 1):
        with pytest.raises(InvalidArgument) as raised:
            w.open_session(max_ttl=outside)
        assert raised.value.field == "max_ttl"
        assert "5m" in str(raised.value) and "8h" in str(raised.value)
    assert w.session(w.open_session(max_ttl=300)).max_ttl == 300
    assert w.session(w.open_session()).max_ttl == PREMIUM.max_ttl


# ------------------------------------------------------------------------ batches


def test_batch_jobs_go_through_the_normal_queue_with_no_hold() -> None:
    w = World()
    b = w.open_session(mode=BATCH)
    first = w.submit(b)
    other = w.submit()
    later = w.submit(b)
    assert w.run(5) == first
    assert w.run(5) == other  # no priority, no interactive hold
    assert w.run(5) == later
    batch = w.session(b)
    assert batch.interactive_ttl == 0
    assert batch.state is INACTIVE
    assert [t.state for t in batch.transitions] == [OPEN, ACTIVE, INACTIVE]


def test_a_batch_fed_one_job_at_a_time_keeps_its_first_and_newest_transitions() -> None:
    """Each job makes such a batch active then inactive; every change of the session is
    stored and published whole, so its transitions must not grow with its jobs."""
    w = World()
    b = w.open_session(mode=BATCH)
    for _ in range(MAX_TRANSITIONS):
        w.submit(b)
        w.run(1)
    transitions = w.session(b).transitions
    assert len(transitions) == MAX_TRANSITIONS
    assert transitions[0].state is OPEN
    assert [t.state for t in transitions[-2:]] == [ACTIVE, INACTIVE]
    times = [t.time for t in transitions]
    assert times == sorted(times)
    assert w.rel(times[-1]) == MAX_TRANSITIONS  # the newest: the last job's end (1 s each)


def test_batch_max_ttl_fails_its_queued_jobs() -> None:
    w = World()
    b = w.open_session(mode=BATCH, max_ttl=300)
    w.submit(b)
    running = w.start()
    queued = w.submit(b)
    w.advance(300)
    assert w.session(b).close_reason == "max_ttl"
    assert w.job(queued).status is ERROR
    assert "max TTL" in (w.job(queued).error or "")
    assert w.job(running).status is RUNNING  # type: ignore[arg-type]


def test_batch_close_drains_then_closes() -> None:
    w = World()
    b = w.open_session(mode=BATCH)
    jobs = [w.submit(b), w.submit(b)]
    w.scheduler.close_session(b)
    assert [w.run(1), w.run(1)] == jobs
    assert w.session(b).close_reason == "closed"


# ------------------------------------------------------------------------- usage


def test_session_usage_counts_held_wall_time_including_idle_ittl() -> None:
    w = World()
    s = w.open_session()
    w.submit(s)
    w.run(10)
    w.advance(60)  # the ITTL window passes: inactive at 70 s
    assert w.session(s).usage == 70
    w.advance(1000)  # inactive time does not count
    w.submit(s)
    w.run(10)
    w.scheduler.close_session(s)  # nothing pending: closes at once
    assert w.session(s).usage == 80


def test_session_usage_counts_a_job_running_past_max_ttl() -> None:
    w = World()
    s = w.open_session(max_ttl=300)
    w.submit(s)
    running = w.start()
    w.advance(300)
    assert w.session(s).usage == 300
    w.clock.advance(40)
    w.scheduler.finish(running, DONE, usage=340)  # type: ignore[arg-type]
    assert w.session(s).usage == 340


def test_batch_usage_is_its_jobs_qpu_time() -> None:
    w = World()
    b = w.open_session(mode=BATCH)
    w.submit(b)
    w.submit(b)
    job = w.start()
    w.clock.advance(10)
    w.scheduler.finish(job, DONE, usage=3.5)  # type: ignore[arg-type]
    w.advance(100)
    job = w.start()
    w.clock.advance(10)
    w.scheduler.finish(job, ERROR, usage=1.5, error="boom")  # type: ignore[arg-type]
    assert w.session(b).usage == 5.0


# ---------------------------------------------------------------------- jobs


def test_cancelling_a_queued_job_ends_it_at_once() -> None:
    w = World()
    w.submit()
    queued = w.submit()
    w.scheduler.cancel_job(queued)
    assert w.job(queued).status is CANCELLED
    assert w.scheduler.queued("qpu_a") == 1


def test_cancelling_a_running_job_lets_it_finish_and_ends_it_cancelled() -> None:
    w = World()
    w.submit()
    running = w.start()
    assert w.scheduler.cancel_job(running).cancel_requested  # type: ignore[arg-type]
    assert w.job(running).status is RUNNING  # type: ignore[arg-type]
    w.clock.advance(3)
    finished = w.scheduler.finish(running, DONE, usage=3)  # type: ignore[arg-type]
    assert finished.status is CANCELLED
    with pytest.raises(FailedPrecondition):
        w.scheduler.cancel_job(running)  # type: ignore[arg-type]


def test_cancelling_the_last_queued_job_of_a_closing_session_closes_it() -> None:
    w = World()
    w.submit()
    s = w.open_session()
    mine = w.submit(s)
    w.scheduler.close_session(s)
    assert w.session(s).state is OPEN
    w.scheduler.cancel_job(mine)
    assert w.session(s).close_reason == "closed"


def test_jobs_record_created_started_finished_usage_and_attempts() -> None:
    w = World()
    job_id = w.submit()
    w.advance(2)
    w.run(7)
    job = w.job(job_id)
    assert (w.rel(job.created), w.rel(job.started), w.rel(job.finished)) == (0, 2, 9)
    assert job.usage == 7
    assert job.attempts == 1


# ------------------------------------------------------------ changes and timers


def test_every_change_is_reported_once_in_order_after_it_happens() -> None:
    w = World()
    s = w.open_session()
    j = w.submit(s)
    w.run(10)
    w.advance(60)
    w.scheduler.close_session(s)
    summary = [
        (
            c.kind,
            str(c.record.status if isinstance(c.record, Job) else c.record.state),
            w.rel(c.time),
        )
        for c in w.changes
    ]
    assert summary == [
        ("session", "open", 0),
        ("job", "QUEUED", 0),
        ("job", "RUNNING", 0),
        ("session", "active", 0),
        ("job", "DONE", 10),
        ("session", "active", 10),  # last_job_completed recorded
        ("session", "inactive", 70),
        ("session", "closed", 70),
    ]
    assert w.changes[4].record.id == j
    snapshot = w.changes[0].record
    assert isinstance(snapshot, Session) and snapshot.state is OPEN  # snapshots never change


def test_next_deadline_tells_the_driver_when_to_poll() -> None:
    w = World()
    assert w.scheduler.next_deadline() is None
    s = w.open_session(max_ttl=600)
    assert w.scheduler.next_deadline() == w.t0 + IDLE_TIMEOUT
    w.submit(s)
    assert w.scheduler.next_deadline() is None
    w.run(10)
    assert w.scheduler.next_deadline() == w.t0 + 70  # the ITTL window
    w.advance(60)
    assert w.scheduler.next_deadline() == w.t0 + 600  # max TTL from the first start


# ------------------------------------------------------------------------ restore


def restart(w: World) -> World:
    """A new scheduler over the same clock, restored from the last snapshots."""
    sessions = {c.record.id: c.record for c in w.changes if isinstance(c.record, Session)}
    jobs = {c.record.id: c.record for c in w.changes if isinstance(c.record, Job)}
    fresh = World.__new__(World)
    fresh.clock, fresh.t0, fresh.changes = w.clock, w.t0, []
    fresh._ids = w._ids
    fresh.scheduler = Scheduler(w.clock, ("qpu_a",), IDLE_TIMEOUT, fresh.changes.append)
    fresh.scheduler.restore(list(sessions.values()), list(jobs.values()))  # type: ignore[arg-type]
    return fresh


def test_restore_reruns_the_running_job_first_and_keeps_queue_order() -> None:
    w = World()
    s = w.open_session()
    w.submit(s)
    w.run(5)
    job_mode = [w.submit(), w.submit()]
    running_job = w.submit(s)
    assert w.start() == running_job  # the session job overtakes the job-mode jobs
    w.clock.advance(3)
    w = restart(w)
    requeued = w.job(running_job)
    assert requeued.status is QUEUED and requeued.attempts == 1
    assert [c.record.id for c in w.changes] == [running_job]
    assert w.run(2) == running_job
    assert w.job(running_job).attempts == 2
    w.advance(60)  # the session still held the QPU: its ITTL window passes first
    assert [w.run(1), w.run(1)] == job_mode
    assert w.job(w.submit()).seq > w.job(running_job).seq  # submission order continues


def test_restore_resumes_an_active_session_in_its_ittl_window() -> None:
    w = World()
    s = w.open_session()
    w.submit(s)
    w.run(5)
    other = w.submit()
    w.clock.advance(20)
    w = restart(w)
    assert w.start() is None  # still held for the session
    assert w.scheduler.next_deadline() == w.t0 + 65
    late = w.submit(s)
    assert w.start() == late
    assert w.job(other).status is QUEUED


def test_restore_closes_a_session_whose_max_ttl_passed_while_down() -> None:
    w = World()
    s = w.open_session(max_ttl=300)
    w.submit(s)
    w.run(5)
    queued = w.submit(s)
    blocker = w.open_session()
    w.clock.advance(1000)  # the server is down past the max TTL
    w = restart(w)
    session = w.session(s)
    assert session.state is CLOSED
    assert session.close_reason == "max_ttl"
    assert w.rel(session.closed_at) == 300
    assert w.job(queued).status is ERROR
    assert "max TTL" in (w.job(queued).error or "")
    assert w.session(blocker).state is OPEN  # its idle timeout (30 min) has not passed


def test_restore_reruns_a_job_that_was_running_when_max_ttl_passed_while_down() -> None:
    w = World()
    s = w.open_session(max_ttl=300)
    w.submit(s)
    w.run(5)
    earlier = w.submit()
    running_job = w.submit(s)
    assert w.start() == running_job
    w.clock.advance(1000)  # the server is down past the max TTL while the job ran
    w = restart(w)
    assert w.session(s).close_reason == "max_ttl"
    assert w.job(running_job).status is QUEUED  # it was running: it runs to completion
    assert w.run(5) == running_job  # ahead of the job-mode job queued before it
    assert w.job(running_job).status is DONE
    assert w.run(5) == earlier


# ------------------------------------------------------------- a change the store refused


def test_a_job_whose_change_could_not_be_stored_ends_in_error_in_any_state() -> None:
    """Scheduler.fail_unstored: a queued job leaves its queue in ERROR (the next one starts),
    a running one ends ERROR when its execution finishes, even DONE, and a DONE one (its
    result was lost) becomes ERROR with one more change; the same reason twice changes
    nothing."""
    w = World()
    running, queued = w.submit(), w.submit()
    assert w.start() == running
    w.scheduler.fail_unstored(queued, "no room")
    w.scheduler.fail_unstored(running, "no room")
    assert (w.job(queued).status, w.job(queued).error) == (ERROR, "no room")
    assert w.job(running).status is RUNNING
    w.scheduler.finish(running, DONE, usage=1.0)
    assert (w.job(running).status, w.job(running).error) == (ERROR, "no room")

    done = w.submit()
    w.run(1.0)
    assert w.job(done).status is DONE
    before = len(w.changes)
    w.scheduler.fail_unstored(done, "result lost")
    assert (w.job(done).status, w.job(done).error) == (ERROR, "result lost")
    assert len(w.changes) == before + 1
    w.scheduler.fail_unstored(done, "result lost")
    assert len(w.changes) == before + 1
    w.scheduler.fail_unstored("never-seen", "anything")  # not held: nothing to do


def test_retention_forgets_each_instances_oldest_closed_sessions_that_hold_no_job() -> None:
    """forget_sessions(keep_newest=2): per instance, closed sessions beyond the newest two
    go, unless a job of theirs is still queued or running; open ones always stay, and one
    instance's sessions never make another's go."""
    w = World()
    alice = [w.open_session(BATCH) for _ in range(4)]
    bob = w.open_session(BATCH, instance="bob")
    busy = w.submit(alice[0])  # alice's oldest still holds a queued job
    for session_id in alice[:3]:
        w.scheduler.close_session(session_id)
    w.scheduler.close_session(bob)
    assert w.scheduler.open_sessions_of("alice") == 2  # alice[3], and alice[0] draining
    assert w.scheduler.forget_sessions(keep_newest=2, closed_before=None) == [alice[1]]
    assert [s.id for s in w.scheduler.sessions_of("alice")] == [alice[0], alice[2], alice[3]]
    assert [s.id for s in w.scheduler.sessions_of("bob")] == [bob]
    w.run(1.0)
    assert w.job(busy).status is DONE
    assert w.scheduler.forget_sessions(keep_newest=2, closed_before=None) == [alice[0]]
    assert w.scheduler.open_sessions_of("alice") == 1
