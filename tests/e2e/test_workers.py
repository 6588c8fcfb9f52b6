"""Executions run in each backend's worker process, never in the server's event loop.

The jobs here are genuinely heavy for Aer (24 qubits with a mid-circuit measurement: Aer
simulates shot by shot, about 10 s a shot on this machine), not sleeps. While one runs, the
server answers, other backends run their jobs, and the job can be cancelled or stopped at its
``max_execution_time``; a worker killed mid-job loses no job; a job that keeps killing its
worker ends in ERROR after the attempt limit; SIGTERM stops the server whatever runs.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import grpc
import pytest
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from qsession.execution import load_profile
from qsession.runtime import job_seed
from qsession.v1 import backend_pb2, job_pb2
from tests.circuits import bell, mid_circuit_measured
from tests.conftest import base_config, start_server
from tests.e2e.conftest import RawClient
from tests.e2e.server_process import ServerProcess


def isa(circuit: QuantumCircuit, backend: str) -> QuantumCircuit:
    target = load_profile(backend).target
    return generate_preset_pass_manager(target=target, optimization_level=1).run(circuit)


def heavy(num_qubits: int) -> QuantumCircuit:
    """An ISA circuit for ideal_24 that Aer must simulate shot by shot (a mid-circuit
    measurement on ``num_qubits`` entangled qubits)."""
    return isa(mid_circuit_measured(num_qubits), "ideal_24")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator:
    config = base_config(tmp_path_factory.mktemp("workers"), execution={"max_attempts": 2})
    with start_server(config) as handle:
        yield handle


@pytest.fixture(scope="module")
def client(server) -> RawClient:
    return RawClient(server)


def wait_for_state(client: RawClient, job_id: str, state: int, timeout: float = 60) -> job_pb2.Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.jobs.GetJob(job_pb2.GetJobRequest(id=job_id), metadata=client.metadata).job
        if job.state == state:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached state {state}: {job}")


def worker_pid(server, backend: str = "ideal_24") -> int:
    return server.running.runtime._dispatch.qpus[backend].worker.pid


def test_a_heavy_job_leaves_the_server_answering_and_other_backends_running(server, client):
    slow = client.create_job([(heavy(24), None, 4)], backend="ideal_24")
    wait_for_state(client, slow.id, job_pb2.Job.STATE_RUNNING)
    other = client.create_job([isa(bell(), "fake_torino")], backend="fake_torino")
    for _ in range(20):  # each answered within its 2 s deadline while the heavy job runs
        backend = client.backends.GetBackend(
            backend_pb2.GetBackendRequest(name="ideal_24"), metadata=client.metadata, timeout=2
        )
        assert backend.backend.name == "ideal_24"
    assert client.wait(other.id).state == job_pb2.Job.STATE_DONE  # another backend ran meanwhile
    running = client.jobs.GetJob(job_pb2.GetJobRequest(id=slow.id), metadata=client.metadata)
    assert running.job.state == job_pb2.Job.STATE_RUNNING  # still simulating meanwhile
    client.jobs.CancelJob(job_pb2.CancelJobRequest(id=slow.id), metadata=client.metadata)


def test_cancelling_a_running_job_stops_it_and_frees_the_qpu(client):
    slow = client.create_job([(heavy(24), None, 4)], backend="ideal_24")
    queued = client.create_job([isa(bell(), "ideal_24")], backend="ideal_24")
    wait_for_state(client, slow.id, job_pb2.Job.STATE_RUNNING)
    time.sleep(1)
    cancelled_at = time.monotonic()
    client.jobs.CancelJob(job_pb2.CancelJobRequest(id=slow.id), metadata=client.metadata)
    ended = client.wait(slow.id)
    assert ended.state == job_pb2.Job.STATE_CANCELLED
    assert "stopped" in ended.error_message
    assert ended.usage_seconds < 10  # charged for the time it ran, not a whole shot's 10 s
    next_job = client.wait(queued.id)
    assert next_job.state == job_pb2.Job.STATE_DONE
    assert next_job.start_time.ToDatetime().timestamp() < time.time()
    assert time.monotonic() - cancelled_at < 30  # the next job did not wait for the heavy one


def test_max_execution_time_stops_a_running_job_with_an_error_naming_it(client):
    job = client.create_job([(heavy(24), None, 4)], backend="ideal_24", max_execution_time=3)
    ended = client.wait(job.id)
    assert ended.state == job_pb2.Job.STATE_ERROR
    assert "max_execution_time of 3 s" in ended.error_message
    assert 3 <= ended.usage_seconds < 8


def test_a_worker_killed_mid_job_runs_the_job_again_with_its_seed_and_it_finishes_once(
    server, client
):
    job = client.create_job([(heavy(20), None, 4)], backend="ideal_24")  # no seed_simulator
    wait_for_state(client, job.id, job_pb2.Job.STATE_RUNNING)
    time.sleep(0.5)
    os.kill(worker_pid(server), signal.SIGKILL)
    ended = client.wait(job.id)
    assert ended.state == job_pb2.Job.STATE_DONE
    assert ended.attempts == 2
    result = client.result(job.id)
    assert result[0].data.c.num_shots == 4
    # The second attempt drew the shots of the seed derived from the job's id, as every
    # attempt does: a result delivered before a crash is the one the job gives again.
    again = client.run([(heavy(20), None, 4)], backend="ideal_24", seed_simulator=job_seed(job.id))
    assert (again[0].data.c.array == result[0].data.c.array).all()


def test_a_job_that_keeps_killing_its_worker_ends_in_error_after_the_attempt_limit(server, client):
    job = client.create_job([(heavy(22), None, 20)], backend="ideal_24")
    for attempt in (1, 2):
        running = wait_for_state(client, job.id, job_pb2.Job.STATE_RUNNING)
        while running.attempts < attempt:  # the rerun may start before we look
            time.sleep(0.05)
            running = wait_for_state(client, job.id, job_pb2.Job.STATE_RUNNING)
        assert running.attempts == attempt
        os.kill(worker_pid(server), signal.SIGKILL)
    ended = client.wait(job.id)
    assert ended.state == job_pb2.Job.STATE_ERROR
    # killed as it ran the job, or as its fresh process started: either way it died
    assert "died while it" in ended.error_message
    assert "max_attempts is 2" in ended.error_message
    assert client.run([isa(bell(), "ideal_24")], backend="ideal_24")[0].data.meas.num_shots == 4096


def test_sigterm_stops_the_server_promptly_while_a_heavy_job_runs(tmp_path):
    data = tmp_path / "data"
    config = base_config(
        data, server={"listen": "127.0.0.1:0", "data_dir": str(data), "shutdown_grace": "1s"}
    )
    with ServerProcess(tmp_path, config) as server:
        client = RawClient(server)
        job = client.create_job([(heavy(24), None, 4)], backend="ideal_24")
        wait_for_state(client, job.id, job_pb2.Job.STATE_RUNNING)
        began = time.monotonic()
        assert server.terminate() == 0
        assert time.monotonic() - began < 10  # the job alone would run for 40 s
        server.start()
        client = RawClient(server)
        again = wait_for_state(client, job.id, job_pb2.Job.STATE_RUNNING)
        assert again.attempts == 2  # it runs again after the restart
        client.jobs.CancelJob(job_pb2.CancelJobRequest(id=job.id), metadata=client.metadata)
        assert client.wait(job.id).state == job_pb2.Job.STATE_CANCELLED


def test_get_job_result_with_wait_streams_the_result_once_the_job_is_done(client):
    job = client.create_job([(heavy(20), None, 4)], backend="ideal_24", seed_simulator=5)
    with pytest.raises(grpc.RpcError) as not_yet:
        list(
            client.jobs.GetJobResult(
                job_pb2.GetJobResultRequest(id=job.id), metadata=client.metadata
            )
        )
    assert not_yet.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    chunks = list(
        client.jobs.GetJobResult(
            job_pb2.GetJobResultRequest(id=job.id, wait=True), metadata=client.metadata, timeout=120
        )
    )
    assert chunks[0].job.state == job_pb2.Job.STATE_DONE
    assert chunks[0].job.usage_seconds > 0
    assert client.result(job.id)[0].data.c.num_shots == 4


def test_waiting_for_the_result_of_a_job_that_is_cancelled_fails_naming_its_state(client):
    job = client.create_job([(heavy(24), None, 4)], backend="ideal_24")
    waiting = client.jobs.GetJobResult(
        job_pb2.GetJobResultRequest(id=job.id, wait=True), metadata=client.metadata, timeout=120
    )
    wait_for_state(client, job.id, job_pb2.Job.STATE_RUNNING)
    client.jobs.CancelJob(job_pb2.CancelJobRequest(id=job.id), metadata=client.metadata)
    with pytest.raises(grpc.RpcError) as ended:
        list(waiting)
    assert ended.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "CANCELLED" in ended.value.details()


def test_a_frozen_worker_is_replaced_after_its_heartbeat_timeout_and_the_job_runs_again(
    tmp_path,
):
    """SIGSTOP on the worker mid-job (a frozen process: it neither answers nor dies): after
    [execution] worker_heartbeat_timeout without CPU time the server replaces it and the job
    runs again on a fresh worker, to DONE, with the frozen one killed. The first attempt ran
    for seconds without a beat of its own (Aer holds the GIL): computing is the heartbeat."""
    config = base_config(tmp_path, execution={"worker_heartbeat_timeout": "3s"})
    with start_server(config) as handle:
        client = RawClient(handle)
        job = client.create_job([(heavy(22), None, 6)], backend="ideal_24")  # about 7 s
        wait_for_state(client, job.id, job_pb2.Job.STATE_RUNNING)
        time.sleep(2.5)  # longer than the timeout's share of the run: it computed meanwhile
        frozen = worker_pid(handle)
        os.kill(frozen, signal.SIGSTOP)
        try:
            ended = client.wait(job.id)
        finally:
            try:
                os.kill(frozen, signal.SIGCONT)
            except ProcessLookupError:
                pass
        assert ended.state == job_pb2.Job.STATE_DONE
        assert ended.attempts == 2
        assert worker_pid(handle) != frozen
        assert _gone(frozen)


def _gone(pid: int, timeout: float = 10.0) -> bool:
    """Whether process ``pid`` ends (exits, or is killed and waits to be reaped) in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rpartition(")")[2].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False
