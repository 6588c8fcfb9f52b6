"""Noisy fake_torino through ``Executor``: the density-matrix path against shot-by-shot Aer.

Default: milliseconds per ``Executor.run_estimator`` call for the session guide's VQE
workload (2-qubit ``efficient_su2`` RY ansatz, 4 parameters, transpiled to fake_torino; the H2
Hamiltonian, 5 Pauli terms in 2 measurement bases; precision 0.01 = 10,000 shots per basis),
on each noisy path and without noise, measured in the same run.

``--widths``: milliseconds per ``sample_registers`` call on each path for a 2-layer RY/CX
ladder on 2..12 active qubits, at 100 and 10,000 shots: where ``DENSITY_MATRIX_MAX_QUBITS``
comes from (slow: the widest rows take minutes).

Run: ``.venv/bin/python bench/noisy_executor.py [--widths]``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# numpy's idle OpenBLAS threads spin on the shared cores; nothing here uses BLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from qiskit import QuantumCircuit  # noqa: E402
from qiskit.circuit.library import efficient_su2  # noqa: E402
from qiskit.primitives.containers.estimator_pub import EstimatorPub  # noqa: E402
from qiskit.quantum_info import SparsePauliOp  # noqa: E402
from qiskit.transpiler import generate_preset_pass_manager  # noqa: E402

from qsession.execution import Executor, load_profile, sampling  # noqa: E402
from qsession.execution.noise import DeviceNoise  # noqa: E402

CALLS = 30
PATHS = {"density matrix": sampling.DENSITY_MATRIX_MAX_QUBITS, "shot by shot": 0}


@contextmanager
def noisy_path(max_qubits: int) -> Iterator[None]:
    """Take the density-matrix path up to ``max_qubits`` active qubits (0: never)."""
    saved = sampling.DENSITY_MATRIX_MAX_QUBITS
    sampling.DENSITY_MATRIX_MAX_QUBITS = max_qubits
    try:
        yield
    finally:
        sampling.DENSITY_MATRIX_MAX_QUBITS = saved


def milliseconds(call: Callable[[int], object], calls: int) -> np.ndarray:
    """Wall time of ``call(i)`` for ``i`` in ``1..calls``, after one warm-up call."""
    call(0)
    times = []
    for i in range(1, calls + 1):
        start = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - start)
    return 1e3 * np.array(times)


def vqe_estimator() -> None:
    executor = Executor(load_profile("fake_torino"), noise=True)
    hamiltonian = SparsePauliOp.from_list(
        [("II", -1.0524), ("IZ", 0.3979), ("ZI", -0.3979), ("ZZ", -0.0113), ("XX", 0.1809)]
    )
    ansatz = efficient_su2(2, su2_gates=["ry"], reps=1)
    isa = generate_preset_pass_manager(
        target=executor.profile.target, optimization_level=1, seed_transpiler=0
    ).run(ansatz)
    observable = hamiltonian.apply_layout(isa.layout)
    rng = np.random.default_rng(0)
    pubs = [
        EstimatorPub.coerce(
            (isa, observable, 2 * np.pi * rng.random(ansatz.num_parameters)), precision=0.01
        )
        for _ in range(CALLS + 1)
    ]
    print("fake_torino, 2-qubit VQE Estimator PUB, 10,000 shots per basis, 2 bases:")
    for name, max_qubits in PATHS.items():
        with noisy_path(max_qubits):
            ms = milliseconds(lambda i: executor.run_estimator([pubs[i]], seed=i), CALLS)
        report(f"noisy, {name}", ms)
    ideal = Executor(load_profile("fake_torino"), noise=False)
    report("ideal", milliseconds(lambda i: ideal.run_estimator([pubs[i]], seed=i), CALLS))


def report(name: str, ms: np.ndarray) -> None:
    print(f"  {name:>22}: median {np.median(ms):6.1f} ms, best {ms.min():6.1f} ms per call")


def ladder(num_qubits: int) -> QuantumCircuit:
    """Two layers of RY on every qubit and a CX ladder, on device qubits ``0..num_qubits-1``
    (a line on fake_torino), measured."""
    circuit = QuantumCircuit(num_qubits)
    for layer in range(2):
        for q in range(num_qubits):
            circuit.ry(0.3 + 0.1 * q + layer, q)
        for q in range(num_qubits - 1):
            circuit.cx(q, q + 1)
    circuit.measure_all()
    target = load_profile("fake_torino").target
    return generate_preset_pass_manager(
        target=target,
        optimization_level=1,
        initial_layout=list(range(num_qubits)),
        seed_transpiler=1,
    ).run(circuit)


def widths() -> None:
    noise = DeviceNoise(load_profile("fake_torino").target)
    print("ms per sample_registers call, noisy fake_torino, RY/CX ladder:")
    print(f"{'qubits':>6} {'path':>14} {'100 shots':>10} {'10000 shots':>12}")
    for num_qubits in range(2, 13):
        circuit = ladder(num_qubits)
        for name, max_qubits in {"density matrix": 12, "shot by shot": 0}.items():
            row = []
            for shots in (100, 10_000):
                with noisy_path(max_qubits):
                    ms = milliseconds(sampler(circuit, shots, noise), 3 if num_qubits < 11 else 1)
                row.append(np.median(ms))
            print(f"{num_qubits:>6} {name:>14} {row[0]:>10.1f} {row[1]:>12.1f}", flush=True)


def sampler(circuit: QuantumCircuit, shots: int, noise: DeviceNoise) -> Callable[[int], object]:
    """``sample_registers`` of all of ``circuit``'s registers, seeded by its argument."""
    return lambda seed: sampling.sample_registers(
        circuit, circuit.cregs, np.zeros((1, 0)), shots, np.random.SeedSequence(seed), noise
    )


if __name__ == "__main__":
    widths() if "--widths" in sys.argv else vqe_estimator()
