"""Issue 3/6, watch streams at scale: a thousand concurrent WatchJobs subscribers on one server
each get exactly the events of their own jobs, while a subscriber that never reads is cut off
with RESOURCE_EXHAUSTED (stalling nobody) and resumes from its last revision with no gap.

The server runs in its own process with ``[server] watch_buffer = 16``. The thousand subscribers
(one grpc.aio event loop, ten channels) each watch one of 50 batches of two jobs. The slow
subscriber watches everything; 200 job-mode jobs with ~25 KB of tags each give it far more
bytes than gRPC's flow-control window holds, so the server's buffer for it overflows.
"""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict

import grpc
import pytest
from qiskit import QuantumCircuit
from qiskit.primitives.containers.sampler_pub import SamplerPub

from qsession.v1 import job_pb2, job_pb2_grpc, session_pb2, session_pb2_grpc
from qsession.wire import encode_sampler_pub
from tests.conftest import PREMIUM_TOKEN, base_config
from tests.e2e.server_process import ServerProcess

SUBSCRIBERS = 1000
CHANNELS = 10
BATCHES = 50
JOBS_PER_BATCH = 2
BIG_JOBS = 200
BIG_TAGS = [(f"{k:03d}-" * 64)[:256] for k in range(100)]  # ~25 KB in every event of the job
WATCH_BUFFER = 16
METADATA = (("authorization", f"Bearer {PREMIUM_TOKEN}"),)
JOB_EVENTS = [job_pb2.Job.STATE_QUEUED, job_pb2.Job.STATE_RUNNING, job_pb2.Job.STATE_DONE]


def tiny_job(**fields) -> job_pb2.CreateJobRequest:
    circuit = QuantumCircuit(1)
    circuit.x(0)
    circuit.measure_all()
    pub = encode_sampler_pub(SamplerPub.coerce((circuit, None, 8)))
    return job_pb2.CreateJobRequest(program=job_pb2.PROGRAM_SAMPLER, sampler_pubs=[pub], **fields)


async def read_until(stream, count: int) -> list[job_pb2.WatchJobsResponse]:
    """The first ``count`` events of a stream."""
    events = []
    while len(events) < count:
        event = await stream.read()
        assert event is not grpc.aio.EOF
        events.append(event)
    return events


async def drain(stream) -> tuple[list[job_pb2.WatchJobsResponse], grpc.aio.AioRpcError | None]:
    """Everything a stream delivers until it ends with an error, or is quiet for 3 s."""
    events = []
    try:
        while True:
            event = await asyncio.wait_for(stream.read(), 3)
            if event is grpc.aio.EOF:
                return events, None
            events.append(event)
    except grpc.aio.AioRpcError as error:
        return events, error
    except TimeoutError:
        stream.cancel()
        return events, None


async def scenario(address: str) -> dict:
    channels = [grpc.aio.insecure_channel(address) for _ in range(CHANNELS)]
    jobs = [job_pb2_grpc.JobServiceStub(c) for c in channels]
    sessions = session_pb2_grpc.SessionServiceStub(channels[0])
    try:
        batches = [
            (
                await sessions.CreateSession(
                    session_pb2.CreateSessionRequest(
                        backend="ideal_24", mode=session_pb2.Session.MODE_BATCH
                    ),
                    metadata=METADATA,
                )
            ).session.id
            for _ in range(BATCHES)
        ]
        slow = jobs[0].WatchJobs(job_pb2.WatchJobsRequest(after_revision=0), metadata=METADATA)
        watchers = [
            jobs[i % CHANNELS].WatchJobs(
                job_pb2.WatchJobsRequest(after_revision=0, session_id=batches[i % BATCHES]),
                metadata=METADATA,
            )
            for i in range(SUBSCRIBERS)
        ]
        readers = [
            asyncio.create_task(read_until(w, JOBS_PER_BATCH * len(JOB_EVENTS))) for w in watchers
        ]

        limit = asyncio.Semaphore(16)

        async def create(i: int, request: job_pb2.CreateJobRequest) -> str:
            async with limit:
                return (await jobs[i % CHANNELS].CreateJob(request, metadata=METADATA)).job.id

        requests = [tiny_job(session_id=b) for b in batches for _ in range(JOBS_PER_BATCH)]
        requests += [tiny_job(backend="ideal_24", tags=BIG_TAGS) for _ in range(BIG_JOBS)]
        created = await asyncio.gather(*(create(i, r) for i, r in enumerate(requests)))
        received = await asyncio.wait_for(asyncio.gather(*readers), 120)

        history, _ = await drain(
            jobs[1].WatchJobs(job_pb2.WatchJobsRequest(after_revision=0), metadata=METADATA)
        )
        slow_events, slow_error = await drain(slow)
        resumed = []
        if slow_error is not None:
            after = int(re.search(r"after_revision=(\d+)", slow_error.details()).group(1))
            resumed, _ = await drain(
                jobs[2].WatchJobs(job_pb2.WatchJobsRequest(after_revision=after), metadata=METADATA)
            )
        return {
            "batches": batches,
            "created": created,
            "received": received,
            "history": history,
            "slow": slow_events,
            "slow_error": slow_error,
            "resumed": resumed,
        }
    finally:
        for channel in channels:
            await channel.close()


@pytest.fixture(scope="module")
def outcome(tmp_path_factory) -> dict:
    workdir = tmp_path_factory.mktemp("watch-scale")
    config = base_config(
        workdir / "data",
        server={"listen": "", "data_dir": str(workdir / "data"), "watch_buffer": WATCH_BUFFER},
        backends=[{"name": "ideal_24", "profile": "ideal_24"}],
    )
    with ServerProcess(workdir, config) as server:
        yield asyncio.run(scenario(server.address))


def test_a_thousand_subscribers_each_get_exactly_their_jobs_events_in_order(outcome):
    jobs_of = defaultdict(set)
    for job in (e.job for e in outcome["history"]):
        if job.session_id:
            jobs_of[job.session_id].add(job.id)
    assert len(outcome["received"]) == SUBSCRIBERS
    for i, events in enumerate(outcome["received"]):
        batch = outcome["batches"][i % BATCHES]
        assert {e.job.id for e in events} == jobs_of[batch] and len(
            jobs_of[batch]
        ) == JOBS_PER_BATCH
        revisions = [e.revision for e in events]
        assert revisions == sorted(set(revisions))
        for job_id in jobs_of[batch]:
            assert [e.job.state for e in events if e.job.id == job_id] == JOB_EVENTS


def test_a_subscriber_that_never_reads_is_cut_off_with_resource_exhausted(outcome):
    error = outcome["slow_error"]
    assert error is not None, "the slow subscriber should have overflowed its buffer"
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"after_revision={outcome['slow'][-1].revision}" in error.details()


def test_the_cut_off_subscriber_resumes_from_its_last_revision_with_no_gap(outcome):
    everything = [e.revision for e in outcome["history"]]
    assert len(everything) == 3 * len(outcome["created"])
    seen = [e.revision for e in outcome["slow"] + outcome["resumed"]]
    assert seen == everything
