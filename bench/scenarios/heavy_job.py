"""Heavy job isolation: API latency and other backends' jobs while one backend simulates a
24-qubit circuit shot by shot; how fast a cancel frees that backend."""

from __future__ import annotations

import statistics
import time

from google.protobuf.timestamp_pb2 import Timestamp
from harness import (
    METADATA,
    POLL,
    TOKEN,
    Client,
    Row,
    heavy_circuit,
    percentiles_ms,
    sdk_round_trip,
    server_process,
    wait_finished,
    x_circuit,
)
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from qsession import RuntimeService, SamplerV2
from qsession.execution import load_profile
from qsession.v1 import job_pb2


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
