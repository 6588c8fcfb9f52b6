"""What the runtime scenarios (``bench/scenarios/``) share: a bench server, a raw gRPC client,
the small and the heavy job, waiting for jobs, a timing helper, and the "Runtime" table.

A bench server is :class:`qsession.testing.ServerProcess`: ``qsession serve`` in a child
process on a free port, with one premium instance whose token is :data:`TOKEN`. Its CPU time
and resident memory are the server process's own (``/proc/<pid>/stat`` and ``status``); its
backend workers and circuit sandboxes are separate processes and not counted.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from qiskit import ClassicalRegister, QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from qsession import SamplerV2
from qsession.execution import load_profile
from qsession.testing import ServerProcess
from qsession.v1 import backend_pb2, backend_pb2_grpc, job_pb2, job_pb2_grpc, types_pb2
from qsession.wire import encode_circuit

TOKEN = "bench-token"
METADATA = (("authorization", f"Bearer {TOKEN}"),)
POLL = 0.1
"""Seconds between polls of the server while a client waits for jobs."""
FINAL = {job_pb2.Job.STATE_DONE, job_pb2.Job.STATE_ERROR, job_pb2.Job.STATE_CANCELLED}
NO_QUEUE_LIMIT = {"limits": {"max_queued_jobs_per_instance": 1_000_000}}
"""Lets a scenario keep more jobs queued than the default 1,000 per instance (the tables to
pass to :func:`server_process`)."""


# ------------------------------------------------------------------------------ the server


@contextmanager
def server_process(
    backends: Sequence[str | Mapping[str, Any]] = ("ideal_24",),
    server: Mapping[str, Any] | None = None,
    log_level: str = "WARNING",
    log_to_file: bool = False,
    **tables: Any,
) -> Iterator[ServerProcess]:
    """A `qsession serve` subprocess on an ephemeral port, with one premium instance whose
    token is :data:`TOKEN`; yields it once it reports SERVING, terminates it on exit.

    Args:
        backends: built-in profile names, each a noiseless backend of that name, or whole
            ``[[backends]]`` entries.
        server: more keys for the ``[server]`` table (e.g. ``{"durability": "process"}``).
        log_level: the server's log level.
        log_to_file: write the server's log to its ``server.log`` (``ServerProcess.log``)
            rather than to this process's terminal.
        tables: more tables of the configuration by name (e.g. ``limits={...}``).
    """
    with tempfile.TemporaryDirectory() as data:
        config = {
            "server": {"listen": "127.0.0.1:0", "data_dir": data, **(server or {})},
            "instances": [{"name": "bench", "plan": "premium", "tokens": [TOKEN]}],
            "backends": [
                {"name": b, "profile": b} if isinstance(b, str) else dict(b) for b in backends
            ],
            **tables,
        }
        with ServerProcess(
            Path(data), config, log_level=log_level, log_to_file=log_to_file
        ) as process:
            try:
                yield process
            finally:
                process.terminate(timeout=30)


# ---------------------------------------------------------------------------------- the rows


@dataclass
class Row:
    """One figure: ours, the reference it is read against (None: an absolute figure), the
    target and whether it is met (None: no target), and a note saying how it was measured."""

    scenario: str
    metric: str
    unit: str
    reference: float | None
    ours: float
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """``ours / reference``, or None without a reference."""
        return None if not self.reference else self.ours / self.reference


def _figure(value: float | None) -> str:
    if value is None or np.isnan(value):
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def format_table(rows: list[Row]) -> str:
    """The rows as a table, each row's note once below it, numbered."""
    notes: dict[str, int] = {}
    header = (
        f"{'scenario':<21} {'metric':<44} {'reference':>10} {'ours':>10} {'unit':<4} "
        f"{'ratio':>7} {'target':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        number = notes.setdefault(r.note, len(notes) + 1)
        ratio = "" if r.ratio is None else f"{r.ratio:.2f}x"
        verdict = {True: "ok", False: "MISS", None: ""}[r.met]
        lines.append(
            f"{r.scenario:<21} {r.metric:<44} {_figure(r.reference):>10} {_figure(r.ours):>10} "
            f"{r.unit:<4} {ratio:>7} {r.target:>8} {verdict:<4} [{number}]"
        )
    lines += [f"[{number}] {note}" for note, number in notes.items()]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- clients


class Client:
    """Raw stubs on one channel to a bench server, authenticated as the bench instance.

    Args:
        address: ``host:port``.
        own_connection: open a TCP connection of its own (gRPC otherwise shares one between
            channels to the same address in a process).
    """

    def __init__(self, address: str, own_connection: bool = False):
        options = [("grpc.use_local_subchannel_pool", 1)] if own_connection else []
        self.channel = grpc.insecure_channel(address, options=options)
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.jobs = job_pb2_grpc.JobServiceStub(self.channel)
        self.backends = backend_pb2_grpc.BackendServiceStub(self.channel)

    def create(self, backend: str = "ideal_24", tags: Sequence[str] = ()) -> str:
        """Submit the small job (:func:`small_job`); its id."""
        return self.jobs.CreateJob(small_job(backend, tags), metadata=METADATA).job.id

    def get_backend(self, name: str = "ideal_24") -> backend_pb2.Backend:
        """GetBackend's answer."""
        request = backend_pb2.GetBackendRequest(name=name)
        return self.backends.GetBackend(request, metadata=METADATA).backend

    def revision(self) -> int:
        """The server's newest event revision (read from ListJobs)."""
        request = job_pb2.ListJobsRequest(page_size=1)
        return self.jobs.ListJobs(request, metadata=METADATA).revision

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()


def x_circuit() -> QuantumCircuit:
    """The small job's circuit: one qubit flipped and measured (ISA for ideal_24)."""
    circuit = QuantumCircuit(1)
    circuit.x(0)
    circuit.measure_all()
    return circuit


X_PUB = types_pb2.SamplerPub(circuit=encode_circuit(x_circuit()), shots=10)
"""The small job's PUB: :func:`x_circuit` as QPY (as the SDK sends it), 10 shots."""


def small_job(backend: str = "ideal_24", tags: Sequence[str] = ()) -> job_pb2.CreateJobRequest:
    """A CreateJobRequest for the small job (:data:`X_PUB`) on ``backend``."""
    return job_pb2.CreateJobRequest(
        backend=backend, program=job_pb2.PROGRAM_SAMPLER, sampler_pubs=[X_PUB], tags=list(tags)
    )


def sdk_round_trip(sampler: SamplerV2, circuit: QuantumCircuit) -> float:
    """Seconds for ``sampler.run([circuit], shots=10).result()``; checks every shot read 1."""
    start = time.perf_counter()
    counts = sampler.run([circuit], shots=10).result()[0].data.meas.get_counts()
    seconds = time.perf_counter() - start
    assert counts == {"1": 10}, f"the small job measured {counts}, expected all ones"
    return seconds


def submit_pipelined(client: Client, count: int, window: int = 64) -> list[str]:
    """Submit ``count`` small jobs to ideal_24 as CreateJob futures from one thread, keeping
    at most about ``window`` queued (GetBackend's pending_jobs, read every :data:`POLL` seconds
    while the window is full), so the backend never idles and the queue stays short; return
    their ids once all have finished. A failed CreateJob raises its RpcError.
    """
    futures = []
    queued = 0
    for _ in range(count):
        while queued >= window:
            time.sleep(POLL)
            queued = client.get_backend().pending_jobs
        futures.append(client.jobs.CreateJob.future(small_job(), metadata=METADATA))
        queued += 1
    ids = [future.result().job.id for future in futures]
    drain(client, ids[-window:])
    return ids


def drain(client: Client, recent: Sequence[str]) -> None:
    """Wait until ideal_24's queue is empty and the ``recent`` jobs have finished: the last
    jobs submitted, among which is the last one the backend runs (it runs first in, first
    out)."""
    while client.get_backend().pending_jobs:
        time.sleep(POLL)
    wait_finished(client, recent)


def wait_finished(client: Client, job_ids: Iterable[str], timeout: float = 600.0) -> list[int]:
    """Poll GetJob until each job has finished; their final states.

    Raises:
        TimeoutError: a job was unfinished after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    states = []
    for job_id in job_ids:
        request = job_pb2.GetJobRequest(id=job_id)
        while (state := client.jobs.GetJob(request, metadata=METADATA).job.state) not in FINAL:
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} did not finish in {timeout:g} s")
            time.sleep(POLL / 10)
        states.append(state)
    return states


def check_all_done(client: Client) -> None:
    """Check that no job of the instance ended ERROR or CANCELLED (ListJobs by state).

    Raises:
        RuntimeError: naming up to five such jobs and their errors.
    """
    failed = job_pb2.ListJobsRequest(
        page_size=5, states=[job_pb2.Job.STATE_ERROR, job_pb2.Job.STATE_CANCELLED]
    )
    jobs = client.jobs.ListJobs(failed, metadata=METADATA).jobs
    if jobs:
        raise RuntimeError(f"jobs did not end DONE: {[(j.id, j.error_message) for j in jobs]}")


def percentiles_ms(
    call: Callable[[], object], repeats: int, interval: float
) -> tuple[float, float]:
    """``(p50, p99)`` wall time of ``repeats`` sequential calls started every ``interval``
    seconds (or back to back when a call takes longer), in milliseconds."""
    times = []
    next_start = time.perf_counter()
    for _ in range(repeats):
        time.sleep(max(0.0, next_start - time.perf_counter()))
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
        next_start = start + interval
    p50, p99 = np.percentile(times, [50, 99]) * 1e3
    return float(p50), float(p99)


# ------------------------------------------------------------------------------ the heavy job


def heavy_circuit(num_qubits: int = 24, layers: int = 2) -> QuantumCircuit:
    """``layers`` times: H and T on every qubit and a CX chain (T keeps it off Aer's stabilizer
    method), with one mid-circuit measurement after the first; then a final measurement of
    every qubit. The mid-circuit measurement makes Aer simulate each shot separately on a full
    ``num_qubits`` statevector. ISA for ideal_24."""
    circuit = QuantumCircuit(num_qubits)
    mid = ClassicalRegister(1, "mid")
    circuit.add_register(mid)
    for layer in range(layers):
        circuit.h(range(num_qubits))
        circuit.t(range(num_qubits))
        for q in range(num_qubits - 1):
            circuit.cx(q, q + 1)
        if layer == 0:
            circuit.measure(0, mid[0])
    circuit.measure_all()
    target = load_profile("ideal_24").target
    return generate_preset_pass_manager(optimization_level=1, target=target).run(circuit)
