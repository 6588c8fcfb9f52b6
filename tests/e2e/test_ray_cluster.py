"""Backends on a real Ray cluster (``[execution] engine = "ray"``).

The module starts a local Ray cluster on this machine with Ray's own multi-node test utility
(``ray.cluster_utils.Cluster``): a head node with one CPU and no QPU resource, and a second node
offering ``{"qpu_torino": 1}``. The server (in this process) joins it with
``ray_address = <the head's address>``; its ``fake_torino`` backend asks for
``ray_resources = {qpu_torino = 1}``, so its actor can only live on the second node.

Shown here: jobs run on that node (``metrics()["executor"]``); killing the node mid-job leaves
the job waiting (QUEUED, the backend not operational, naming the reason) and it completes once
after a node with the resource rejoins (attempts == 2); the results equal the local engine's
for the same seed, bit for bit; cancelling a running Ray job ends it CANCELLED and frees the
QPU. The jobs are genuinely heavy for Aer (a mid-circuit measurement on 20 entangled qubits:
Aer simulates shot by shot, about half a second a shot here), not sleeps.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from ray.cluster_utils import Cluster

from qsession import RuntimeService
from qsession.execution import load_profile
from qsession.v1 import backend_pb2, job_pb2
from tests.circuits import bell, mid_circuit_measured
from tests.conftest import base_config, start_server
from tests.e2e.conftest import RawClient

QPU_RESOURCE = {"qpu_torino": 1}
WAITING = "waiting for a Ray node offering {'qpu_torino': 1}"
SEED = 1234


def torino_isa(circuit: QuantumCircuit) -> QuantumCircuit:
    target = load_profile("fake_torino").target
    return generate_preset_pass_manager(target=target, optimization_level=1, seed_transpiler=7).run(
        circuit
    )


def heavy(num_qubits: int = 20) -> QuantumCircuit:
    """A fake_torino ISA circuit that Aer simulates shot by shot (see
    ``tests.circuits.mid_circuit_measured``)."""
    return torino_isa(mid_circuit_measured(num_qubits))


class RayCluster:
    """The module's local Ray cluster: the head and the node offering the QPU resource."""

    def __init__(self):
        self.cluster = Cluster(
            initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
        )
        self.qpu_node = self.add_qpu_node()

    @property
    def address(self) -> str:
        return self.cluster.address

    def add_qpu_node(self):
        """Start a node offering one CPU and ``{"qpu_torino": 1}``."""
        node = self.cluster.add_node(num_cpus=1, resources=QPU_RESOURCE)
        self.qpu_node = node
        return node

    def kill_qpu_node(self) -> None:
        """Kill the QPU node's processes at once (SIGKILL), as a machine that crashes."""
        self.cluster.remove_node(self.qpu_node, allow_graceful=False)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[RayCluster]:
    cluster = RayCluster()
    try:
        yield cluster
    finally:
        cluster.cluster.shutdown()


def ray_config(data_dir, address: str) -> dict:
    return base_config(
        data_dir,
        backends=[{"name": "fake_torino", "profile": "fake_torino", "ray_resources": QPU_RESOURCE}],
        execution={"engine": "ray", "ray_address": address, "max_attempts": 3},
    )


@pytest.fixture(scope="module")
def server(ray_cluster, tmp_path_factory) -> Iterator:
    with start_server(ray_config(tmp_path_factory.mktemp("ray"), ray_cluster.address)) as handle:
        yield handle


@pytest.fixture(scope="module")
def client(server) -> RawClient:
    client = RawClient(server)
    client.handle.backend = "fake_torino"
    return client


@pytest.fixture(scope="module")
def local_engine(tmp_path_factory) -> dict:
    """The same jobs with the same seed on a server with the local engine: the bell job's
    and the heavy job's results, and where the heavy job ran."""
    config = base_config(
        tmp_path_factory.mktemp("local"),
        backends=[{"name": "fake_torino", "profile": "fake_torino"}],
    )
    with start_server(config) as handle:
        local = RawClient(handle)
        local.handle.backend = "fake_torino"
        bell_result = local.run([(torino_isa(bell()), None, 100)], seed_simulator=SEED)
        job = local.create_job([(heavy(), None, 12)], seed_simulator=SEED)
        assert local.wait(job.id).state == job_pb2.Job.STATE_DONE
        return {
            "bell": bell_result,
            "heavy": local.result(job.id),
            "executor": RuntimeService(url=handle.address, token=handle.token)
            .job(job.id)
            .metrics()["executor"],
        }


def get_job(client: RawClient, job_id: str) -> job_pb2.Job:
    return client.jobs.GetJob(job_pb2.GetJobRequest(id=job_id), metadata=client.metadata).job


def get_backend(client: RawClient) -> backend_pb2.Backend:
    return client.backends.GetBackend(
        backend_pb2.GetBackendRequest(name="fake_torino"), metadata=client.metadata
    ).backend


def wait_until(condition, timeout: float = 90, what: str = "the condition"):
    """Poll ``condition()`` until it returns something true; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def wait_ready(client: RawClient) -> backend_pb2.Backend:
    return wait_until(
        lambda: (b := get_backend(client)).operational and b, what="the backend to be ready"
    )


def running(client: RawClient, job_id: str, attempts: int = 1) -> job_pb2.Job:
    return wait_until(
        lambda: (
            (job := get_job(client, job_id)).state == job_pb2.Job.STATE_RUNNING
            and job.attempts == attempts
            and job
        ),
        what=f"job {job_id} to run (attempt {attempts})",
    )


class StateRecorder:
    """Every state a job's WatchJobs events show, from its first event (after_revision=0)."""

    def __init__(self, client: RawClient, job_id: str):
        self.states: list[tuple[int, int]] = []  # (state, attempts)
        self._stream = client.jobs.WatchJobs(
            job_pb2.WatchJobsRequest(after_revision=0, job_ids=[job_id]),
            metadata=client.metadata,
            timeout=300,
        )
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        for event in self._stream:
            if event.HasField("job"):
                self.states.append((event.job.state, event.job.attempts))
                if event.job.state in (job_pb2.Job.STATE_DONE, job_pb2.Job.STATE_ERROR):
                    return

    def finished(self, timeout: float = 120) -> list[tuple[int, int]]:
        self._thread.join(timeout)
        self._stream.cancel()
        return self.states


def test_the_backend_runs_its_jobs_on_the_node_offering_its_resource(ray_cluster, server, client):
    backend = wait_ready(client)
    assert backend.status_message == "active"
    job = client.create_job([(torino_isa(bell()), None, 100)], seed_simulator=SEED)
    assert client.wait(job.id).state == job_pb2.Job.STATE_DONE
    metrics = RuntimeService(url=server.address, token=server.token).job(job.id).metrics()
    assert metrics["executor"] == {
        "engine": "ray",
        "node_id": ray_cluster.qpu_node.node_id,
        "host": socket.gethostname(),
    }
    head = ray_cluster.cluster.head_node.node_id
    assert metrics["executor"]["node_id"] != head  # the head offers no qpu_torino


def test_a_node_killed_mid_job_leaves_the_job_waiting_until_a_node_rejoins(
    ray_cluster, server, client, local_engine
):
    wait_ready(client)
    job = client.create_job([(heavy(), None, 12)], seed_simulator=SEED)
    history = StateRecorder(client, job.id)
    first = running(client, job.id)
    assert first.executor.node_id == ray_cluster.qpu_node.node_id
    time.sleep(1)
    ray_cluster.kill_qpu_node()

    # The job waits, QUEUED again; the backend says why it is not operational.
    queued = wait_until(
        lambda: (j := get_job(client, job.id)).state == job_pb2.Job.STATE_QUEUED and j,
        what="the job to be queued again",
    )
    assert queued.attempts == 1 and not queued.error_message
    assert queued.executor.node_id == first.executor.node_id  # where its last attempt ran
    backend = get_backend(client)
    assert not backend.operational
    assert backend.status_message == WAITING
    time.sleep(3)  # no node offers the resource: it keeps waiting, it does not fail
    assert get_job(client, job.id).state == job_pb2.Job.STATE_QUEUED

    new_node = ray_cluster.add_qpu_node()
    done = client.wait(job.id, timeout=180)
    assert done.state == job_pb2.Job.STATE_DONE, done.error_message
    assert done.attempts == 2
    assert done.executor.node_id == new_node.node_id
    assert get_backend(client).operational

    # Exactly once to DONE: queued, running, queued again when the node died, running on the
    # new node, done.
    states = history.finished()
    assert states == [
        (job_pb2.Job.STATE_QUEUED, 0),
        (job_pb2.Job.STATE_RUNNING, 1),
        (job_pb2.Job.STATE_QUEUED, 1),
        (job_pb2.Job.STATE_RUNNING, 2),
        (job_pb2.Job.STATE_DONE, 2),
    ]
    # The run on the new node gives what the local engine gives for the same seed.
    rerun = client.result(job.id)
    assert rerun[0].data.c.num_shots == 12
    assert (rerun[0].data.c.array == local_engine["heavy"][0].data.c.array).all()


def test_results_equal_the_local_engines_for_the_same_seed(client, local_engine):
    ray_bell = client.run([(torino_isa(bell()), None, 100)], seed_simulator=SEED)
    local_bell = local_engine["bell"]
    assert ray_bell[0].data.meas.num_shots == 100
    assert (ray_bell[0].data.meas.array == local_bell[0].data.meas.array).all()
    assert local_engine["executor"] == {
        "engine": "local",
        "node_id": "",
        "host": socket.gethostname(),
    }


def test_cancelling_a_running_ray_job_ends_it_cancelled_and_frees_the_qpu(client):
    wait_ready(client)
    slow = client.create_job([(heavy(), None, 40)])
    queued = client.create_job([(torino_isa(bell()), None, 10)])
    running(client, slow.id)
    time.sleep(1)
    cancelled_at = time.monotonic()
    client.jobs.CancelJob(job_pb2.CancelJobRequest(id=slow.id), metadata=client.metadata)
    ended = client.wait(slow.id)
    assert ended.state == job_pb2.Job.STATE_CANCELLED
    assert "stopped" in ended.error_message
    assert ended.usage_seconds < 10  # charged for the time it ran, not the 20 s it needs
    next_job = client.wait(queued.id, timeout=120)
    assert next_job.state == job_pb2.Job.STATE_DONE
    assert time.monotonic() - cancelled_at < 60  # on a fresh actor, not after the slow job
    assert wait_ready(client).status_message == "active"


def test_max_execution_time_stops_a_ray_job_with_an_error_naming_it(client):
    wait_ready(client)
    job = client.create_job([(heavy(), None, 40)], max_execution_time=2)
    ended = client.wait(job.id, timeout=120)
    assert ended.state == job_pb2.Job.STATE_ERROR
    assert "max_execution_time of 2 s" in ended.error_message
    assert ended.executor.engine == "ray"


def test_a_job_record_keeps_where_it_ran_and_rows_stored_before_load_without_it():
    from qsession.lifecycle.model import Job, Placement, Program
    from qsession.runtime import records

    inputs = records.JobInputs(options=job_pb2.JobOptions(), num_pubs=1)
    job = Job(id="j", instance="lab", backend="fake_torino", program=Program.SAMPLER)
    job.placement = Placement("ray", "ab12", "node-1")
    row = records.job_record(job, inputs)
    assert records.job_from_record(row) == job
    del row["placement"]  # a row written before the field existed
    assert records.job_from_record(row).placement is None
