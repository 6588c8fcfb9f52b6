"""RunJob: submit a job and receive its result on one stream (one call per job, not two).

The first message is CreateJob's answer, once the job is stored; the result's chunks follow
when the job is DONE. The SDK's ``run`` uses it and keeps the stream for ``result()``, at most
``HELD_RESULT_STREAMS`` at once, falling back to CreateJob when the instance has no stream
left; a stream nobody reads is closed when its job object goes.
"""

from __future__ import annotations

import gc
import hashlib

import grpc
import pytest
from qiskit import QuantumCircuit
from qiskit.primitives.containers.sampler_pub import SamplerPub

from qsession import RuntimeService, SamplerV2
from qsession.client.errors import RuntimeInvalidStateError
from qsession.runtime import job_seed
from qsession.v1 import job_pb2
from qsession.wire import decode_result, encode_sampler_pub
from tests.conftest import base_config, start_server
from tests.e2e.conftest import RawClient


def flip(qubit: int = 0) -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.x(qubit)
    circuit.measure_all()
    return circuit


def request(backend: str = "ideal_24", shots: int = 64, **fields) -> job_pb2.CreateJobRequest:
    return job_pb2.CreateJobRequest(
        backend=backend,
        program=job_pb2.PROGRAM_SAMPLER,
        sampler_pubs=[encode_sampler_pub(SamplerPub.coerce((flip(), None, shots)))],
        options=job_pb2.JobOptions(seed_simulator=3),
        **fields,
    )


def result_bytes(responses) -> bytes:
    """The result carried by a stream's GetJobResultResponse chunks, its digest checked."""
    chunks = list(responses)
    data = b"".join(chunk.chunk for chunk in chunks)
    assert len(data) == chunks[0].total_size
    assert hashlib.sha256(data).hexdigest() == chunks[0].sha256
    return data


def test_run_job_acknowledges_the_stored_job_then_streams_its_result(server):
    client = RawClient(server)
    stream = client.jobs.RunJob(request(tags=["run-job"]), metadata=client.metadata, timeout=60)
    first = next(stream)
    assert first.WhichOneof("response") == "created"
    job = first.created.job
    assert job.state in (job_pb2.Job.STATE_QUEUED, job_pb2.Job.STATE_RUNNING)
    assert first.created.revision > 0
    rest = list(stream)
    assert {message.WhichOneof("response") for message in rest} == {"result"}
    assert rest[0].result.job.id == job.id
    assert rest[0].result.job.state == job_pb2.Job.STATE_DONE
    data = result_bytes(message.result for message in rest)
    assert data == result_bytes(
        client.jobs.GetJobResult(job_pb2.GetJobResultRequest(id=job.id), metadata=client.metadata)
    )
    counts = decode_result(job_pb2.JobResult.FromString(data))[0].data.meas.get_counts()
    assert counts == {"01": 64}


def test_run_job_refuses_bad_input_as_create_job_does_and_creates_nothing(server):
    client = RawClient(server)
    bad = request(tags=["run-job-bad"])
    del bad.sampler_pubs[:]
    with pytest.raises(grpc.RpcError) as created:
        client.jobs.CreateJob(bad, metadata=client.metadata)
    with pytest.raises(grpc.RpcError) as ran:
        next(client.jobs.RunJob(bad, metadata=client.metadata, timeout=60))
    assert ran.value.code() == created.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert ran.value.details() == created.value.details()
    assert "sampler_pubs" in ran.value.details()
    listed = client.jobs.ListJobs(
        job_pb2.ListJobsRequest(tags=["run-job-bad"]), metadata=client.metadata
    )
    assert list(listed.jobs) == []


def test_an_unseeded_job_streams_the_shots_of_its_ids_seed_and_stores_the_same(server):
    """RunJob sends the result as soon as the job is DONE, while its DONE commits; it can,
    because a job without seed_simulator runs with the seed derived from its id (on every
    attempt, so a run again after a crash gives the delivered result)."""
    client = RawClient(server)
    coin = QuantumCircuit(8)
    coin.h(range(8))
    coin.measure_all()
    pub = encode_sampler_pub(SamplerPub.coerce((coin, None, 64)))
    unseeded = job_pb2.CreateJobRequest(
        backend="ideal_24", program=job_pb2.PROGRAM_SAMPLER, sampler_pubs=[pub]
    )
    responses = list(client.jobs.RunJob(unseeded, metadata=client.metadata, timeout=60))
    job_id = responses[0].created.job.id
    streamed = result_bytes(message.result for message in responses[1:])
    assert streamed == result_bytes(
        client.jobs.GetJobResult(job_pb2.GetJobResultRequest(id=job_id), metadata=client.metadata)
    )
    seeded = job_pb2.CreateJobRequest()
    seeded.CopyFrom(unseeded)
    seeded.options.seed_simulator = job_seed(job_id)
    again = list(client.jobs.RunJob(seeded, metadata=client.metadata, timeout=60))
    shots = decode_result(job_pb2.JobResult.FromString(streamed))[0].data.meas
    same = decode_result(job_pb2.JobResult.FromString(result_bytes(m.result for m in again[1:])))
    assert len(shots.get_counts()) > 8  # random shots (64 of 256 outcomes)...
    assert (same[0].data.meas.array == shots.array).all()  # ...drawn from its id's seed


def test_run_job_retried_with_its_request_id_follows_the_job_the_first_call_created(server):
    client = RawClient(server)
    first = list(client.jobs.RunJob(request(request_id="run-job-retry"), metadata=client.metadata))
    again = list(client.jobs.RunJob(request(request_id="run-job-retry"), metadata=client.metadata))
    assert again[0].created.job.id == first[0].created.job.id
    assert result_bytes(m.result for m in again[1:]) == result_bytes(m.result for m in first[1:])


def test_the_sdk_gets_each_result_once_whatever_order_they_are_read_in(service):
    sampler = SamplerV2(mode=service.backend("ideal_24"))
    jobs = [sampler.run([(flip(qubit), None, 32)]) for qubit in (0, 1, 0)]
    expected = ["01", "10", "01"]
    for index in (2, 0, 1):
        assert jobs[index].result()[0].data.meas.get_counts() == {expected[index]: 32}
        assert jobs[index].status() == "DONE"


def test_once_result_returns_every_read_shows_the_job_done(service, server):
    """The result comes on RunJob as soon as the job is DONE, possibly before that is stored;
    reads wait for what is not stored yet, so none shows the job still running."""
    client = RawClient(server)
    sampler = SamplerV2(mode=service.backend("ideal_24"))
    for _ in range(20):  # each time, the reads race the DONE's commit
        job = sampler.run([(flip(), None, 16)])
        job.result()
        listed = client.jobs.ListJobs(
            job_pb2.ListJobsRequest(page_size=1), metadata=client.metadata
        ).jobs
        assert [(j.id, j.state) for j in listed] == [(job.job_id(), job_pb2.Job.STATE_DONE)]
        assert service.job(job.job_id()).status() == "DONE"


@pytest.fixture(scope="module")
def two_streams(tmp_path_factory):
    """A server whose instances may hold 2 streams, with a backend whose jobs take 60 s."""
    config = base_config(
        tmp_path_factory.mktemp("run_job"),
        limits={"max_streams_per_instance": 2},
        backends=[
            {"name": "ideal_24", "profile": "ideal_24"},
            {"name": "slow", "profile": "ideal_24", "min_job_duration": "60s"},
        ],
    )
    with start_server(config) as handle:
        yield handle


def test_a_job_that_does_not_end_done_ends_its_run_job_stream_and_result_says_why(two_streams):
    client = RawClient(two_streams)
    running = client.jobs.RunJob(request("slow"), metadata=client.metadata, timeout=60)
    queued = client.jobs.RunJob(request("slow"), metadata=client.metadata, timeout=60)
    ids = [next(running).created.job.id, next(queued).created.job.id]
    for job_id in reversed(ids):
        client.jobs.CancelJob(job_pb2.CancelJobRequest(id=job_id), metadata=client.metadata)
    for stream in (running, queued):
        with pytest.raises(grpc.RpcError) as ended:
            list(stream)
        assert ended.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "CANCELLED" in ended.value.details()

    service = RuntimeService(url=two_streams.address, token=two_streams.token)
    try:
        job = SamplerV2(mode=service.backend("slow")).run([(flip(), None, 8)])
        job.cancel()
        with pytest.raises(RuntimeInvalidStateError, match="cancelled"):
            job.result()
    finally:
        service.close()


def test_the_sdk_submits_past_the_instance_stream_limit_and_frees_unread_streams(two_streams):
    """Three jobs on an instance allowed 2 streams: the third is created with CreateJob. Once
    the unread jobs are dropped, their streams are closed: the instance has its 2 again."""
    client = RawClient(two_streams)
    service = RuntimeService(url=two_streams.address, token=two_streams.token)
    try:
        sampler = SamplerV2(mode=service.backend("slow"))
        jobs = [sampler.run([(flip(), None, 8)]) for _ in range(3)]
        ids = [job.job_id() for job in jobs]
        assert len(set(ids)) == 3
        del jobs, sampler
        gc.collect()
        streams = [
            client.jobs.RunJob(request("slow"), metadata=client.metadata, timeout=60)
            for _ in range(2)
        ]
        ids += [next(stream).created.job.id for stream in streams]  # both admitted
        for stream in streams:
            stream.cancel()
    finally:
        for job_id in reversed(ids):
            client.jobs.CancelJob(job_pb2.CancelJobRequest(id=job_id), metadata=client.metadata)
        service.close()
