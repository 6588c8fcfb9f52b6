"""DeleteJob and ``RuntimeService.delete_job()``: a deleted job and its result are gone from
every read; an unfinished job is cancelled first (a queued one at once, a running one
stopped), then deleted; another instance's job answers NOT_FOUND and stays."""

from __future__ import annotations

import time
import uuid

import grpc
import pytest
from qiskit import QuantumCircuit

from qsession import RuntimeJobNotFound, RuntimeService, SamplerV2
from qsession.v1 import job_pb2
from tests.conftest import base_config, start_server
from tests.e2e.conftest import RawClient

HOLD = 60.0  # seconds the slow backend holds each job RUNNING: far longer than any delete


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server with ideal_24 and "slow" (ideal_24 holding each job RUNNING for HOLD s)."""
    config = base_config(
        tmp_path_factory.mktemp("delete"),
        backends=[
            {"name": "ideal_24", "profile": "ideal_24"},
            {"name": "slow", "profile": "ideal_24", "min_job_duration": f"{HOLD:g}s"},
        ],
    )
    with start_server(config) as handle:
        yield handle


@pytest.fixture(scope="module")
def service(server) -> RuntimeService:
    return RuntimeService(url=server.address, token=server.token)


@pytest.fixture(scope="module")
def raw(server) -> RawClient:
    return RawClient(server)


def one() -> QuantumCircuit:
    circuit = QuantumCircuit(1)
    circuit.x(0)
    circuit.measure_all()
    return circuit


def run(service: RuntimeService, backend: str, tag: str = ""):
    sampler = SamplerV2(mode=service.backend(backend))
    sampler.options.environment.job_tags = [tag or uuid.uuid4().hex]
    return sampler.run([one()], shots=8)


def wait_for(job, status: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while job.status() != status:
        assert time.monotonic() < deadline, f"job never {status}"
        time.sleep(0.05)


def grpc_code(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as failed:
        call()
    return failed.value.code()


def states_watched(raw: RawClient, job) -> list[int]:
    """The states of every retained event of the job, oldest first, up to CANCELLED (the
    job's unique tag selects them: an id no longer names a job to watch)."""
    stream = raw.jobs.WatchJobs(
        job_pb2.WatchJobsRequest(after_revision=0, tags=job.tags),
        metadata=raw.metadata,
        timeout=30,
    )
    states = []
    try:
        for event in stream:
            states.append(event.job.state)
            if event.job.state == job_pb2.Job.STATE_CANCELLED:
                return states
    finally:
        stream.cancel()
    return states


def test_a_deleted_job_and_its_result_are_gone_over_grpc_and_the_sdk(service, raw):
    tag = uuid.uuid4().hex
    job = run(service, "ideal_24", tag)
    job.result()
    service.delete_job(job.job_id())
    with pytest.raises(RuntimeJobNotFound):
        service.job(job.job_id())
    assert service.jobs(job_tags=[tag]) == []
    for call in (
        lambda: raw.jobs.GetJob(job_pb2.GetJobRequest(id=job.job_id()), metadata=raw.metadata),
        lambda: list(
            raw.jobs.GetJobResult(
                job_pb2.GetJobResultRequest(id=job.job_id()), metadata=raw.metadata
            )
        ),
    ):
        assert grpc_code(call) == grpc.StatusCode.NOT_FOUND
    listed = raw.jobs.ListJobs(job_pb2.ListJobsRequest(tags=[tag]), metadata=raw.metadata)
    assert list(listed.jobs) == []


def test_deleting_a_deleted_or_unknown_job_is_not_found(service, raw):
    job = run(service, "ideal_24")
    job.result()
    service.delete_job(job.job_id())
    with pytest.raises(RuntimeJobNotFound):
        service.delete_job(job.job_id())
    code = grpc_code(
        lambda: raw.jobs.DeleteJob(job_pb2.DeleteJobRequest(id="nope"), metadata=raw.metadata)
    )
    assert code == grpc.StatusCode.NOT_FOUND


def test_another_instances_job_is_not_found_and_stays(server, service, raw):
    job = run(service, "ideal_24")
    job.result()
    student = RuntimeService(url=server.address, token=server.open_token)
    with pytest.raises(RuntimeJobNotFound):
        student.delete_job(job.job_id())
    other = RawClient(server, server.open_token)
    code = grpc_code(
        lambda: other.jobs.DeleteJob(
            job_pb2.DeleteJobRequest(id=job.job_id()), metadata=other.metadata
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND
    assert service.job(job.job_id()).status() == "DONE"
    assert job.result()[0].data.meas.get_counts() == {"1": 8}


def test_a_queued_job_is_cancelled_then_deleted_and_the_running_one_runs_on(service, raw):
    running = run(service, "slow")
    wait_for(running, "RUNNING")
    queued = run(service, "slow")
    assert queued.status() == "QUEUED"
    service.delete_job(queued.job_id())
    with pytest.raises(RuntimeJobNotFound):
        service.job(queued.job_id())
    assert states_watched(raw, queued)[-1] == job_pb2.Job.STATE_CANCELLED
    assert running.status() == "RUNNING"
    service.delete_job(running.job_id())  # frees the slow backend for the next test


def test_a_running_job_is_stopped_then_deleted_in_one_call(service, raw):
    job = run(service, "slow")
    wait_for(job, "RUNNING")
    started = time.monotonic()
    service.delete_job(job.job_id())
    assert time.monotonic() - started < HOLD / 4  # stopped, not waited for
    with pytest.raises(RuntimeJobNotFound):
        service.job(job.job_id())
    assert states_watched(raw, job)[-2:] == [
        job_pb2.Job.STATE_RUNNING,
        job_pb2.Job.STATE_CANCELLED,
    ]
    after = run(service, "slow")  # the backend is free again: the next job starts at once
    wait_for(after, "RUNNING", timeout=HOLD / 4)
    service.delete_job(after.job_id())
