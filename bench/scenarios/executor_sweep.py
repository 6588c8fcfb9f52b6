"""Executor (issue 28's bench row): a 20-qubit sweep item of 1,000,000 shots in all (100
parameter points x 10,000 shots) through qsession's ``Executor`` against Aer's ``SamplerV2``
in-process on the same PUB, taking turns.

Two circuits, because what the emulator can skip depends on the circuit:

* ``swept_layers``: a layer of swept rotations entangled by CX ladders and RZ layers. Those
  gates only permute basis states or add phases, so the emulator does them on the measured
  bits (``execution/tail.py``) and what is left are 20 independent qubits
  (``execution/components.py``): no 2**20 state vector at all.
* ``mixing_layers``: the same with a swept RY layer after every ladder, so nothing can be
  skipped: every point is one 2**20 state vector, as in Aer. It measures the rest of the
  path (binding, sampling, packing, the wire) against Aer's.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from harness import TOKEN, Row, server_process
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.transpiler import generate_preset_pass_manager

NUM_QUBITS = 20
POINTS = 100
SHOTS = 10_000
ROUNDS = 3
LADDERS = 3


def swept_layers(num_qubits: int) -> QuantumCircuit:
    """An RY layer of parameters, then three CX ladders with fixed RZ layers, measured."""
    return _layers(num_qubits, mixing=False)


def mixing_layers(num_qubits: int) -> QuantumCircuit:
    """An RY layer of parameters, then three CX ladders each followed by a swept RY layer
    (which mixes basis states, so no gate can be done on the bits), measured."""
    return _layers(num_qubits, mixing=True)


def _layers(num_qubits: int, mixing: bool) -> QuantumCircuit:
    theta = ParameterVector("theta", num_qubits * (1 + LADDERS * mixing))
    rng = np.random.default_rng(5)
    circuit = QuantumCircuit(num_qubits)
    for qubit in range(num_qubits):
        circuit.ry(theta[qubit], qubit)
    for ladder in range(LADDERS):
        for qubit in range(num_qubits - 1):
            circuit.cx(qubit, qubit + 1)
        for qubit in range(num_qubits):
            if mixing:
                circuit.ry(theta[(ladder + 1) * num_qubits + qubit], qubit)
            else:
                circuit.rz(rng.uniform(0, 2 * np.pi), qubit)
    circuit.measure_all()
    return circuit


def executor_sweep() -> list[Row]:
    from qsession import RuntimeService

    with server_process() as server:
        service = RuntimeService(url=server.address, token=TOKEN)
        backend = service.backend("ideal_24")
        rows = [
            _row(backend, swept_layers, "20-qubit sweep item, 1M shots", ">=5x"),
            _row(
                backend,
                mixing_layers,
                "20-qubit sweep item, 1M shots, nothing to skip",
                "",
            ),
        ]
        service.close()
    return rows


def _row(backend, build: Callable[[int], QuantumCircuit], metric: str, target: str) -> Row:
    from qiskit_aer.primitives import SamplerV2 as AerSampler

    from qsession import Executor, QuantumProgram

    isa = generate_preset_pass_manager(target=backend.target, optimization_level=1).run(
        build(NUM_QUBITS)
    )
    # Columns in the circuit's parameter order (theta[0], theta[1], ...).
    values = np.random.default_rng(3).uniform(0, np.pi, (POINTS, isa.num_parameters))

    def ours() -> np.ndarray:
        program = QuantumProgram(shots=SHOTS)
        program.append_circuit_item(isa, circuit_arguments=values)
        return Executor(backend).run(program).result()[0]["meas"]

    def aer() -> np.ndarray:
        sampler = AerSampler(seed=1)
        return sampler.run([(isa, values)], shots=SHOTS).result()[0].data.meas

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
    # The same distribution: each bit's frequency of ones, over all points, within 6 sigma.
    ones_ours = bits.reshape(-1, NUM_QUBITS).mean(axis=0)
    ones_ref = np.unpackbits(reference.array, axis=-1)[..., -NUM_QUBITS:][..., ::-1]
    ones_ref = ones_ref.reshape(-1, NUM_QUBITS).mean(axis=0)
    sigma = np.sqrt(0.25 / (POINTS * SHOTS)) * np.sqrt(2)
    agree = bool(np.all(np.abs(ones_ours - ones_ref) < 6 * sigma))
    aer_s, ours_s = (float(np.median(times[k])) for k in ("aer", "ours"))
    note = (
        f"ref = Aer's SamplerV2 in this process, ours = qsession's Executor through a server "
        f"(ideal_24); {build.__name__} ({dict(isa.count_ops())}), {POINTS} parameter points "
        f"x {SHOTS} shots; median of {ROUNDS}, taking turns; ours returns IBM's bool arrays "
        f"(shape {POINTS} x {SHOTS} x {NUM_QUBITS}); bit frequencies agree within 6 sigma: "
        f"{agree}"
    )
    met = ours_s * 5 <= aer_s if target else None
    return Row("executor", metric, "s", aer_s, ours_s, target, met, note)
