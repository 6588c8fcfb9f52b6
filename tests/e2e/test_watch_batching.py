"""Issue 31, WatchJobs batching: a watcher that sets ``batch_events`` receives several events per
response once it has fallen behind, in revision order and none lost; a watcher that does not
(an old client) still receives exactly one event per message; the SDK opts in and its callers
still see one event at a time.

A watcher "falls behind" here by resuming after a revision that many events have followed:
the server reads them from its log together, as it does for a live watcher whose stream could
not keep up.
"""

from __future__ import annotations

import uuid

import grpc
import pytest

from qsession.lifecycle.events import Event, EventKeys, EventLog
from qsession.server.servicers import BATCH_BYTES, BATCH_EVENTS, JobServicer
from qsession.v1 import job_pb2
from tests.circuits import flip
from tests.e2e.conftest import RawClient

JOBS = 25
EVENTS = JOBS * 3  # QUEUED, RUNNING, DONE each


@pytest.fixture(scope="module")
def history(server) -> tuple[str, int]:
    """A tag and the revision before JOBS finished jobs that carry it."""
    client = RawClient(server)
    tag = f"batching-{uuid.uuid4()}"
    revision = client.jobs.ListJobs(
        job_pb2.ListJobsRequest(page_size=1), metadata=client.metadata
    ).revision
    jobs = [client.create_job([(flip(), None, 4)], tags=[tag]) for _ in range(JOBS)]
    for job in jobs:
        assert client.wait(job.id).state == job_pb2.Job.STATE_DONE
    return tag, revision


def read(client: RawClient, request: job_pb2.WatchJobsRequest, events: int) -> list:
    """The messages of a WatchJobs stream until they carry ``events`` events."""
    stream = client.jobs.WatchJobs(request, metadata=client.metadata, timeout=60)
    messages, count = [], 0
    try:
        for message in stream:
            messages.append(message)
            count += len(message.events) or message.HasField("job")
            if count >= events:
                return messages
    finally:
        stream.cancel()
    raise AssertionError(f"the stream ended after {count} of {events} events")


def test_an_old_client_gets_exactly_one_event_per_message(client, history):
    tag, revision = history
    messages = read(client, job_pb2.WatchJobsRequest(after_revision=revision, tags=[tag]), EVENTS)
    assert len(messages) == EVENTS
    assert all(m.HasField("job") and not m.events for m in messages)
    revisions = [m.revision for m in messages]
    assert revisions == sorted(set(revisions))
    states = [m.job.state for m in messages]
    assert states.count(job_pb2.Job.STATE_DONE) == JOBS


def test_a_batching_client_that_fell_behind_gets_several_events_per_response(client, history):
    tag, revision = history
    old = read(client, job_pb2.WatchJobsRequest(after_revision=revision, tags=[tag]), EVENTS)
    request = job_pb2.WatchJobsRequest(after_revision=revision, tags=[tag], batch_events=True)
    messages = read(client, request, EVENTS)

    assert len(messages) < EVENTS
    assert max(len(m.events) for m in messages) > 1
    assert all(1 <= len(m.events) <= BATCH_EVENTS for m in messages)
    assert not any(m.HasField("job") for m in messages)
    assert all(m.revision == m.events[-1].revision for m in messages)
    assert not any(m.HasField("time") for m in messages)  # each event has its own
    events = [event for m in messages for event in m.events]
    # every event of the old client's stream, in the same order, with the same content
    assert [(e.revision, e.job, e.time) for e in events] == [
        (m.revision, m.job, m.time) for m in old
    ]


def test_until_final_with_batch_events_sends_events_in_events(client):
    job = client.create_job([(flip(), None, 4)])
    request = job_pb2.WatchJobsRequest(job_ids=[job.id], until_final=True, batch_events=True)
    messages = list(client.jobs.WatchJobs(request, metadata=client.metadata, timeout=60))
    events = [event for m in messages for event in m.events]
    assert not any(m.HasField("job") for m in messages)
    assert events[-1].job.state == job_pb2.Job.STATE_DONE
    revisions = [e.revision for e in events]
    assert revisions == sorted(set(revisions))


def test_the_sdk_asks_for_batches_and_yields_the_same_events_one_at_a_time(
    client, service, history, monkeypatch
):
    tag, revision = history
    old = read(client, job_pb2.WatchJobsRequest(after_revision=revision, tags=[tag]), EVENTS)
    sent: list[job_pb2.WatchJobsRequest] = []
    watch = service._operations.jobs.watch

    def recording(request: job_pb2.WatchJobsRequest, *, timeout: float | None) -> grpc.Call:
        sent.append(job_pb2.WatchJobsRequest.FromString(request.SerializeToString()))
        return watch(request, timeout=timeout)

    monkeypatch.setattr(service._operations.jobs, "watch", recording)
    with service.watch_jobs(tags=[tag], after_revision=revision) as events:
        seen = [next(events) for _ in range(EVENTS)]
    assert sent and all(request.batch_events for request in sent)
    assert [e.revision for e in seen] == [m.revision for m in old]
    assert [e.job_id for e in seen] == [m.job.id for m in old]
    names = {job_pb2.Job.STATE_QUEUED: "QUEUED", job_pb2.Job.STATE_RUNNING: "RUNNING"}
    assert [e.status for e in seen] == [names.get(m.job.state, "DONE") for m in old]
    assert all(e.tags == (tag,) for e in seen)


def test_a_batch_is_bounded_by_bytes_as_well_as_by_events():
    """Events of ~100 KB each: a response holds about BATCH_BYTES of them, not BATCH_EVENTS."""
    job = job_pb2.Job(id="j", tags=["x" * 100_000])
    events = [
        Event(revision, "job", job.SerializeToString(), 1.0, EventKeys("alice", "j"))
        for revision in range(1, 31)
    ]
    responses = list(JobServicer(runtime=None)._batched(events))  # type: ignore[arg-type]
    parsed = [job_pb2.WatchJobsResponse.FromString(r) for r in responses]
    assert len(parsed) > 1
    assert all(len(r) <= BATCH_BYTES for r in responses)
    assert [e.revision for p in parsed for e in p.events] == list(range(1, 31))
    assert [p.revision for p in parsed] == [p.events[-1].revision for p in parsed]


def test_watchers_with_the_same_filters_share_replay_reads_and_miss_nothing():
    """A replay read remembered for one watcher serves another with the same filters and
    revision, even once more events arrived (it continues after the remembered read)."""
    log = EventLog(retain=100)

    def append(count: int) -> None:
        for n in range(count):
            tags = frozenset({"t"}) if n % 2 else frozenset()
            log.append("job", b"", 1.0, EventKeys("alice", f"j{n}", tags=tags))

    def replayed(buffer: int) -> list[int]:
        subscription = log.subscribe("alice", 0, {"job"}, tags=["t"], buffer=buffer)
        revisions = []
        while events := subscription.drain():
            revisions.extend(event.revision for event in events)
        return revisions

    append(10)
    assert replayed(3) == replayed(3) == replayed(100) == [2, 4, 6, 8, 10]
    append(10)
    expected = list(range(2, 21, 2))
    assert replayed(3) == replayed(100) == expected


def test_a_batch_keeps_each_event_exactly_as_it_was():
    """Events concatenated into one response parse back unchanged, whatever their fields (a
    time of whole seconds after one with nanoseconds, a job with no tags after one with)."""
    jobs = [job_pb2.Job(id="a", tags=["x"]), job_pb2.Job(id="b")]
    events = [
        Event(7, "job", jobs[0].SerializeToString(), 100.5, EventKeys("alice", "a")),
        Event(9, "job", jobs[1].SerializeToString(), 101.0, EventKeys("alice", "b")),
    ]
    (response,) = JobServicer(runtime=None)._batched(events)  # type: ignore[arg-type]
    parsed = job_pb2.WatchJobsResponse.FromString(response)
    assert parsed.revision == 9 and not parsed.HasField("job")
    assert [(e.revision, e.job, e.time.ToNanoseconds()) for e in parsed.events] == [
        (7, jobs[0], 100_500_000_000),
        (9, jobs[1], 101_000_000_000),
    ]
