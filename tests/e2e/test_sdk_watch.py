"""watch_jobs: an ordered, revisioned, resumable iterator of job state changes."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from qiskit import QuantumCircuit

from qsession import RuntimeService, SamplerV2, Session


@pytest.fixture(scope="module")
def service(server) -> RuntimeService:
    return RuntimeService(url=server.address, token=server.token)


def one() -> QuantumCircuit:
    circuit = QuantumCircuit(1)
    circuit.x(0)
    circuit.measure_all()
    return circuit


def run_tagged(service, tag: str, count: int = 1, mode=None):
    sampler = SamplerV2(
        mode=mode or service.backend("ideal_24"), options={"environment": {"job_tags": [tag]}}
    )
    jobs = [sampler.run([one()], shots=4) for _ in range(count)]
    for job in jobs:
        job.result()
    return jobs


def collect_until_done(watch, count: int, timeout: float = 30.0) -> list:
    events, done = [], 0
    deadline = time.monotonic() + timeout
    for event in watch:
        events.append(event)
        done += event.status == "DONE"
        if done == count:
            return events
        assert time.monotonic() < deadline
    return events


def test_a_job_goes_queued_running_done_with_increasing_revisions(service):
    tag = f"watch-{uuid.uuid4()}"
    (job,) = run_tagged(service, tag)
    with service.watch_jobs(tags=[tag], after_revision=0) as watch:
        events = collect_until_done(watch, 1)
    assert [e.status for e in events] == ["QUEUED", "RUNNING", "DONE"]
    assert {e.job_id for e in events} == {job.job_id()}
    revisions = [e.revision for e in events]
    assert revisions == sorted(set(revisions))
    assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)
    assert events[-1].job.result()[0].data.meas.num_shots == 4
    assert events[-1].tags == (tag,)


def test_a_watch_from_now_sees_jobs_submitted_after_it_starts(service):
    tag = f"watch-{uuid.uuid4()}"
    with service.watch_jobs(tags=[tag]) as watch:
        time.sleep(0.2)
        (job,) = run_tagged(service, tag)
        events = collect_until_done(watch, 1)
    assert events[-1].job_id == job.job_id() and events[-1].status == "DONE"


def test_resuming_after_a_revision_gives_the_later_events_once(service):
    tag = f"watch-{uuid.uuid4()}"
    run_tagged(service, tag, count=2)
    with service.watch_jobs(tags=[tag], after_revision=0) as watch:
        everything = collect_until_done(watch, 2)
    middle = everything[2].revision
    with service.watch_jobs(tags=[tag], after_revision=middle) as watch:
        rest = collect_until_done(watch, 2 - sum(e.status == "DONE" for e in everything[:3]))
    assert [e.revision for e in rest] == [e.revision for e in everything[3:]]


def test_a_session_filter_keeps_only_that_sessions_jobs(service):
    backend = service.backend("ideal_24")
    tag = f"watch-{uuid.uuid4()}"
    with Session(backend=backend) as session:
        (inside,) = run_tagged(service, tag, mode=session)
    run_tagged(service, tag)
    with service.watch_jobs(session_id=session.session_id, after_revision=0) as watch:
        events = collect_until_done(watch, 1)
    assert {e.job_id for e in events} == {inside.job_id()}
    assert {e.session_id for e in events} == {session.session_id}


def test_job_ids_filter_keeps_only_those_jobs(service):
    tag = f"watch-{uuid.uuid4()}"
    _first, second = run_tagged(service, tag, count=2)
    with service.watch_jobs(job_ids=[second.job_id()], after_revision=0) as watch:
        events = collect_until_done(watch, 1)
    assert {e.job_id for e in events} == {second.job_id()}


def test_close_from_another_thread_ends_a_waiting_iteration(service):
    watch = service.watch_jobs(tags=[f"never-{uuid.uuid4()}"])
    seen = []
    reader = threading.Thread(target=lambda: seen.extend(watch))
    reader.start()
    time.sleep(0.3)
    watch.close()
    reader.join(timeout=10)
    assert not reader.is_alive()
    assert seen == []
