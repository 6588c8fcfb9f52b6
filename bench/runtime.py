"""`make bench`'s "Runtime" table: the runtime core under load; where a figure has a reference
(the same call on an idle server, with a short history, or a cheaper call), both are measured
in the same run.

The scenarios, each a function returning ``Row``s; each starts its own ``qsession serve``
subprocesses (``service.server_process``) and talks to them over gRPC from this process, with
the SDK or the raw stubs:

- ``history_growth``: per-request cost with 1,000 and with 20,000 finished jobs of history.
- ``heavy_job_isolation``: API latency and other backends' jobs while one backend simulates
  a 24-qubit circuit shot by shot; how fast a cancel frees that backend.
- ``create_job_throughput``: CreateJob/s against GetBackend/s at 1, 8 and 32 clients.
- ``watch_delivery``: WatchJobs delivery latency to 1,000 concurrent subscribers.
- ``ray_engine``: per-job overhead of ``[execution] engine = "ray"`` against the local engine,
  and the throughput of 2 backends on 2 Ray nodes against 1 (on a local Ray cluster that the
  scenario starts and stops itself).

Server CPU and memory are the server process's own (``/proc/<pid>/stat`` and ``status``); its
backend workers and circuit sandboxes are separate processes and not counted. Client and
server share the machine's cores, so the throughput and delivery figures include the
client's own cost; the notes give both processes' CPU use where that matters.

``python bench/runtime.py [--scenario NAME ...]`` runs the scenarios alone.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection

import grpc
import numpy as np
import vqe  # bench/vqe.py
from google.protobuf.timestamp_pb2 import Timestamp
from qiskit import ClassicalRegister, QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from service import TOKEN, BenchServer, server_process  # bench/service.py

from qsession import RuntimeService, SamplerV2
from qsession.execution import load_profile
from qsession.v1 import backend_pb2, backend_pb2_grpc, job_pb2, job_pb2_grpc, types_pb2
from qsession.wire import encode_circuit

METADATA = (("authorization", f"Bearer {TOKEN}"),)
POLL = 0.1
"""Seconds between polls of the server while a client waits for jobs."""
FINAL = {job_pb2.Job.STATE_DONE, job_pb2.Job.STATE_ERROR, job_pb2.Job.STATE_CANCELLED}
NO_QUEUE_LIMIT = "[limits]\nmax_queued_jobs_per_instance = 1000000\n"
"""Lets a scenario keep more jobs queued than the default 1,000 per instance."""


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


# ------------------------------------------------------------------ 1. history growth


class HistoryServer:
    """A bench server, a client and an SDK sampler for it, and the ids of the jobs it ran."""

    def __init__(self, server: BenchServer, rng: random.Random):
        self.server = server
        self.client = Client(server.address)
        self.service = RuntimeService(url=server.address, token=TOKEN)
        self.sampler = SamplerV2(mode=self.service.backend("ideal_24"))
        self.history: list[str] = []
        self._rng = rng

    def fill(self, size: int) -> str:
        """Run small jobs until the history holds ``size``; say how many and how fast."""
        count, start = size - len(self.history), time.perf_counter()
        self.history += submit_pipelined(self.client, count)
        seconds = time.perf_counter() - start
        return f"{count:,} jobs in {seconds:.0f} s, {count / seconds:.0f}/s"

    def cpu_ms_per_job(self, count: int) -> float:
        """Server CPU per job (ms) over ``count`` more small jobs, submitted like the fill."""
        cpu = self.server.cpu_seconds()
        self.history += submit_pipelined(self.client, count)
        return (self.server.cpu_seconds() - cpu) / count * 1e3

    def create_on_idle_backend(self) -> float:
        """Seconds one CreateJob of the small job takes on an idle backend; its job is then
        waited for (untimed), so the next call finds the backend idle again."""
        start = time.perf_counter()
        job_id = self.client.create()
        seconds = time.perf_counter() - start
        self.history.append(job_id)
        wait_finished(self.client, [job_id])
        return seconds

    def calls(self) -> dict[str, Callable[[], object]]:
        """The calls whose latency is measured, by HISTORY_FIGURES name."""
        jobs, metadata = self.client.jobs, METADATA
        page = job_pb2.ListJobsRequest(page_size=50)
        unfinished = job_pb2.ListJobsRequest(
            page_size=50, states=[job_pb2.Job.STATE_QUEUED, job_pb2.Job.STATE_RUNNING]
        )
        circuit = x_circuit()
        return {
            "create": self.create_on_idle_backend,
            "get": lambda: jobs.GetJob(
                job_pb2.GetJobRequest(id=self._rng.choice(self.history)), metadata=metadata
            ),
            "list": lambda: jobs.ListJobs(page, metadata=metadata),
            "list_unfinished": lambda: jobs.ListJobs(unfinished, metadata=metadata),
            "sdk": lambda: sdk_round_trip(self.sampler, circuit),
            "get_backend": self.client.get_backend,
        }

    def close(self) -> None:
        """Wait for its jobs, check they all ended DONE, close the connections."""
        drain(self.client, self.history[-64:])
        check_all_done(self.client)
        self.service.close()
        self.client.close()


HISTORY_FIGURES = {
    "create": ("CreateJob latency (idle backend)", 30),
    "get": ("GetJob latency (random history jobs)", 50),
    "list": ("ListJobs page_size=50, first page", 50),
    "list_unfinished": ("ListJobs states=QUEUED|RUNNING (none match)", 20),
    "sdk": ("SDK run().result()", 10),
    "get_backend": ("GetBackend latency (control: no history)", 50),
}
"""The latencies of the history scenario: name -> (metric, calls per side per round)."""


def alternating(sides: Sequence[Callable[[], object]], calls: int) -> list[list[float]]:
    """Seconds of ``calls`` calls of each of ``sides``, made in turns call by call (the first
    side first on even calls, last on odd ones), so that a slow spell of the shared cores
    falls on every side alike. A call returning a float reports its own seconds."""
    times: list[list[float]] = [[] for _ in sides]
    for i in range(calls):
        order = range(len(sides)) if i % 2 == 0 else reversed(range(len(sides)))
        for j in order:
            start = time.perf_counter()
            reported = sides[j]()
            spent = time.perf_counter() - start
            times[j].append(reported if isinstance(reported, float) else spent)
    return times


def history_growth(
    small: int = 1_000, large: int = 20_000, cpu_window: int = 50, rounds: int = 5
) -> list[Row]:
    """Per-request cost at ``small`` and at ``large`` finished jobs of history.

    Two servers, filled with the small job on ideal_24 by :func:`submit_pipelined` (the
    backend, which runs one job at a time, is the bottleneck, so one submitting thread
    suffices) to ``small`` and ``large`` jobs, all of which must end DONE, then measured
    in turns so that other load on the shared cores weighs on both alike: server CPU per
    job, the median of ``rounds`` windows of ``cpu_window`` more jobs each, the windows
    alternating between the servers; each latency of :data:`HISTORY_FIGURES` as the lowest
    of ``rounds`` medians of calls alternating call by call between the servers. GetBackend's
    does not depend on the history and shows how alike the load was; last, each server's RSS.
    """
    rng = random.Random(11)
    with (
        server_process(extra_toml=NO_QUEUE_LIMIT) as small_server,
        server_process(extra_toml=NO_QUEUE_LIMIT) as large_server,
    ):
        sides = [HistoryServer(small_server, rng), HistoryServer(large_server, rng)]
        fills = [side.fill(size) for side, size in zip(sides, (small, large), strict=True)]
        cpu: list[list[float]] = [[], []]
        for _ in range(rounds):
            for side, found in zip(sides, cpu, strict=True):
                found.append(side.cpu_ms_per_job(cpu_window))
        calls = [side.calls() for side in sides]
        medians: dict[str, list[list[float]]] = {name: [[], []] for name in HISTORY_FIGURES}
        for _ in range(rounds):
            for name, (_, count) in HISTORY_FIGURES.items():
                times = alternating([side_calls[name] for side_calls in calls], count)
                for found, spent in zip(medians[name], times, strict=True):
                    found.append(statistics.median(spent) * 1e3)
        rss = [side.server.rss_bytes() / 1e6 for side in sides]
        for side in sides:
            side.close()
    note = (
        f"ref = a server with {small:,} finished jobs, ours = one with {large:,} (each plus the "
        "few hundred the measurements add), measured in turns. History: the small job "
        "(1-qubit X + measure as QPY, 10 shots) on ideal_24, CreateJob futures from one thread "
        f"on one channel, <= ~64 queued, all ended DONE (fills: {'; '.join(fills)}). "
        f"Latencies: sequential calls on the drained servers, alternating call by call between "
        f"them, the lowest of {rounds} medians of 10 to 50 calls each; CreateJob on an idle "
        "backend (each job is waited for before the next call). CPU: server process "
        f"utime+stime per job, the median of {rounds} windows of {cpu_window} jobs (submitted "
        "like the fill), alternating between the servers."
    )
    figures = [
        (metric, "ms", *(min(m) for m in medians[name]), name != "get_backend")
        for name, (metric, _) in HISTORY_FIGURES.items()
    ]
    figures[-1:-1] = [
        (
            f"server CPU per job ({cpu_window}-job windows)",
            "ms",
            *(statistics.median(c) for c in cpu),
            True,
        ),
        ("server RSS", "MB", *rss, True),
    ]
    return [
        Row(
            "history growth",
            metric,
            unit,
            at_small,
            at_large,
            "<=1.25x" if targeted else "",
            at_large <= 1.25 * at_small if targeted else None,
            note,
        )
        for metric, unit, at_small, at_large, targeted in figures
    ]


# ------------------------------------------------------------- 2. heavy job isolation


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


def torino_circuit() -> QuantumCircuit:
    """The small job's circuit transpiled for fake_torino."""
    target = load_profile("fake_torino").target
    return generate_preset_pass_manager(optimization_level=1, target=target).run(x_circuit())


def heavy_job_isolation(
    calls: int = 300, interval: float = 0.03, small_jobs: int = 3, shots: int = 4
) -> list[Row]:
    """API latency and fake_torino jobs while ideal_24 runs a long simulation; then how fast
    cancelling that job frees ideal_24.

    On a server with ideal_24 and fake_torino (noiseless), idle and then while a
    :func:`heavy_circuit` Sampler job (``shots`` shots) runs on ideal_24: GetBackend(ideal_24)
    p50/p99 over ``calls`` sequential calls, one every ``interval`` seconds, then
    ``small_jobs`` SDK round trips of the small job on fake_torino. Then a small ideal_24 job
    is queued behind the heavy one, the heavy one is cancelled, and the server's timestamps
    tell when it ended CANCELLED and when the next job started and ended.
    """
    heavy = heavy_circuit()
    torino = torino_circuit()
    with server_process(backends=("ideal_24", "fake_torino")) as server:
        client = Client(server.address)
        service = RuntimeService(url=server.address, token=TOKEN)
        ideal = SamplerV2(mode=service.backend("ideal_24"))
        fake_torino = SamplerV2(mode=service.backend("fake_torino"))
        sdk_round_trip(ideal, x_circuit())  # warm-up: both workers ready
        sdk_round_trip(fake_torino, torino)

        idle_p50, idle_p99 = percentiles_ms(client.get_backend, calls, interval)
        idle_job = statistics.median(sdk_round_trip(fake_torino, torino) for _ in range(small_jobs))

        job = ideal.run([heavy], shots=shots)
        started = time.monotonic()
        while job.status() != "RUNNING":
            time.sleep(POLL)
        busy_p50, busy_p99 = percentiles_ms(client.get_backend, calls, interval)
        busy_job = statistics.median(sdk_round_trip(fake_torino, torino) for _ in range(small_jobs))
        if job.status() != "RUNNING":
            raise RuntimeError(
                f"the heavy job ended {job.status()} before the measurements did: make "
                "heavy_circuit heavier"
            )
        next_id = client.create()
        ran = time.monotonic() - started
        cancel_time = time.time()
        client.jobs.CancelJob(job_pb2.CancelJobRequest(id=job.job_id()), metadata=METADATA)
        states = wait_finished(client, [job.job_id(), next_id])
        assert states == [job_pb2.Job.STATE_CANCELLED, job_pb2.Job.STATE_DONE], states
        cancelled, following = (
            client.jobs.GetJob(job_pb2.GetJobRequest(id=i), metadata=METADATA).job
            for i in (job.job_id(), next_id)
        )
        service.close()
        client.close()

    def since_cancel(timestamp: Timestamp) -> float:
        return timestamp.ToNanoseconds() / 1e9 - cancel_time

    note = (
        "ref = idle server, ours = while ideal_24 runs a 24-qubit Sampler job (H, T, CX chain, "
        f"a mid-circuit measurement, again, final measurement; {shots} shots, simulated shot "
        f"by shot). GetBackend(ideal_24): {calls} sequential calls, one every "
        f"{interval * 1e3:.0f} ms; fake_torino: the small job's SDK run().result(), median of "
        f"{small_jobs}. One channel."
    )
    cancel_note = (
        f"after the heavy job had run {ran:.0f} s, a small ideal_24 job was queued and the "
        "heavy one cancelled; times from the CancelJob call to the server's end_time of the "
        "heavy job and start_time/end_time of the next (the worker is replaced on cancel)."
    )
    scenario = "heavy job isolation"
    return [
        Row(scenario, "GetBackend p50", "ms", idle_p50, busy_p50, note=note),
        Row(scenario, "GetBackend p99", "ms", idle_p99, busy_p99, "<50 ms", busy_p99 < 50, note),
        Row(
            scenario,
            "fake_torino small job round trip",
            "ms",
            idle_job * 1e3,
            busy_job * 1e3,
            note=note,
        ),
    ] + [
        Row(scenario, f"cancel -> {what}", "s", None, since_cancel(when), note=cancel_note)
        for what, when in (
            ("heavy job CANCELLED", cancelled.end_time),
            ("next ideal_24 job RUNNING", following.start_time),
            ("next ideal_24 job DONE", following.end_time),
        )
    ]


# ------------------------------------------------------------- 3. CreateJob throughput


@dataclass
class Rate:
    """Calls per second over a window, the CPU the server and this client process used in it
    (in cores), and what the calls returned, per client."""

    per_second: float
    server_cpu: float
    client_cpu: float
    outputs: list[list]


def call_rate(
    server: BenchServer, clients: list[Client], call: Callable[[Client], object], seconds: float
) -> Rate:
    """``call`` in a loop on one thread per client for ``seconds``; completed calls per second
    (the window ends when the last call started before the deadline returns).

    Raises:
        grpc.RpcError: the first call that failed.
    """
    outputs: list[list] = [[] for _ in clients]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(clients) + 1)
    deadline = 0.0

    def loop(client: Client, out: list) -> None:
        barrier.wait()
        try:
            while time.monotonic() < deadline:
                out.append(call(client))
        except grpc.RpcError as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=loop, args=(c, out))
        for c, out in zip(clients, outputs, strict=True)
    ]
    for thread in threads:
        thread.start()
    cpu, own_cpu = server.cpu_seconds(), time.process_time()
    start = time.monotonic()
    deadline = start + seconds
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    if errors:
        raise errors[0]
    return Rate(
        per_second=sum(len(out) for out in outputs) / elapsed,
        server_cpu=(server.cpu_seconds() - cpu) / elapsed,
        client_cpu=(time.process_time() - own_cpu) / elapsed,
        outputs=outputs,
    )


def create_job_throughput(
    concurrency: Sequence[int] = (1, 8, 32), seconds: float = 3.0
) -> list[Row]:
    """CreateJob/s against GetBackend/s at each concurrency, measured back to back.

    Each client is a thread with its own channel and TCP connection, calling in a loop for
    ``seconds``: GetBackend(ideal_24), then (after the queue drained) CreateJob of the small
    job on ideal_24; the jobs run as they are created, and the queue drains before the next
    measurement. The instance's queued-job limit is lifted.
    """
    rows = []
    with server_process(extra_toml=NO_QUEUE_LIMIT) as server:
        control = Client(server.address)
        drain(control, [control.create()])  # warm-up: the worker is ready
        for count in concurrency:
            clients = [Client(server.address, own_connection=True) for _ in range(count)]
            backend = call_rate(server, clients, lambda c: c.get_backend(), seconds)
            create = call_rate(server, clients, lambda c: c.create(), seconds)
            drain(control, [ids[-1] for ids in create.outputs if ids])
            for client in clients:
                client.close()
            fraction = create.per_second / backend.per_second
            rows.append(
                Row(
                    "CreateJob throughput",
                    f"CreateJob/s vs GetBackend/s, {count} clients",
                    "/s",
                    backend.per_second,
                    create.per_second,
                    ">=0.33x",
                    fraction >= 1 / 3,
                    f"{count} threads, each its own channel and connection, calling for "
                    f"{seconds:g} s; ref = GetBackend/s, ours = CreateJob/s (small job, "
                    f"ideal_24, run as created). CPU, GetBackend/CreateJob, in cores: server "
                    f"{backend.server_cpu:.2f}/{create.server_cpu:.2f}, this client "
                    f"{backend.client_cpu:.2f}/{create.client_cpu:.2f} (the backend's worker "
                    "and the circuit sandboxes run beside them on the same cores).",
                )
            )
        check_all_done(control)
        control.close()
    return rows


# ------------------------------------------------------------- 4. WatchJobs delivery


WATCH_TAG = "watched"
"""Every job of the delivery scenario carries it; every subscriber filters on it."""
PHASES = ("probe", "steady", "burst")
"""The second tag of each job: which part of the delivery scenario submitted it."""


async def _subscribe(
    stub: job_pb2_grpc.JobServiceStub,
    request: job_pb2.WatchJobsRequest,
    latencies: dict[str, list[float]],
    done: dict[str, int],
    ended: list[grpc.StatusCode],
) -> None:
    """One subscriber: record each event's delivery latency (receive time minus the event's
    server time, seconds) under its job's phase, count DONE events per job, and append the
    status the stream ended with."""
    try:
        async for response in stub.WatchJobs(request, metadata=METADATA):
            received = time.time()
            job = response.job
            phase = next((tag for tag in job.tags if tag in PHASES), "")
            latencies[phase].append(received - response.time.ToNanoseconds() / 1e9)
            if job.state == job_pb2.Job.STATE_DONE:
                done[job.id] = done.get(job.id, 0) + 1
    except grpc.aio.AioRpcError as exc:
        ended.append(exc.code())
    except asyncio.CancelledError:
        ended.append(grpc.StatusCode.CANCELLED)
        raise


async def _watchers(
    address: str, count: int, channels: int, after: int, control: Connection
) -> None:
    """The subscriber process (see :func:`watch_delivery`): ``count`` WatchJobs streams over
    ``channels`` connections, answering the parent's commands on ``control``:

    - ``("expect", ids, timeout)``: once every live subscriber saw each job DONE (or after
      ``timeout`` seconds), answer ``(jobs not yet seen DONE by every live subscriber, this
      process's CPU seconds so far)``;
    - ``("stats",)``: answer the latencies (seconds) per phase and the status codes streams
      ended with, then stop.
    """
    options = [("grpc.use_local_subchannel_pool", 1)]
    pool = [grpc.aio.insecure_channel(address, options=options) for _ in range(channels)]
    stubs = [job_pb2_grpc.JobServiceStub(channel) for channel in pool]
    request = job_pb2.WatchJobsRequest(after_revision=after, tags=[WATCH_TAG])
    latencies: dict[str, list[float]] = defaultdict(list)
    done: dict[str, int] = {}
    ended: list[grpc.StatusCode] = []
    tasks = [
        asyncio.create_task(_subscribe(stubs[i % channels], request, latencies, done, ended))
        for i in range(count)
    ]
    loop = asyncio.get_running_loop()
    while True:
        command = await loop.run_in_executor(None, control.recv)
        if command[0] == "expect":
            _, ids, timeout = command
            deadline = time.monotonic() + timeout
            while True:
                live = count - len(ended)
                missing = sum(done.get(i, 0) < live for i in ids)
                if not missing or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.02)
            control.send((missing, time.process_time()))
        else:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            codes = [code for code in ended if code != grpc.StatusCode.CANCELLED]
            control.send((dict(latencies), [code.name for code in codes]))
            for channel in pool:
                await channel.close()
            return


def watchers_main(address: str, count: int, channels: int, after: int, control: Connection) -> None:
    """Entry point of the subscriber process (spawned by :func:`watch_delivery`)."""
    asyncio.run(_watchers(address, count, channels, after, control))


class SubscriberProcess:
    """The process that runs :func:`watchers_main`, and the commands it answers; as a context
    manager it is killed on exit if it is still running (it is a daemon besides).

    Args:
        server: the server it watches (its CPU time is read beside each answer).
        count: how many WatchJobs streams to open.
        channels: over how many connections.
        after: the revision to watch from.
    """

    def __init__(self, server: BenchServer, count: int, channels: int, after: int):
        context = multiprocessing.get_context("spawn")
        self._server = server
        self._control, child_end = context.Pipe()
        self._process = context.Process(
            target=watchers_main,
            args=(server.address, count, channels, after, child_end),
            daemon=True,
        )
        self._process.start()
        self._marks = [(time.monotonic(), server.cpu_seconds(), 0.0)]

    def expect(self, job_ids: list[str], timeout: float) -> tuple[int, float, float, float]:
        """Wait until every live subscriber saw each job DONE (or ``timeout`` seconds passed):
        ``(jobs some live subscriber has not seen DONE, wall seconds, server CPU seconds,
        subscriber process CPU seconds)``, the last three since the previous call."""
        self._control.send(("expect", job_ids, timeout))
        missing, subscriber_cpu = self._control.recv()
        self._marks.append((time.monotonic(), self._server.cpu_seconds(), subscriber_cpu))
        wall, server_cpu, subscriber_cpu = (b - a for a, b in zip(*self._marks[-2:], strict=True))
        return missing, wall, server_cpu, subscriber_cpu

    def stats(self) -> tuple[dict[str, list[float]], list[str]]:
        """Stop the subscribers: the latencies per phase (seconds) and the status codes of
        streams that ended early."""
        self._control.send(("stats",))
        answer = self._control.recv()
        self._process.join(timeout=60)
        return answer

    def __enter__(self) -> SubscriberProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join()


def outcomes(futures: Sequence[grpc.Future]) -> tuple[list[str], Counter[str]]:
    """The ids of the CreateJob futures that succeeded, and how many failed with each status."""
    ids, failed = [], Counter()
    for future in futures:
        try:
            ids.append(future.result().job.id)
        except grpc.RpcError as exc:
            failed[exc.code().name] += 1
    return ids, failed


def watch_delivery(
    subscribers: int = 1000,
    rate: float = 5.0,
    seconds: float = 10.0,
    burst: int = 300,
    channels: int = 10,
) -> list[Row]:
    """WatchJobs delivery latency to ``subscribers`` concurrent watchers.

    A separate client process (grpc.aio, one asyncio loop) opens ``subscribers`` WatchJobs
    streams, spread over ``channels`` connections, each filtered on :data:`WATCH_TAG` (so
    every subscriber receives every event of every job here). Once all of them received a
    probe job's DONE, this process submits the small job on ideal_24 (a) at ``rate`` jobs/s
    for ``seconds`` seconds, then, once every subscriber saw those DONE, (b) ``burst`` jobs
    back to back (CreateJob futures on one channel). Delivery latency: the subscriber's
    receive time minus the event's server time (``WatchJobsResponse.time``, when the state
    changed), over every event (QUEUED, RUNNING, DONE) of the phase's jobs at every
    subscriber; both clocks are this machine's.
    """
    with server_process() as server:
        client = Client(server.address)
        wait_finished(client, [client.create()])  # warm-up: the worker is ready
        with SubscriberProcess(server, subscribers, channels, client.revision()) as watchers:
            watchers.expect([client.create(tags=[WATCH_TAG, "probe"])], timeout=120)
            steady = []
            start = time.monotonic()
            for n in range(round(rate * seconds)):
                time.sleep(max(0.0, start + n / rate - time.monotonic()))
                request = small_job(tags=[WATCH_TAG, "steady"])
                steady.append(client.jobs.CreateJob.future(request, metadata=METADATA))
            steady_ids, steady_failed = outcomes(steady)
            steady_spent = watchers.expect(steady_ids, timeout=120)
            request = small_job(tags=[WATCH_TAG, "burst"])
            burst_ids, burst_failed = outcomes(
                [client.jobs.CreateJob.future(request, metadata=METADATA) for _ in range(burst)]
            )
            burst_spent = watchers.expect(burst_ids, timeout=300)
            latencies, ended = watchers.stats()
        check_all_done(client)
        client.close()

    rows = []
    for phase, label, jobs, failed, (missing, wall, server_cpu, child_cpu) in (
        (
            "steady",
            f"(a) {rate:g} jobs/s for {seconds:g} s",
            steady_ids,
            steady_failed,
            steady_spent,
        ),
        ("burst", f"(b) {burst} jobs back to back", burst_ids, burst_failed, burst_spent),
    ):
        values = np.array(latencies.get(phase, [])) * 1e3
        p50, p99 = np.percentile(values, [50, 99]) if values.size else (np.nan, np.nan)
        note = (
            f"{label}: CreateJob errors {dict(failed) or 'none'}; {values.size:,} of "
            f"{subscribers * len(jobs) * 3:,} events delivered ({subscribers:,} subscribers x "
            f"{len(jobs)} created jobs x QUEUED/RUNNING/DONE); max "
            f"{values.max() if values.size else np.nan:,.0f} ms; jobs not seen DONE by every "
            f"live subscriber: {missing}; streams ended early: {ended or 'none'}. Until all "
            f"were delivered ({wall:.1f} s): server CPU {server_cpu / wall:.2f} cores, "
            f"subscriber process {child_cpu / wall:.2f} cores. Latency = receive time - "
            "WatchJobsResponse.time, one clock."
        )
        for metric, value in (("p50", p50), ("p99", p99)):
            rows.append(
                Row(
                    "WatchJobs delivery",
                    f"{label}, {metric}",
                    "ms",
                    None,
                    float(value),
                    "<50 ms" if metric == "p99" else "",
                    bool(value < 50) if metric == "p99" else None,
                    note,
                )
            )
    return rows


# ------------------------------------------------------------------------------ the table


def vqe_iterations(iterations: int = 100) -> list[Row]:
    """The session guide's VQE per iteration: ideal against Aer's EstimatorV2 in-process,
    noisy against qiskit-ibm-runtime's local testing mode (see ``bench/vqe.py``). Resilience
    level 0 does what the references do; level 1 (IBM's default, TREX) is shown beside it."""
    ideal, aer = vqe.qsession_iteration_ms("ideal_24", False, iterations, against_aer=True)
    ideal_process, aer_process = vqe.qsession_iteration_ms(
        "ideal_24", False, iterations, "process", against_aer=True
    )
    ideal_trex, _ = vqe.qsession_iteration_ms("ideal_24", False, iterations, resilience_level=1)
    ibm = vqe.ibm_local_iteration_ms(1)
    noisy, aer_beside_noisy = vqe.qsession_iteration_ms(
        "fake_torino", True, iterations, against_aer=True
    )
    noisy_trex, _ = vqe.qsession_iteration_ms("fake_torino", True, iterations, resilience_level=1)
    return [
        Row("VQE iteration", "ideal_24 vs Aer EstimatorV2 in-process", "ms", aer, ideal,
            "+5 ms", ideal - aer <= 5.0,
            f"one Estimator job per iteration in a session, {vqe.SHOTS} shots, 4 observables, "
            f"resilience_level 0; overhead {ideal - aer:+.1f} ms over Aer; median of {iterations} "
            "after a warm-up, our iterations and Aer's taking turns; [server] durability = "
            "\"disk\" (the default)"),
        Row("VQE iteration", "same, durability = \"process\"", "ms", aer_process,
            ideal_process, "+5 ms", ideal_process - aer_process <= 5.0,
            "as above with commits that survive a crash of the server, not of the machine "
            f"(no fsync); overhead {ideal_process - aer_process:+.1f} ms"),
        Row("VQE iteration", "same, resilience_level 1 (TREX)", "ms", aer, ideal_trex,
            "", None,
            "IBM's default level: measurement twirling (32 randomizations) and readout "
            "learning; more work than the reference does"),
        Row("VQE iteration", "noisy fake_torino vs ibm-runtime local mode", "ms", ibm, noisy,
            "<=15 ms", noisy <= 15.0,
            "qiskit-ibm-runtime EstimatorV2(mode=FakeTorino()), one iteration (it takes "
            f"seconds); ours: {iterations} iterations on fake_torino with its noise model "
            "(gate, readout and idle noise), resilience_level 0. How fast the machine was "
            f"meanwhile: Aer's ideal iteration, taking turns with ours, took "
            f"{aer_beside_noisy:.1f} ms ({aer:.1f} ms beside the ideal row)"),
        Row("VQE iteration", "same, resilience_level 1 (TREX)", "ms", ibm, noisy_trex,
            "", None, "as above at IBM's default level"),
    ]  # fmt: skip


# -------------------------------------------------------------------------- 6. Ray engine


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


def ray_backends_toml(count: int, address: str) -> str:
    """``count`` ideal_24 backends ``qpu_i``, each pinned to the node offering ``qpu_i``, on
    the Ray engine at ``address``."""
    tables = "".join(
        f'[[backends]]\nname = "qpu_{i}"\nprofile = "ideal_24"\nray_resources = {{ qpu_{i} = 1 }}\n'
        for i in range(count)
    )
    return f'{tables}[execution]\nengine = "ray"\nray_address = "{address}"\n'


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
        with server_process(backends=(), extra_toml=ray_backends_toml(2, address)) as server:
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


SCENARIOS: dict[str, Callable[[], list[Row]]] = {
    "vqe": vqe_iterations,
    "history": history_growth,
    "heavy": heavy_job_isolation,
    "throughput": create_job_throughput,
    "watch": watch_delivery,
    "ray": ray_engine,
}


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


def run(names: Iterable[str] = SCENARIOS) -> list[Row]:
    """Run the named scenarios (all by default), in order; their rows."""
    rows = []
    for name in names:
        start = time.monotonic()
        rows += SCENARIOS[name]()
        print(f"runtime bench: {name} took {time.monotonic() - start:.0f} s", file=sys.stderr)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenario", action="append", choices=list(SCENARIOS), help="run only these (repeat)"
    )
    args = parser.parse_args()
    print(format_table(run(args.scenario or SCENARIOS)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
