"""Issue 12: SDK clients ride out server restarts.

One server runs as its own process (`qsession serve`) and is restarted (SIGTERM, then started
again on the same port and data directory) while SDK clients are in the middle of things:

* ``job.result()`` waits on a running job while more events pass than the server retains
  (so no revision from before is any use after the restart), then the server restarts;
* threads submit jobs before, during and after a ~3 s outage (the server killed mid-
  submission): every submission succeeds and the server holds exactly one job per submission
  (the request id makes retries safe);
* ``watch_jobs()`` is followed across a restart: every later event arrives once, in order.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future

import grpc
import pytest
from google.protobuf import field_mask_pb2
from qiskit import QuantumCircuit

from qsession import RuntimeService, SamplerV2
from qsession.client.errors import IBMApiError, IBMInputValueError
from qsession.runtime import EVENTS_RETAINED
from qsession.testing import to_toml
from qsession.v1 import job_pb2
from tests.conftest import base_config
from tests.e2e.conftest import RawClient
from tests.e2e.server_process import ServerProcess

DOWN_SECONDS = 3.0  # how long the server stays stopped in the submission test
IN_FLIGHT = 64  # tag updates sent at once while generating events


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[ServerProcess]:
    """A server process with a "slow" backend that holds each job RUNNING for a minute.

    ``shutdown_grace = 0s``: a job running at a SIGTERM stays RUNNING and runs again after
    the restart, so a client is still waiting on it then.
    """
    workdir = tmp_path_factory.mktemp("sdk-restart")
    data = workdir / "data"
    config = base_config(
        data,
        server={"listen": "127.0.0.1:0", "data_dir": str(data), "shutdown_grace": "0s"},
        backends=[
            {"name": "ideal_24", "profile": "ideal_24"},
            {"name": "slow", "profile": "ideal_24", "min_job_duration": "60s"},
        ],
    )
    with ServerProcess(workdir, config, log_level="WARNING") as process:
        yield process


@pytest.fixture(scope="module")
def service(server) -> RuntimeService:
    return RuntimeService(url=server.address, token=server.token)


def flips(bits: str) -> QuantumCircuit:
    """A circuit that always measures ``bits`` (qubit 0 is the rightmost bit)."""
    circuit = QuantumCircuit(len(bits))
    for qubit, bit in enumerate(reversed(bits)):
        if bit == "1":
            circuit.x(qubit)
    circuit.measure_all()
    return circuit


def tagged_sampler(service: RuntimeService, tag: str) -> SamplerV2:
    """A Sampler on ideal_24 whose jobs carry ``tag``."""
    sampler = SamplerV2(mode=service.backend("ideal_24"))
    sampler.options.environment.job_tags = [tag]
    return sampler


def restart(server: ServerProcess) -> None:
    """Stop the server gracefully (SIGTERM) and start it again on the same data directory."""
    assert server.terminate() == 0, server.log()
    server.start()


def set_min_job_duration(server: ServerProcess, backend: str, duration: str) -> None:
    """Change a backend's min_job_duration in the config file, for the next start."""
    for entry in server.config["backends"]:
        if entry["name"] == backend:
            entry["min_job_duration"] = duration
    server.config_path.write_text(to_toml(server.config))


def update_tags(client: RawClient, job_id: str, count: int, prefix: str) -> None:
    """Set the job's tags ``count`` times (one event each), IN_FLIGHT calls at a time."""
    pending: list[Future] = []
    for index in range(count):
        request = job_pb2.UpdateJobRequest(
            job=job_pb2.Job(id=job_id, tags=[prefix, f"{prefix}-{index}"]),
            update_mask=field_mask_pb2.FieldMask(paths=["tags"]),
        )
        pending.append(client.jobs.UpdateJob.future(request, metadata=client.metadata))
        if len(pending) >= IN_FLIGHT:
            pending.pop(0).result(timeout=60)
    for call in pending:
        call.result(timeout=60)


def get_job(client: RawClient, job_id: str) -> job_pb2.GetJobResponse:
    return client.jobs.GetJob(job_pb2.GetJobRequest(id=job_id), metadata=client.metadata)


def wait_until(predicate, timeout: float = 30.0, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(step)
    raise AssertionError("condition not reached in time")


def test_result_waits_through_a_restart_after_more_events_than_the_server_retains(server, service):
    client = RawClient(server)
    tag_target = SamplerV2(mode=service.backend("ideal_24")).run([flips("1")], shots=4)
    tag_target.result()
    job = SamplerV2(mode=service.backend("slow")).run([flips("101")], shots=16)
    wait_until(lambda: get_job(client, job.job_id()).job.state == job_pb2.Job.STATE_RUNNING)
    before = get_job(client, job.job_id()).revision

    outcome: dict = {}

    def wait_for_result() -> None:
        try:
            outcome["result"] = job.result(timeout=120)
        except Exception as exc:  # reported by the assertion below
            outcome["error"] = exc

    waiter = threading.Thread(target=wait_for_result, daemon=True)
    waiter.start()
    time.sleep(0.5)  # the waiter is inside result(), its GetJobResult(wait) open

    update_tags(client, tag_target.job_id(), EVENTS_RETAINED + 200, "churn")
    now = get_job(client, job.job_id())
    assert now.job.state == job_pb2.Job.STATE_RUNNING, "the job must still run at the restart"
    assert now.revision - before > EVENTS_RETAINED
    with pytest.raises(grpc.RpcError) as gone:  # the revision the job was read at is gone
        next(
            client.jobs.WatchJobs(
                job_pb2.WatchJobsRequest(after_revision=before), metadata=client.metadata
            )
        )
    assert gone.value.code() == grpc.StatusCode.OUT_OF_RANGE

    set_min_job_duration(server, "slow", "1s")  # the second run need not take a minute
    restart(server)
    waiter.join(timeout=120)
    assert not waiter.is_alive(), "result() did not return"
    assert "error" not in outcome, repr(outcome.get("error"))
    assert outcome["result"][0].data.meas.get_counts() == {"101": 16}
    assert job.metrics()["attempts"] == 2  # it was running at the restart and ran again


def test_submissions_during_a_restart_all_succeed_and_create_one_job_each(server, service):
    tag = f"restart-{uuid.uuid4()}"
    sampler = tagged_sampler(service, tag)
    sampler.run([flips("11")], shots=4).result()  # reached: later failures are a restart
    submitted: list[str] = []
    errors: list[BaseException] = []
    slowest = [0.0]
    lock = threading.Lock()
    stop = threading.Event()

    def submit(index: int) -> None:
        bits = format(index % 8, "03b")
        while not stop.is_set():
            started = time.monotonic()
            try:
                job = sampler.run([flips(bits)], shots=4)
            except BaseException as exc:
                with lock:
                    errors.append(exc)
                return
            with lock:
                submitted.append(job.job_id())
                slowest[0] = max(slowest[0], time.monotonic() - started)
            time.sleep(0.05)

    impatient = RuntimeService(url=server.address, token=server.token, retry_timeout=0)
    impatient.backends()  # reached: it would retry now, were retries on
    threads = [threading.Thread(target=submit, args=(i,), daemon=True) for i in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    # SIGKILL: submissions in flight may be stored without their answer, the case request
    # ids are for. (A SIGTERM with admissions in flight can hang the server's exit: the
    # circuit sandbox is closed under a waiting admission thread.)
    server.kill()
    started = time.monotonic()
    with pytest.raises(IBMApiError, match="cannot reach"):
        impatient.backends()
    assert time.monotonic() - started < 1.0, "retry_timeout=0 must not retry"
    impatient.close()
    time.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - started)))
    server.start()
    time.sleep(1.0)
    stop.set()
    for thread in threads:
        thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert slowest[0] > DOWN_SECONDS, "some submissions must have waited out the restart"
    assert len(set(submitted)) == len(submitted)  # one job per submission
    on_server = service.jobs(limit=None, job_tags=[tag])
    assert len(on_server) == len(submitted) + 1  # and no job twice: + the first one
    assert {job.job_id() for job in on_server} >= set(submitted)


def test_a_watch_resumes_across_a_restart_with_every_later_event_once_in_order(server, service):
    tag = f"watched-{uuid.uuid4()}"
    sampler = tagged_sampler(service, tag)
    target = sampler.run([flips("1")], shots=4)
    target.result()
    received = []
    watch = service.watch_jobs(tags=[tag])  # from now: after the target's three events
    reader = threading.Thread(target=lambda: received.extend(watch), daemon=True)
    reader.start()
    try:
        update_tags(RawClient(server), target.job_id(), 20, tag)
        wait_until(lambda: len(received) >= 20)
        restart(server)
        update_tags(RawClient(server), target.job_id(), 20, tag)
        later = sampler.run([flips("10")], shots=4)
        later.result()
        expected_count = 20 + 20 + 3  # tag updates, then QUEUED, RUNNING, DONE
        wait_until(lambda: len(received) >= expected_count)
        time.sleep(0.3)  # nothing more may arrive
    finally:
        watch.close()
        reader.join(timeout=10)
    revisions = [event.revision for event in received]
    assert revisions == sorted(set(revisions)), "in revision order, each once"
    client = RawClient(server)
    history = client.jobs.WatchJobs(
        job_pb2.WatchJobsRequest(after_revision=0, tags=[tag]), metadata=client.metadata
    )
    try:
        logged = [next(history).revision for _ in range(3 + expected_count)]
    finally:
        history.cancel()
    assert revisions == logged[3:]  # everything after the watch began
    assert [event.status for event in received[-3:]] == ["QUEUED", "RUNNING", "DONE"]
    assert received[-1].job_id == later.job_id()


def test_the_retry_timeout_comes_from_the_argument_then_the_environment(monkeypatch):
    def retry_timeout(**kwargs) -> float:
        service = RuntimeService(url="127.0.0.1:1", token="unused", **kwargs)
        try:
            return service._connection.retry_timeout
        finally:
            service.close()

    monkeypatch.delenv("QSESSION_RETRY_TIMEOUT", raising=False)
    assert retry_timeout() == 60.0
    monkeypatch.setenv("QSESSION_RETRY_TIMEOUT", "7.5")
    assert retry_timeout() == 7.5
    assert retry_timeout(retry_timeout=0) == 0.0
    monkeypatch.setenv("QSESSION_RETRY_TIMEOUT", "soon")
    with pytest.raises(IBMInputValueError, match="QSESSION_RETRY_TIMEOUT"):
        retry_timeout()
    with pytest.raises(IBMInputValueError, match="retry_timeout"):
        retry_timeout(retry_timeout=-1)
