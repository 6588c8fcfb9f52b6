"""End to end: a Sampler job through the service against Aer's own SamplerV2 in-process (the
kernels table's "Sampler job e2e" row).

The server runs as a separate process (``qsession serve``) on an ephemeral port; the client is
the SDK, so the time covers submission, queueing, execution, the result stream and decoding
into a BitArray. The reference is ``qiskit_aer.primitives.SamplerV2`` on the same circuit in
this process. Server start-up and a warm-up job are excluded from the timing.
"""

from __future__ import annotations

import time

import numpy as np
from harness import TOKEN, server_process
from qiskit import QuantumCircuit


def layered_circuit(num_qubits: int, layers: int = 3, seed: int = 11) -> QuantumCircuit:
    """A seeded entangling circuit (ry/rz rotations and cx ladders), measured at the end."""
    rng = np.random.default_rng(seed)
    circuit = QuantumCircuit(num_qubits)
    for _ in range(layers):
        for q in range(num_qubits):
            circuit.ry(rng.uniform(0, np.pi), q)
            circuit.rz(rng.uniform(0, 2 * np.pi), q)
        for q in range(num_qubits - 1):
            circuit.cx(q, q + 1)
    circuit.measure_all()
    return circuit


def sampler_job(num_qubits: int = 20, shots: int = 1_000_000) -> dict:
    """Time one Sampler job through the service and Aer's SamplerV2; check they agree.

    Returns Aer's seconds, ours, and the packed samples we received.
    """
    from qiskit_aer.primitives import SamplerV2 as AerSampler

    from qsession import RuntimeService, SamplerV2

    circuit = layered_circuit(num_qubits)
    start = time.perf_counter()
    reference = AerSampler(seed=1).run([circuit], shots=shots).result()[0].data.meas
    aer_seconds = time.perf_counter() - start

    with server_process() as server:
        service = RuntimeService(url=server.address, token=TOKEN)
        sampler = SamplerV2(mode=service.backend("ideal_24"))
        sampler.run([(circuit, None, 1000)]).result()  # warm-up: connection, imports, caches
        start = time.perf_counter()
        ours = sampler.run([circuit], shots=shots).result()[0].data.meas
        our_seconds = time.perf_counter() - start

    # Same distribution: each bit's frequency of ones agrees within 6 sigma.
    ones_ref = np.unpackbits(reference.array, axis=-1)[..., -num_qubits:].mean(axis=0)
    ones_ours = np.unpackbits(ours.array, axis=-1)[..., -num_qubits:].mean(axis=0)
    assert ours.num_shots == shots and ours.num_bits == num_qubits
    assert np.all(np.abs(ones_ref - ones_ours) < 6 * np.sqrt(0.25 / shots) * np.sqrt(2)), (
        "distributions differ"
    )
    return {"aer_s": aer_seconds, "ours_s": our_seconds, "packed": ours.array}
