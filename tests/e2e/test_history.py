"""Cost stays flat as history grows: finished jobs leave memory, lists page by key in SQL,
responses carry the revision they were read at, and watches report progress.

(How flat, in numbers, at 1,000 and 20,000 jobs of history: ``make bench``.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest
from qiskit.primitives.containers.sampler_pub import SamplerPub

from qsession import RuntimeService, SamplerV2
from qsession.v1 import job_pb2
from qsession.wire import encode_sampler_pub
from tests.circuits import flip
from tests.conftest import OPEN_TOKEN, base_config, start_server
from tests.e2e.conftest import RawClient


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator:
    config = base_config(
        tmp_path_factory.mktemp("history"), backends=[{"name": "ideal_24", "profile": "ideal_24"}]
    )
    with start_server(config) as handle:
        yield handle


@pytest.fixture(scope="module")
def client(server) -> RawClient:
    return RawClient(server)


@pytest.fixture(scope="module")
def finished(client) -> list[str]:
    """30 finished jobs, oldest first, every third tagged "third"."""
    ids = []
    for i in range(30):
        job = client.create_job(
            [(flip(), None, 5)], backend="ideal_24", tags=["third"] if i % 3 == 0 else []
        )
        ids.append(job.id)
    for job_id in ids:
        client.wait(job_id)
    return ids


def test_finished_jobs_leave_the_servers_memory_and_are_still_served(server, client, finished):
    runtime = server.running.runtime
    runtime._dispatch.forget(runtime._ledger.take_finished())  # the coordinator's next step
    assert not set(finished) & {job.id for job in runtime.live_jobs()}
    assert not set(finished) & set(runtime._ledger.inputs)
    oldest = client.jobs.GetJob(job_pb2.GetJobRequest(id=finished[0]), metadata=client.metadata)
    assert oldest.job.state == job_pb2.Job.STATE_DONE and oldest.job.num_pubs == 1
    assert client.result(finished[0])[0].data.meas.get_counts() == {"1": 5}


def test_list_jobs_pages_by_key_newest_first_with_filters(client, finished):
    seen, token = [], ""
    while True:
        page = client.jobs.ListJobs(
            job_pb2.ListJobsRequest(page_size=4, page_token=token, tags=["third"]),
            metadata=client.metadata,
        )
        seen.extend(job.id for job in page.jobs)
        token = page.next_page_token
        if not token:
            break
        client.create_job([(flip(), None, 5)], backend="ideal_24", tags=["third"])  # new ones
    tagged = [job_id for i, job_id in enumerate(finished) if i % 3 == 0]
    assert seen[-len(tagged) :] == tagged[::-1]  # arrivals at the front shift no page


def test_a_bad_page_token_names_the_field(client):
    with pytest.raises(grpc.RpcError) as info:
        client.jobs.ListJobs(job_pb2.ListJobsRequest(page_token="x"), metadata=client.metadata)
    assert "page_token" in info.value.details()


def test_create_and_get_answer_with_the_revision_they_were_read_at(client):
    created = client.jobs.CreateJob(
        job_pb2.CreateJobRequest(
            backend="ideal_24",
            program=job_pb2.PROGRAM_SAMPLER,
            sampler_pubs=[client_pub()],
        ),
        metadata=client.metadata,
    )
    events = client.jobs.WatchJobs(
        job_pb2.WatchJobsRequest(job_ids=[created.job.id], after_revision=created.revision),
        metadata=client.metadata,
        timeout=30,
    )
    states = []
    for event in events:
        assert event.revision > created.revision
        states.append(event.job.state)
        if event.job.state == job_pb2.Job.STATE_DONE:
            break
    events.cancel()
    assert states[0] == job_pb2.Job.STATE_RUNNING  # the QUEUED event was at or before it
    got = client.jobs.GetJob(job_pb2.GetJobRequest(id=created.job.id), metadata=client.metadata)
    assert got.revision >= created.revision + 2  # read after RUNNING and DONE


def client_pub():
    return encode_sampler_pub(SamplerPub.coerce((flip(), None, 5)))


def test_a_filtered_watch_gets_progress_notifications_that_advance_its_resume_point(
    client, finished
):
    request = job_pb2.WatchJobsRequest(
        job_ids=[finished[0]], after_revision=0, progress_notify=True
    )
    stream = client.jobs.WatchJobs(request, metadata=client.metadata, timeout=30)
    replayed = []
    for event in stream:
        if event.HasField("job"):
            replayed.append(event.job.state)
            continue
        progress = event.revision
        break
    stream.cancel()
    assert replayed[-1] == job_pb2.Job.STATE_DONE
    current = client.jobs.ListJobs(job_pb2.ListJobsRequest(page_size=1), metadata=client.metadata)
    assert progress == current.revision  # nothing newer happened: resume from the newest


def record_streams(service):
    """The names of the streaming RPCs the SDK opens from now on, in order."""
    connection = service._connection
    streams = []
    original = connection.stream

    def recording(method, request, **kwargs):
        streams.append(connection._method_names[id(method)])
        return original(method, request, **kwargs)

    connection.stream = recording
    return streams


def test_result_waits_on_the_submitting_stream_without_replaying_events(server):
    service = RuntimeService(url=server.address, token=server.token)
    sampler = SamplerV2(mode=service.backend("ideal_24"))
    streams = record_streams(service)
    job = sampler.run([flip()], shots=7)
    assert job.result()[0].data.meas.get_counts() == {"1": 7}
    # one call submits and delivers: no WatchJobs, no replay of the event log
    assert streams == ["JobService.RunJob"]
    assert job.status() == "DONE"  # the state came with the result


def test_a_job_created_with_create_job_waits_in_one_get_job_result_call(server):
    service = RuntimeService(url=server.address, token=server.token)
    service._run_job = False  # as with a server that predates RunJob
    job = SamplerV2(mode=service.backend("ideal_24")).run([flip()], shots=7)
    streams = record_streams(service)
    assert job.result()[0].data.meas.get_counts() == {"1": 7}
    assert streams == ["JobService.GetJobResult"]  # no WatchJobs, no replay of the event log
    assert job.status() == "DONE"


@pytest.mark.parametrize("rule", [5, "2s"])
def test_retention_deletes_the_oldest_finished_jobs_and_their_results(tmp_path, rule):
    config = base_config(tmp_path, backends=[{"name": "ideal_24", "profile": "ideal_24"}])
    with start_server(config) as handle:
        client = RawClient(handle)
        ids = [client.create_job([(flip(), None, 5)], backend="ideal_24").id for _ in range(8)]
        for job_id in ids:
            client.wait(job_id)
    if isinstance(rule, str):
        time.sleep(2.5)
    with start_server({**config, "retention": {"finished_jobs": rule}}) as handle:
        client = RawClient(handle)  # the retention pass runs at start-up, then every minute
        kept = 5 if isinstance(rule, int) else 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            listed = client.jobs.ListJobs(job_pb2.ListJobsRequest(), metadata=client.metadata)
            if len(listed.jobs) == kept:
                break
            time.sleep(0.1)
        assert [job.id for job in listed.jobs] == ids[::-1][:kept]
        for job_id in ids[: 8 - kept]:
            with pytest.raises(grpc.RpcError) as info:
                client.result(job_id)
            assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_retention_keeps_each_instances_newest_jobs(tmp_path):
    """One instance's volume never prunes another's history: with finished_jobs = 100, the
    open instance's 5 jobs and their results survive the premium instance's 150."""
    config = base_config(tmp_path, backends=[{"name": "ideal_24", "profile": "ideal_24"}])
    with start_server(config) as handle:
        lab, student = RawClient(handle), RawClient(handle, token=OPEN_TOKEN)
        theirs = [student.create_job([(flip(), None, 5)]).id for _ in range(5)]
        ours = [lab.create_job([(flip(), None, 5)]).id for _ in range(150)]
        for client, ids in ((student, theirs), (lab, ours)):
            for job_id in ids:
                client.wait(job_id)
    with start_server({**config, "retention": {"finished_jobs": 100}}) as handle:
        lab, student = RawClient(handle), RawClient(handle, token=OPEN_TOKEN)

        def listed(client: RawClient) -> list[str]:
            request = job_pb2.ListJobsRequest(page_size=1000)
            return [job.id for job in client.jobs.ListJobs(request, metadata=client.metadata).jobs]

        deadline = time.monotonic() + 30  # the retention pass runs at start-up
        while len(listed(lab)) > 100 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert listed(lab) == ours[::-1][:100]
        assert listed(student) == theirs[::-1]
        for job_id in theirs:
            assert student.result(job_id)[0].data.meas.get_counts() == {"1": 5}
