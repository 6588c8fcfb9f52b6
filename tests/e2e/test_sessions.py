"""Issue 3 end to end: the documented session and batch rules, read off job timestamps.

The server runs with short timers: interactive TTL 1.5 s, each job held RUNNING at least
0.4 s (min_job_duration), idle timeout 3 s, and a plan that allows a 2 s max TTL.
"""

from __future__ import annotations

import time

import grpc
import pytest
from qiskit import QuantumCircuit

from qsession.v1 import job_pb2, session_pb2
from qsession.wire import from_timestamp
from tests.e2e.conftest import RawClient

ITTL = 1.5
JOB_TIME = 0.4
DEDICATED = session_pb2.Session.MODE_DEDICATED
BATCH = session_pb2.Session.MODE_BATCH


@pytest.fixture(scope="module")
def timed(tmp_path_factory):
    from tests.conftest import base_config, start_server

    config = base_config(
        tmp_path_factory.mktemp("sessions"),
        plans={
            "premium": {"interactive_ttl": f"{ITTL}s", "min_max_ttl": "1s"},
            "open": {"min_max_ttl": "1s"},
        },
        sessions={"idle_timeout": "3s"},
        backends=[{"name": "ideal_24", "profile": "ideal_24", "min_job_duration": f"{JOB_TIME}s"}],
    )
    with start_server(config) as handle:
        yield handle


@pytest.fixture
def lab(timed) -> RawClient:
    return RawClient(timed)


def tiny() -> list:
    circuit = QuantumCircuit(1)
    circuit.x(0)
    circuit.measure_all()
    return [(circuit, None, 16)]


def open_session(client: RawClient, mode=DEDICATED, max_ttl: str = "") -> session_pb2.Session:
    request = session_pb2.CreateSessionRequest(backend="ideal_24", mode=mode, max_ttl=max_ttl)
    return client.sessions.CreateSession(request, metadata=client.metadata).session


def get_session(client: RawClient, session_id: str) -> session_pb2.Session:
    return client.sessions.GetSession(
        session_pb2.GetSessionRequest(id=session_id), metadata=client.metadata
    ).session


def wait_for(predicate, timeout: float = 20.0, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not reached in time")


def started(job: job_pb2.Job) -> float:
    return from_timestamp(job.start_time)


def ended(job: job_pb2.Job) -> float:
    return from_timestamp(job.end_time)


def test_a_session_job_inside_the_window_overtakes_earlier_job_mode_jobs(lab):
    session = open_session(lab)
    first = lab.create_job(tiny(), session_id=session.id)
    wait_for(lambda: get_session(lab, session.id).state == session_pb2.Session.STATE_ACTIVE)
    others = [lab.create_job(tiny()) for _ in range(2)]
    lab.wait(first.id)
    second = lab.create_job(tiny(), session_id=session.id)
    second = lab.wait(second.id)
    others = [lab.wait(j.id) for j in others]
    assert all(started(second) < started(o) for o in others)
    lab.sessions.CloseSession(session_pb2.CloseSessionRequest(id=session.id), metadata=lab.metadata)


def test_after_the_window_the_session_is_inactive_and_queues_behind_earlier_jobs(lab):
    session = open_session(lab)
    lab.wait(lab.create_job(tiny(), session_id=session.id).id)
    wait_for(
        lambda: get_session(lab, session.id).state == session_pb2.Session.STATE_INACTIVE,
        timeout=ITTL + 5,
    )
    earlier = [lab.create_job(tiny()) for _ in range(2)]
    later = lab.wait(lab.create_job(tiny(), session_id=session.id).id)
    earlier = [lab.wait(j.id) for j in earlier]
    assert all(started(later) > started(e) for e in earlier)
    assert get_session(lab, session.id).state in (
        session_pb2.Session.STATE_ACTIVE,
        session_pb2.Session.STATE_INACTIVE,
    )
    lab.sessions.CloseSession(session_pb2.CloseSessionRequest(id=session.id), metadata=lab.metadata)


def test_max_ttl_fails_the_queued_tail_and_completes_the_running_job(lab):
    session = open_session(lab, max_ttl="2")
    jobs = [lab.create_job(tiny(), session_id=session.id) for _ in range(10)]
    finished = [lab.wait(j.id) for j in jobs]
    states = [j.state for j in finished]
    assert states[0] == job_pb2.Job.STATE_DONE
    assert job_pb2.Job.STATE_ERROR in states
    failed = [j for j in finished if j.state == job_pb2.Job.STATE_ERROR]
    assert all("max TTL" in j.error_message or "max_ttl" in j.error_message for j in failed)
    assert all(
        j.state == job_pb2.Job.STATE_DONE for j in finished[: states.index(job_pb2.Job.STATE_ERROR)]
    )
    closed = wait_for(
        lambda: (s := get_session(lab, session.id)).state == session_pb2.Session.STATE_CLOSED and s
    )
    assert closed.close_reason == "max_ttl" and not closed.accepting_jobs


def test_close_drains_queued_jobs_then_closes_without_the_interactive_wait(lab):
    session = open_session(lab)
    jobs = [lab.create_job(tiny(), session_id=session.id) for _ in range(3)]
    closing = lab.sessions.CloseSession(
        session_pb2.CloseSessionRequest(id=session.id), metadata=lab.metadata
    ).session
    assert not closing.accepting_jobs
    finished = [lab.wait(j.id) for j in jobs]
    assert all(j.state == job_pb2.Job.STATE_DONE for j in finished)
    closed = wait_for(
        lambda: (s := get_session(lab, session.id)).state == session_pb2.Session.STATE_CLOSED and s
    )
    assert from_timestamp(closed.close_time) - max(ended(j) for j in finished) < ITTL / 2
    with pytest.raises(grpc.RpcError) as info:
        lab.create_job(tiny(), session_id=session.id)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_cancel_cancels_queued_jobs_lets_the_running_one_finish_and_closes(lab):
    session = open_session(lab)
    jobs = [lab.create_job(tiny(), session_id=session.id) for _ in range(3)]
    wait_for(
        lambda: (
            lab.jobs.GetJob(job_pb2.GetJobRequest(id=jobs[0].id), metadata=lab.metadata).job.state
            == job_pb2.Job.STATE_RUNNING
        )
    )
    lab.sessions.CancelSession(
        session_pb2.CancelSessionRequest(id=session.id), metadata=lab.metadata
    )
    finished = [lab.wait(j.id) for j in jobs]
    assert finished[0].state == job_pb2.Job.STATE_DONE
    assert [j.state for j in finished[1:]] == [job_pb2.Job.STATE_CANCELLED] * 2
    closed = wait_for(
        lambda: (s := get_session(lab, session.id)).state == session_pb2.Session.STATE_CLOSED and s
    )
    assert closed.close_reason == "cancelled"


def test_the_open_plan_cannot_open_a_session_but_runs_batches_and_jobs(timed):
    student = RawClient(timed, token=timed.open_token)
    with pytest.raises(grpc.RpcError) as info:
        open_session(student)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "Open Plan" in info.value.details()
    batch = open_session(student, mode=BATCH)
    assert (
        student.wait(student.create_job(tiny(), session_id=batch.id).id).state
        == job_pb2.Job.STATE_DONE
    )
    assert student.wait(student.create_job(tiny()).id).state == job_pb2.Job.STATE_DONE


def test_a_session_with_no_job_closes_after_the_idle_timeout(lab):
    session = open_session(lab)
    assert session.state == session_pb2.Session.STATE_OPEN and not session.HasField("start_time")
    closed = wait_for(
        lambda: (s := get_session(lab, session.id)).state == session_pb2.Session.STATE_CLOSED and s,
        timeout=10,
    )
    assert closed.close_reason == "idle_timeout"


@pytest.mark.parametrize("max_ttl", ["abc", "5 parsecs", "1.5h", "-3", "9h"])
def test_a_bad_or_out_of_plan_max_ttl_is_invalid_argument(lab, max_ttl):
    with pytest.raises(grpc.RpcError) as info:
        open_session(lab, max_ttl=max_ttl)
    assert (
        info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "max_ttl" in info.value.details()
    )


def test_job_watch_resumes_after_a_revision_with_no_gap_and_no_duplicate(lab):
    tag = f"watch-{time.monotonic_ns()}"
    live = lab.jobs.WatchJobs(
        job_pb2.WatchJobsRequest(tags=[tag]), metadata=lab.metadata, timeout=60
    )
    jobs = [lab.create_job(tiny(), tags=[tag]) for _ in range(3)]
    seen = []
    for event in live:
        if event.job.id in {j.id for j in jobs}:
            seen.append(event)
        if sum(e.job.state == job_pb2.Job.STATE_DONE for e in seen) == 3:
            break
    live.cancel()
    revisions = [e.revision for e in seen]
    assert revisions == sorted(set(revisions))
    middle = revisions[len(revisions) // 2]
    resumed = lab.jobs.WatchJobs(
        job_pb2.WatchJobsRequest(after_revision=middle, job_ids=[j.id for j in jobs]),
        metadata=lab.metadata,
        timeout=5,
    )
    replay = []
    try:
        for event in resumed:
            replay.append(event.revision)
            if event.revision == revisions[-1]:
                break
    finally:
        resumed.cancel()
    assert replay == [r for r in revisions if r > middle]


def test_relist_then_watch_from_the_list_revision_misses_nothing(lab):
    tag = f"relist-{time.monotonic_ns()}"
    listed = lab.jobs.ListJobs(job_pb2.ListJobsRequest(tags=[tag]), metadata=lab.metadata)
    assert list(listed.jobs) == []
    job = lab.create_job(tiny(), tags=[tag])
    lab.wait(job.id)
    stream = lab.jobs.WatchJobs(
        job_pb2.WatchJobsRequest(after_revision=listed.revision, tags=[tag]),
        metadata=lab.metadata,
        timeout=10,
    )
    states = []
    for event in stream:
        states.append(event.job.state)
        if event.job.state == job_pb2.Job.STATE_DONE:
            break
    stream.cancel()
    assert states == [job_pb2.Job.STATE_QUEUED, job_pb2.Job.STATE_RUNNING, job_pb2.Job.STATE_DONE]
