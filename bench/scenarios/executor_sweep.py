"""Executor (issue 28's bench row): one 20-qubit sweep item of 1,000,000 shots in all (100
parameter points x 10,000 shots) through qsession's ``Executor`` against Aer's ``SamplerV2``
in-process on the same PUB, taking turns."""

from __future__ import annotations

import time

import numpy as np
from harness import TOKEN, Row, server_process
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.transpiler import generate_preset_pass_manager

NUM_QUBITS = 20
POINTS = 100
SHOTS = 10_000
ROUNDS = 3


def swept_layers(num_qubits: int) -> QuantumCircuit:
    """A ry layer of parameters, then three cx ladders with fixed rotations, measured."""
    theta = ParameterVector("theta", num_qubits)
    rng = np.random.default_rng(5)
    circuit = QuantumCircuit(num_qubits)
    for qubit in range(num_qubits):
        circuit.ry(theta[qubit], qubit)
    for _ in range(3):
        for qubit in range(num_qubits - 1):
            circuit.cx(qubit, qubit + 1)
        for qubit in range(num_qubits):
            circuit.rz(rng.uniform(0, 2 * np.pi), qubit)
    circuit.measure_all()
    return circuit


def executor_sweep() -> list[Row]:
    from qiskit_aer.primitives import SamplerV2 as AerSampler

    from qsession import Executor, QuantumProgram, RuntimeService

    rng = np.random.default_rng(3)
    values = rng.uniform(0, np.pi, (POINTS, NUM_QUBITS))
    with server_process() as server:
        service = RuntimeService(url=server.address, token=TOKEN)
        backend = service.backend("ideal_24")
        isa = generate_preset_pass_manager(target=backend.target, optimization_level=1).run(
            swept_layers(NUM_QUBITS)
        )
        arguments = values  # columns in the circuit's parameter order (theta[0], theta[1], ...)

        def ours() -> np.ndarray:
            program = QuantumProgram(shots=SHOTS)
            program.append_circuit_item(isa, circuit_arguments=arguments)
            return Executor(backend).run(program).result()[0]["meas"]

        def aer() -> np.ndarray:
            sampler = AerSampler(seed=1)
            return sampler.run([(isa, arguments)], shots=SHOTS).result()[0].data.meas

        ours()  # warm-up: connection, worker, caches
        times: dict[str, list[float]] = {"ours": [], "aer": []}
        for _ in range(ROUNDS):
            for name, run in (("aer", aer), ("ours", ours)):
                start = time.perf_counter()
                answer = run()
                times[name].append(time.perf_counter() - start)
                if name == "ours":
                    bits = answer
                else:
                    reference = answer
        service.close()
    # The same distribution: each bit's frequency of ones, over all points, within 6 sigma.
    ones_ours = bits.reshape(-1, NUM_QUBITS).mean(axis=0)
    ones_ref = np.unpackbits(reference.array, axis=-1)[..., -NUM_QUBITS:][..., ::-1]
    ones_ref = ones_ref.reshape(-1, NUM_QUBITS).mean(axis=0)
    sigma = np.sqrt(0.25 / (POINTS * SHOTS)) * np.sqrt(2)
    agree = bool(np.all(np.abs(ones_ours - ones_ref) < 6 * sigma))
    aer_s, ours_s = (float(np.median(times[k])) for k in ("aer", "ours"))
    note = (
        f"ref = Aer's SamplerV2 in this process, ours = qsession's Executor through a server "
        f"(ideal_24); one {NUM_QUBITS}-qubit sweep item, {POINTS} parameter points x {SHOTS} "
        f"shots; median of {ROUNDS}, taking turns; ours returns IBM's bool arrays "
        f"(shape {POINTS} x {SHOTS} x {NUM_QUBITS}); bit frequencies agree within 6 sigma: "
        f"{agree}"
    )
    return [
        Row(
            "executor",
            "20-qubit sweep item, 1M shots",
            "s",
            aer_s,
            ours_s,
            ">=5x",
            ours_s * 5 <= aer_s,
            note,
        )
    ]
