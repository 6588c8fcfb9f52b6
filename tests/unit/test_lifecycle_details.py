"""Session.details() and Session.status() as qiskit-ibm-runtime presents them."""

from __future__ import annotations

from qsession.lifecycle.clock import VirtualClock
from qsession.lifecycle.model import (
    Job,
    JobStatus,
    Plan,
    Program,
    Session,
    SessionMode,
    SessionState,
    Transition,
)
from qsession.lifecycle.scheduler import Scheduler

PREMIUM = Plan("premium", interactive_ttl=60, max_ttl=28800, min_max_ttl=300, allows_dedicated=True)
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def scheduler_with_session(
    mode: SessionMode = SessionMode.DEDICATED,
) -> tuple[Scheduler, VirtualClock]:
    clock = VirtualClock(T0)
    scheduler = Scheduler(clock, ["ibm_torino"], 1800, lambda change: None)
    scheduler.create_session("be84569d", "alice", PREMIUM, "ibm_torino", mode, None)
    return scheduler, clock


def submit(scheduler: Scheduler, job_id: str) -> None:
    scheduler.submit(
        Job(
            id=job_id,
            instance="alice",
            backend="ibm_torino",
            program=Program.ESTIMATOR,
            session_id="be84569d",
        )
    )


def test_details_of_a_new_session_match_the_guides_example() -> None:
    scheduler, clock = scheduler_with_session()
    details = scheduler.session("be84569d").details(clock.now())
    assert details == {
        "id": "be84569d",
        "backend_name": "ibm_torino",
        "interactive_timeout": 60,
        "max_time": 28800,
        "active_timeout": 28800,
        "state": "open",
        "accepting_jobs": True,
        "last_job_started": None,
        "last_job_completed": None,
        "started_at": None,
        "closed_at": None,
        "activated_at": None,
        "mode": "dedicated",
        "usage_time": None,
        "timestamps": [
            {"status": "open", "accepting_jobs": True, "timestamp": "2023-11-14T22:13:20.000Z"}
        ],
    }
    assert isinstance(details["interactive_timeout"], int)


def test_active_timeout_counts_down_the_max_ttl_from_the_first_start() -> None:
    scheduler, clock = scheduler_with_session()
    clock.advance(100)  # creation does not start the max TTL clock
    submit(scheduler, "j1")
    scheduler.next_job("ibm_torino")
    clock.advance(250.5)
    details = scheduler.session("be84569d").details(clock.now())
    assert details["active_timeout"] == 28800 - 250.5
    assert details["started_at"] == "2023-11-14T22:15:00.000Z"
    assert details["last_job_started"] == details["activated_at"] == details["started_at"]
    assert details["usage_time"] == 250.5  # an active session's usage grows while it holds the QPU


def test_details_after_close_show_the_closed_state_and_no_time_left() -> None:
    scheduler, clock = scheduler_with_session()
    submit(scheduler, "j1")
    scheduler.next_job("ibm_torino")
    clock.advance(10)
    scheduler.finish("j1", JobStatus.DONE, usage=10)
    clock.advance(0.25)
    scheduler.close_session("be84569d")
    details = scheduler.session("be84569d").details(clock.now() + 5)
    assert details["state"] == "closed"
    assert details["accepting_jobs"] is False
    assert details["active_timeout"] == 0
    assert details["closed_at"] == "2023-11-14T22:13:30.250Z"
    assert details["last_job_completed"] == "2023-11-14T22:13:30.000Z"
    assert details["usage_time"] == 10.25
    assert [t["status"] for t in details["timestamps"]] == ["open", "active", "closed"]


def test_batch_details_report_batch_mode_no_interactive_timeout_and_qpu_usage() -> None:
    scheduler, clock = scheduler_with_session(SessionMode.BATCH)
    submit(scheduler, "j1")
    scheduler.next_job("ibm_torino")
    clock.advance(10)
    scheduler.finish("j1", JobStatus.DONE, usage=2.5)
    details = scheduler.session("be84569d").details(clock.now())
    assert (details["mode"], details["interactive_timeout"], details["usage_time"]) == (
        "batch",
        0,
        2.5,
    )


def session_in(state: SessionState, accepting_jobs: bool) -> Session:
    return Session(
        id="s",
        instance="alice",
        backend="ibm_torino",
        mode=SessionMode.DEDICATED,
        max_ttl=28800,
        interactive_ttl=60,
        state=state,
        accepting_jobs=accepting_jobs,
        transitions=[Transition(state, accepting_jobs, T0)],
    )


def test_status_strings_follow_qiskit_ibm_runtime() -> None:
    table = {
        (SessionState.OPEN, True): "Pending",
        (SessionState.OPEN, False): "Pending",
        (SessionState.INACTIVE, True): "Pending",
        (SessionState.INACTIVE, False): "Pending",
        (SessionState.ACTIVE, True): "In progress, accepting new jobs",
        (SessionState.ACTIVE, False): "In progress, not accepting new jobs",
        (SessionState.CLOSED, False): "Closed",
    }
    for (state, accepting), status in table.items():
        assert session_in(state, accepting).status() == status


def test_snapshots_are_independent_of_the_schedulers_records() -> None:
    scheduler, _ = scheduler_with_session()
    snapshot = scheduler.session("be84569d")
    snapshot.transitions.clear()
    snapshot.state = SessionState.CLOSED
    assert scheduler.session("be84569d").state is SessionState.OPEN
    assert len(scheduler.session("be84569d").transitions) == 1
