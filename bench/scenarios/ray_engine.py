"""The Ray engine: per-job overhead of ``[execution] engine = "ray"`` against the local engine,
and the throughput of 2 backends on 2 Ray nodes against 1, on a local Ray cluster that the
scenario starts and stops itself."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from harness import (
    METADATA,
    POLL,
    TOKEN,
    Client,
    Row,
    heavy_circuit,
    sdk_round_trip,
    server_process,
    wait_finished,
    x_circuit,
)

from qsession import RuntimeService, SamplerV2
from qsession.v1 import job_pb2, types_pb2
from qsession.wire import encode_circuit


@contextmanager
def local_ray_cluster(nodes: int) -> Iterator[str]:
    """A Ray cluster on this machine (Ray's multi-node test utility): a head that hosts no
    actor (no CPU) and ``nodes`` nodes of one CPU each, node ``i`` offering ``{"qpu_i": 1}``;
    yields the head's address, shuts every node down on exit."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False}
    )
    try:
        for i in range(nodes):
            cluster.add_node(num_cpus=1, resources={f"qpu_{i}": 1})
        yield cluster.address
    finally:
        cluster.shutdown()


def ray_backends(count: int) -> list[dict[str, Any]]:
    """``count`` ideal_24 backends ``qpu_i``, each pinned to the node offering ``qpu_i``."""
    return [
        {"name": f"qpu_{i}", "profile": "ideal_24", "ray_resources": {f"qpu_{i}": 1}}
        for i in range(count)
    ]


def ray_execution(address: str) -> dict[str, Any]:
    """The ``[execution]`` table of the Ray engine at ``address``."""
    return {"engine": "ray", "ray_address": address}


def small_job_ms(address: str, backend: str, repeats: int) -> float:
    """Median ms of the small job's SDK round trip on ``backend``, once it is operational
    (a Ray backend: once its actor is up) and after a warm-up."""
    client = Client(address)
    deadline = time.monotonic() + 120
    while not client.get_backend(backend).operational:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{backend}: {client.get_backend(backend).status_message}")
        time.sleep(POLL)
    service = RuntimeService(url=address, token=TOKEN)
    sampler = SamplerV2(mode=service.backend(backend))
    sdk_round_trip(sampler, x_circuit())
    median = statistics.median(sdk_round_trip(sampler, x_circuit()) for _ in range(repeats))
    service.close()
    client.close()
    return median * 1e3


def heavy_jobs_per_minute(address: str, backends: Sequence[str], jobs: int, shots: int) -> float:
    """Submit ``jobs`` :func:`heavy_circuit` (20 qubits) Sampler jobs round robin to
    ``backends`` at once; jobs per minute from the first submission to the last DONE."""
    pub = types_pb2.SamplerPub(circuit=encode_circuit(heavy_circuit(num_qubits=20)), shots=shots)
    client = Client(address)
    start = time.perf_counter()
    ids = [
        client.jobs.CreateJob(
            job_pb2.CreateJobRequest(
                backend=backends[i % len(backends)],
                program=job_pb2.PROGRAM_SAMPLER,
                sampler_pubs=[pub],
            ),
            metadata=METADATA,
        ).job.id
        for i in range(jobs)
    ]
    states = wait_finished(client, ids)
    seconds = time.perf_counter() - start
    client.close()
    assert set(states) == {job_pb2.Job.STATE_DONE}, states
    return jobs / seconds * 60


def ray_engine(repeats: int = 30, jobs: int = 8, shots: int = 2) -> list[Row]:
    """The Ray engine against the local one, and 2 Ray nodes against 1.

    Per-job overhead: the small job's SDK round trip (median of ``repeats``) on ideal_24 with
    the local engine, then on an ideal_24 backend whose actor lives on a Ray node. Throughput:
    ``jobs`` 20-qubit :func:`heavy_circuit` jobs of ``shots`` shots (execution dominates:
    about 2 s each), first all on one backend (one node), then round robin on two backends
    pinned to two nodes of one CPU each. The Ray cluster (a head and two nodes) runs on this
    machine, started and stopped here.
    """
    with server_process(backends=("ideal_24",)) as server:
        local_ms = small_job_ms(server.address, "ideal_24", repeats)
    with local_ray_cluster(nodes=2) as address:
        with server_process(backends=ray_backends(2), execution=ray_execution(address)) as server:
            ray_ms = small_job_ms(server.address, "qpu_0", repeats)
            small_job_ms(server.address, "qpu_1", 1)  # both actors up before the timing
            one_node = heavy_jobs_per_minute(server.address, ["qpu_0"], jobs, shots)
            two_nodes = heavy_jobs_per_minute(server.address, ["qpu_0", "qpu_1"], jobs, shots)
    scenario = "ray engine"
    return [
        Row(scenario, "small job round trip, Ray vs local engine", "ms", local_ms, ray_ms,
            note=f"the small job's SDK run().result() on ideal_24, median of {repeats} after a "
            "warm-up; ref = engine \"local\" (a worker process), ours = engine \"ray\" (an "
            "actor on a node of a local Ray cluster): the Ray overhead is "
            f"{ray_ms - local_ms:+.1f} ms a job"),
        Row(scenario, "heavy jobs/min, 2 backends on 2 nodes vs 1", "jobs", one_node, two_nodes,
            note=f"{jobs} Sampler jobs of a 20-qubit circuit with a mid-circuit measurement "
            f"({shots} shots, simulated shot by shot, ~2 s each), submitted at once; ref = all "
            "on one backend (one node), ours = round robin on two backends whose actors are "
            "pinned to two one-CPU nodes (ray_resources); ideal 2x"),
    ]  # fmt: skip
