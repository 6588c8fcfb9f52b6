"""Issue 6, durability: a server killed with SIGKILL mid-run loses nothing and repeats nothing.

The crash scenario runs once per module against a server in its own process (`qsession serve`):
a workload of 59 jobs (job mode, a dedicated session, a batch, every job with a request_id)
runs on an emulated QPU that holds each job 0.1 s; the server is killed with SIGKILL right
after a job started, while a session's max TTL is about to pass, and restarted on the same data
directory after that max TTL has passed. Every job's circuit flips a known set of qubits, so
each correct result is one bitstring with all the shots.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import grpc
import pytest
from qiskit import QuantumCircuit
from qiskit.primitives.containers.sampler_pub import SamplerPub

from qsession.v1 import job_pb2, session_pb2
from qsession.wire import encode_sampler_pub, from_timestamp
from tests.conftest import base_config, start_server
from tests.e2e.conftest import TERMINAL, RawClient
from tests.e2e.server_process import ServerProcess

WIDTH = 6
SHOTS = 32
JOB_TIME = 0.1
ITTL = 1.0
MAX_TTL = 6.0
JOB_MODE_JOBS = 40
SESSION_JOBS = 8
BATCH_JOBS = 8
DEDICATED = session_pb2.Session.MODE_DEDICATED
BATCH = session_pb2.Session.MODE_BATCH


def marked(index: int) -> tuple[QuantumCircuit, str]:
    """A circuit that flips the qubits set in ``index`` (mod 2**WIDTH), and the bitstring it
    always measures."""
    bits = format(index % 2**WIDTH, f"0{WIDTH}b")
    circuit = QuantumCircuit(WIDTH)
    for qubit, bit in enumerate(reversed(bits)):
        if bit == "1":
            circuit.x(qubit)
    circuit.measure_all()
    return circuit, bits


def sampler_request(index: int, request_id: str, session_id: str = "", backend: str = "ideal_24"):
    circuit, _ = marked(index)
    return job_pb2.CreateJobRequest(
        program=job_pb2.PROGRAM_SAMPLER,
        backend="" if session_id else backend,
        session_id=session_id,
        request_id=request_id,
        sampler_pubs=[encode_sampler_pub(SamplerPub.coerce((circuit, None, SHOTS)))],
    )


class Watcher(threading.Thread):
    """Follows WatchJobs from revision 0 in a background thread and records every event.

    ``kill_when``: called with the events so far after each one; when it returns True the
    watcher kills the server at once (SIGKILL), so the kill lands right after that event.
    """

    def __init__(self, client: RawClient, pid: int, kill_when: Callable[[list], bool]):
        super().__init__(daemon=True)
        self.client, self.pid, self.kill_when = client, pid, kill_when
        self.events: list[job_pb2.WatchJobsResponse] = []
        self.killed = threading.Event()

    def run(self) -> None:
        stream = self.client.jobs.WatchJobs(
            job_pb2.WatchJobsRequest(after_revision=0), metadata=self.client.metadata
        )
        try:
            for event in stream:
                self.events.append(event)
                if self.kill_when(self.events):
                    os.kill(self.pid, signal.SIGKILL)
                    self.killed.set()
                    return
        except grpc.RpcError:
            pass


@dataclass
class CrashRun:
    """What the crash scenario left behind for the tests to check."""

    client: RawClient
    expected: dict[str, str] = field(default_factory=dict)  # job id -> bitstring
    request_ids: dict[str, str] = field(default_factory=dict)  # job id -> request_id
    job_mode: list[str] = field(default_factory=list)
    ttl_session: session_pb2.Session | None = None
    ttl_session_queued: list[str] = field(default_factory=list)
    other_sessions: list[str] = field(default_factory=list)
    before_kill: list[job_pb2.WatchJobsResponse] = field(default_factory=list)
    running_at_kill: set[str] = field(default_factory=set)
    jobs: dict[str, job_pb2.Job] = field(default_factory=dict)
    history: list[job_pb2.WatchJobsResponse] = field(default_factory=list)


def wait_for(predicate: Callable[[], object], timeout: float = 60.0, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(step)
    raise AssertionError("condition not reached in time")


def all_jobs(client: RawClient) -> dict[str, job_pb2.Job]:
    request = job_pb2.ListJobsRequest(page_size=1000)
    return {j.id: j for j in client.jobs.ListJobs(request, metadata=client.metadata).jobs}


def get_session(client: RawClient, session_id: str) -> session_pb2.Session:
    request = session_pb2.GetSessionRequest(id=session_id)
    return client.sessions.GetSession(request, metadata=client.metadata).session


def submit(run: CrashRun, index: int, session_id: str = "") -> str:
    request_id = f"crash-{index}"
    job = run.client.jobs.CreateJob(
        sampler_request(index, request_id, session_id), metadata=run.client.metadata, timeout=60
    ).job
    run.expected[job.id] = marked(index)[1]
    run.request_ids[job.id] = request_id
    return job.id


def running_in_store(data_dir) -> set[str]:
    """The ids of the jobs the (dead) server's database records as RUNNING."""
    db = sqlite3.connect(f"file:{data_dir / 'qsession.db'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT id FROM jobs WHERE json_extract(record, '$.status') = 'RUNNING'")
        return {job_id for (job_id,) in rows}
    finally:
        db.close()


@pytest.fixture(scope="module")
def crash(tmp_path_factory) -> CrashRun:
    workdir = tmp_path_factory.mktemp("crash")
    config = base_config(
        workdir / "data",
        plans={"premium": {"interactive_ttl": f"{ITTL}s", "min_max_ttl": "1s"}},
        backends=[{"name": "ideal_24", "profile": "ideal_24", "min_job_duration": f"{JOB_TIME}s"}],
    )
    with ServerProcess(workdir, config) as server:
        run = CrashRun(client=RawClient(server))
        client = run.client
        # A session that starts now, goes inactive after the ITTL, and will have two jobs
        # queued behind the workload when its max TTL passes while the server is down.
        ttl = client.sessions.CreateSession(
            session_pb2.CreateSessionRequest(
                backend="ideal_24", mode=DEDICATED, max_ttl=f"{MAX_TTL:g}s"
            ),
            metadata=client.metadata,
        ).session
        first = submit(run, 0, ttl.id)
        client.wait(first)
        wait_for(lambda: get_session(client, ttl.id).state == session_pb2.Session.STATE_INACTIVE)
        dedicated = client.sessions.CreateSession(
            session_pb2.CreateSessionRequest(backend="ideal_24", mode=DEDICATED),
            metadata=client.metadata,
        ).session
        batch = client.sessions.CreateSession(
            session_pb2.CreateSessionRequest(backend="ideal_24", mode=BATCH),
            metadata=client.metadata,
        ).session
        run.other_sessions = [dedicated.id, batch.id]

        watcher = Watcher(
            client,
            server.process.pid,
            kill_when=lambda events: (
                sum(e.job.state == job_pb2.Job.STATE_DONE for e in events) >= 15
                and events[-1].job.state == job_pb2.Job.STATE_RUNNING
            ),
        )
        watcher.start()
        index = 1
        for i in range(JOB_MODE_JOBS):
            run.job_mode.append(submit(run, index))
            index += 1
            if i % 5 == 0 and i // 5 < SESSION_JOBS:
                submit(run, index, dedicated.id)
                submit(run, index + 1, batch.id)
                index += 2
        for session in (dedicated, batch):
            client.sessions.CloseSession(
                session_pb2.CloseSessionRequest(id=session.id), metadata=client.metadata
            )
        run.ttl_session_queued = [submit(run, index, ttl.id), submit(run, index + 1, ttl.id)]
        run.ttl_session = get_session(client, ttl.id)
        assert watcher.killed.wait(60), "the workload finished before the kill"
        server.kill()
        watcher.join(10)
        run.before_kill = list(watcher.events)
        run.running_at_kill = running_in_store(workdir / "data")

        deadline = from_timestamp(run.ttl_session.start_time) + MAX_TTL
        assert time.time() < deadline, (
            "the kill came after the max TTL; the scenario needs it to pass while down"
        )
        time.sleep(deadline - time.time() + 0.5)
        server.start()
        run.client = RawClient(server)
        run.jobs = wait_for(
            lambda: (
                (jobs := all_jobs(run.client))
                and all(j.state in TERMINAL for j in jobs.values())
                and jobs
            )
        )
        run.history = watch_history(run.client)
        yield run


def watch_history(client: RawClient, quiet: float = 3.0) -> list[job_pb2.WatchJobsResponse]:
    """Every retained job event, from revision 0, read until the stream has been quiet for
    about ``quiet`` seconds (the workload has finished, so nothing new arrives)."""
    stream = client.jobs.WatchJobs(
        job_pb2.WatchJobsRequest(after_revision=0), metadata=client.metadata, timeout=quiet
    )
    events = []
    try:
        events.extend(stream)
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED, error
    return events


def test_the_workload_is_at_least_50_jobs_in_job_mode_a_session_and_a_batch(crash):
    assert len(crash.expected) >= 50
    assert len(crash.jobs) == len(crash.expected)
    assert {j.session_id for j in crash.jobs.values()} >= {"", *crash.other_sessions}


def test_every_job_ends_done_with_its_correct_result(crash):
    failed_by_ttl = set(crash.ttl_session_queued)
    for job_id, bits in crash.expected.items():
        if job_id in failed_by_ttl:
            continue
        job = crash.jobs[job_id]
        assert job.state == job_pb2.Job.STATE_DONE, (job_id, job.error_message)
        counts = crash.client.result(job_id)[0].data.meas.get_counts()
        assert counts == {bits: SHOTS}


def test_every_job_is_done_exactly_once_in_the_watch_history(crash):
    finished = Counter(e.job.id for e in crash.history if e.job.state in TERMINAL)
    assert set(finished) == set(crash.expected)
    assert set(finished.values()) == {1}


def test_a_job_that_was_running_at_the_kill_runs_again_and_records_the_retry(crash):
    assert crash.running_at_kill, "the kill should land while a job runs"
    for job_id in crash.running_at_kill:
        job = crash.jobs[job_id]
        assert job.state == job_pb2.Job.STATE_DONE
        assert job.attempts == 2
    others = set(crash.expected) - crash.running_at_kill - set(crash.ttl_session_queued)
    assert {crash.jobs[j].attempts for j in others} == {1}


def test_watch_revisions_continue_after_the_restart_and_are_never_reused(crash):
    revisions = [e.revision for e in crash.history]
    assert revisions == sorted(set(revisions))
    replayed = {e.revision: (e.job.id, e.job.state) for e in crash.history}
    for event in crash.before_kill:
        assert replayed[event.revision] == (event.job.id, event.job.state)
    assert max(revisions) > crash.before_kill[-1].revision


def test_queued_job_mode_jobs_keep_their_place_in_the_queue(crash):
    starts = [from_timestamp(crash.jobs[j].start_time) for j in crash.job_mode]
    assert starts == sorted(starts)


def test_a_retried_request_id_after_the_restart_returns_the_first_job(crash):
    job_id = crash.job_mode[-1]
    index = int(crash.request_ids[job_id].split("-")[1])
    again = crash.client.jobs.CreateJob(
        sampler_request(index, crash.request_ids[job_id]), metadata=crash.client.metadata
    ).job
    assert again.id == job_id
    assert len(all_jobs(crash.client)) == len(crash.expected)


def test_a_session_whose_max_ttl_passed_while_down_is_closed_and_its_queued_jobs_fail(crash):
    session = get_session(crash.client, crash.ttl_session.id)
    assert session.state == session_pb2.Session.STATE_CLOSED
    assert session.close_reason == "max_ttl"
    assert session.start_time == crash.ttl_session.start_time
    for job_id in crash.ttl_session_queued:
        job = crash.jobs[job_id]
        assert job.state == job_pb2.Job.STATE_ERROR
        assert "max TTL" in job.error_message and f"{MAX_TTL:g} s" in job.error_message


def test_closed_session_and_batch_drain_and_close_after_the_restart(crash):
    for session_id in crash.other_sessions:
        session = get_session(crash.client, session_id)
        assert session.state == session_pb2.Session.STATE_CLOSED
        assert session.close_reason == "closed"


def read_store(data_dir):
    """(integrity_check answer, {job id: status}) of a stopped server's database."""
    db = sqlite3.connect(f"file:{data_dir / 'qsession.db'}?mode=ro", uri=True)
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        rows = db.execute("SELECT id, json_extract(record, '$.status') FROM jobs")
        return integrity, dict(rows.fetchall())
    finally:
        db.close()


def test_sigterm_drains_the_running_job_keeps_the_queue_and_exits_0(tmp_path):
    config = base_config(
        tmp_path / "data",
        backends=[{"name": "ideal_24", "profile": "ideal_24", "min_job_duration": "1s"}],
    )
    with ServerProcess(tmp_path, config) as server:
        client = RawClient(server)
        ids = [
            client.jobs.CreateJob(sampler_request(i, f"term-{i}"), metadata=client.metadata).job.id
            for i in (1, 2, 3)
        ]
        wait_for(
            lambda: (
                client.jobs.GetJob(
                    job_pb2.GetJobRequest(id=ids[0]), metadata=client.metadata
                ).job.state
                == job_pb2.Job.STATE_RUNNING
            )
        )
        assert server.terminate() == 0
        assert not (tmp_path / "data" / "qsession.db-wal").exists(), "the WAL was not checkpointed"
        integrity, states = read_store(tmp_path / "data")
        assert integrity == "ok"
        assert [states[i] for i in ids] == ["DONE", "QUEUED", "QUEUED"]

        server.start()
        client = RawClient(server)
        for index, job_id in zip((1, 2, 3), ids, strict=True):
            job = client.wait(job_id)
            assert (job.state, job.attempts) == (job_pb2.Job.STATE_DONE, 1)
            assert client.result(job_id)[0].data.meas.get_counts() == {marked(index)[1]: SHOTS}


def test_sigterm_records_a_job_running_past_the_grace_as_running_and_it_runs_again(tmp_path):
    config = base_config(
        tmp_path / "data",
        server={"listen": "", "data_dir": str(tmp_path / "data"), "shutdown_grace": "0s"},
        backends=[{"name": "ideal_24", "profile": "ideal_24", "min_job_duration": "2s"}],
    )
    with ServerProcess(tmp_path, config) as server:
        client = RawClient(server)
        job_id = client.jobs.CreateJob(
            sampler_request(5, "grace-5"), metadata=client.metadata
        ).job.id
        wait_for(
            lambda: (
                client.jobs.GetJob(
                    job_pb2.GetJobRequest(id=job_id), metadata=client.metadata
                ).job.state
                == job_pb2.Job.STATE_RUNNING
            )
        )
        assert server.terminate() == 0
        integrity, states = read_store(tmp_path / "data")
        assert (integrity, states[job_id]) == ("ok", "RUNNING")

        server.start()
        client = RawClient(server)
        job = client.wait(job_id)
        assert (job.state, job.attempts) == (job_pb2.Job.STATE_DONE, 2)
        assert client.result(job_id)[0].data.meas.get_counts() == {marked(5)[1]: SHOTS}


def test_create_job_retried_with_the_same_request_id_returns_the_same_job(server):
    client = RawClient(server)
    first = client.jobs.CreateJob(
        sampler_request(7, "retry-sequential"), metadata=client.metadata
    ).job
    again = client.jobs.CreateJob(
        sampler_request(7, "retry-sequential"), metadata=client.metadata
    ).job
    assert again.id == first.id
    listed = client.jobs.ListJobs(
        job_pb2.ListJobsRequest(page_size=1000), metadata=client.metadata
    ).jobs
    assert sum(j.id == first.id for j in listed) == 1
    assert client.wait(first.id).state == job_pb2.Job.STATE_DONE


def test_concurrent_retries_with_one_request_id_create_one_job(server):
    client = RawClient(server)
    before = len(all_jobs(client))
    barrier = threading.Barrier(8)

    def create(_: int) -> str:
        barrier.wait()
        return client.jobs.CreateJob(
            sampler_request(9, "retry-concurrent"), metadata=client.metadata
        ).job.id

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(create, range(8)))
    assert len(ids) == 1
    assert len(all_jobs(client)) == before + 1


def test_the_same_request_id_in_two_instances_makes_two_jobs(server):
    lab, student = RawClient(server), RawClient(server, token=server.open_token)
    a = lab.jobs.CreateJob(sampler_request(3, "shared-key"), metadata=lab.metadata).job
    b = student.jobs.CreateJob(sampler_request(3, "shared-key"), metadata=student.metadata).job
    assert a.id != b.id
    assert b.id not in all_jobs(lab) and a.id not in all_jobs(student)


def test_a_result_that_fails_its_checksum_is_data_loss_never_served(tmp_path):
    from tests.conftest import start_server

    with start_server(base_config(tmp_path)) as handle:
        client = RawClient(handle)
        job_id = client.jobs.CreateJob(
            sampler_request(6, "corrupt-6"), metadata=client.metadata
        ).job.id
        client.wait(job_id)
        db = sqlite3.connect(tmp_path / "qsession.db")
        (data,) = db.execute("SELECT data FROM results WHERE job_id = ?", (job_id,)).fetchone()
        with db:
            db.execute(
                "UPDATE results SET data = ? WHERE job_id = ?",
                (bytes([data[0] ^ 1]) + data[1:], job_id),
            )
        db.close()
        with pytest.raises(grpc.RpcError) as info:
            client.result(job_id)
        assert info.value.code() == grpc.StatusCode.DATA_LOSS
        assert "checksum" in info.value.details()


def test_a_large_result_is_stored_beside_the_database_and_survives_kill_9(tmp_path):
    """A result over 1 MiB (120,000 shots of 100 bits: 1.5 MB packed) is a file in the data
    directory, its row only naming it; the client reads it whole, before and after kill -9."""
    wide = QuantumCircuit(100)
    wide.x(range(0, 100, 3))
    wide.measure_all()
    config = base_config(tmp_path, limits={"max_shots_per_pub": 200_000})
    with ServerProcess(tmp_path, config) as server:
        client = RawClient(server)
        job = client.create_job([(wide, None, 120_000)], backend="fake_torino")
        client.wait(job.id)
        first = client.result(job.id)[0].data.meas
        assert (tmp_path / "results" / f"{job.id}.result").stat().st_size > 1 << 20
        server.kill()
        server.start()
        again = RawClient(server).result(job.id)[0].data.meas
    assert again.num_shots == 120_000 and (again.array == first.array).all()
    expected = "".join("1" if qubit % 3 == 0 else "0" for qubit in reversed(range(100)))
    assert set(again.get_counts()) == {expected}


def test_a_data_dir_needing_a_backend_the_config_dropped_is_a_clear_config_error(tmp_path):
    from qsession.config import ConfigError

    flip = QuantumCircuit(1)
    flip.x(0)
    flip.measure_all()
    with start_server(base_config(tmp_path)) as handle:
        client = RawClient(handle)
        done = client.create_job([(flip, None, 10)], backend="fake_torino")
        client.wait(done.id)
    dropped = base_config(tmp_path, backends=[{"name": "ideal_24", "profile": "ideal_24"}])
    with start_server(dropped) as handle:  # finished work needs no backend: it starts
        client = RawClient(handle)
        job = client.jobs.GetJob(job_pb2.GetJobRequest(id=done.id), metadata=client.metadata).job
        assert (job.backend, job.state) == ("fake_torino", job_pb2.Job.STATE_DONE)
    with start_server(base_config(tmp_path)) as handle:
        client = RawClient(handle)
        client.sessions.CreateSession(  # an open session does need its backend
            session_pb2.CreateSessionRequest(
                backend="fake_torino", mode=session_pb2.Session.MODE_BATCH
            ),
            metadata=client.metadata,
        )
    with pytest.raises(ConfigError, match="fake_torino"):
        with start_server(dropped):
            pass
