"""Error mitigation on the emulated QPU: how far each resilience level brings an Estimator's
values to the exact ones, and what each level costs.

Cases with exact values known, on noisy fake_torino (its calibration snapshot's gate,
readout and relaxation errors): a Bell pair's <ZZ> (1), a 6-qubit GHZ state's <Z...Z> (1),
and a 4-qubit transverse-field Ising chain after 10 Trotter steps (<ZZ> averaged over the
chain's bonds, exact from a state vector). For each case and level 0, 1, 2: the absolute
error, mean over 5 seeds, and the mean wall time of one job.

Dynamical decoupling: a Bell pair that then idles 20 us, its <XX> (exact 1) at resilience
level 0 without and with DD (XX and XY4 sequences), same 5 seeds: the idle window relaxes and
precesses at the qubits' frequency offsets (:mod:`qsession.execution.dd`), and DD refocuses
the precession.

Devices: fake_torino (Heron r1) and fake_fez (Heron r2) by default.

Level 2 averages its gate twirls in closed form (one density-matrix run per noise factor,
:mod:`qsession.execution.twirled_channel`); ``--reference`` runs it the reference way, one
density-matrix run per randomization and noise factor, for comparison.

Run with ``make bench-mitigation`` (or ``.venv/bin/python bench/mitigation.py``); narrow it
with ``--device``, ``--cases`` (``bell``, ``ghz6``, ``ising4``, ``dd``) and ``--levels``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from qiskit import QuantumCircuit
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.quantum_info import SparsePauliOp, Statevector
from qiskit.transpiler import generate_preset_pass_manager

from qsession.execution import Executor, load_profile
from qsession.v1 import job_pb2, options_pb2

SEEDS = range(5)
LEVELS = (0, 1, 2)


def bell() -> tuple[QuantumCircuit, SparsePauliOp]:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    return circuit, SparsePauliOp("ZZ")


def ghz(width: int = 6) -> tuple[QuantumCircuit, SparsePauliOp]:
    circuit = QuantumCircuit(width)
    circuit.h(0)
    for qubit in range(width - 1):
        circuit.cx(qubit, qubit + 1)
    return circuit, SparsePauliOp("Z" * width)


def ising(width: int = 4, steps: int = 10, coupling=0.25, field=0.35) -> tuple:
    """``steps`` first-order Trotter steps of ``H = -J sum Z_i Z_i+1 - h sum X_i``
    (angles ``2 J dt``, ``2 h dt`` given directly), from ``|0...0>``."""
    circuit = QuantumCircuit(width)
    for _ in range(steps):
        for qubit in range(width - 1):
            circuit.rzz(-coupling, qubit, qubit + 1)
        circuit.rx(-field, range(width))
    bonds = ["I" * (width - 2 - q) + "ZZ" + "I" * q for q in range(width - 1)]
    return circuit, SparsePauliOp(bonds, [1 / len(bonds)] * len(bonds))


CASES = {"bell <ZZ>": bell, "ghz6 <Z^6>": ghz, "ising4 x10 <ZZ>": ising}
SHORT_NAMES = dict(zip(("bell", "ghz6", "ising4"), CASES, strict=True))


def idle_bell(microseconds: float = 20) -> tuple[QuantumCircuit, SparsePauliOp]:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.delay(microseconds, [0, 1], unit="us")
    return circuit, SparsePauliOp("XX")


def run_dd_case(executor: Executor, precision: float) -> None:
    circuit, observable = idle_bell()
    manager = generate_preset_pass_manager(optimization_level=1, target=executor.profile.target)
    isa = manager.run(circuit)
    pub = EstimatorPub.coerce((isa, observable.apply_layout(isa.layout), None, precision))
    errors = {}
    for label, sequence in (("no DD", None), ("DD XX", "XX"), ("DD XY4", "XY4")):
        decoupling = options_pb2.DynamicalDecouplingOptions(
            enable=sequence is not None, sequence_type=sequence or "XX"
        )
        options = job_pb2.JobOptions(resilience_level=0, dynamical_decoupling=decoupling)
        values, seconds = [], []
        for seed in SEEDS:
            start = time.perf_counter()
            values.append(float(executor.run_estimator([pub], seed, options)[0].data.evs))
            seconds.append(time.perf_counter() - start)
        errors[label] = float(np.mean(np.abs(np.asarray(values) - 1.0)))
        print(
            f"  {'bell idle 20us <XX>':<18} {label:<7}: |error| {errors[label]:.4f}  "
            f"(mean value {np.mean(values):+.4f}, exact +1.0000)  "
            f"{np.mean(seconds) * 1000:8.1f} ms/job"
        )
    print(
        f"  {'bell idle 20us <XX>':<18} DD XX: {errors['no DD'] / max(errors['DD XX'], 1e-9):5.1f}x"
        f" less error; DD XY4: {errors['no DD'] / max(errors['DD XY4'], 1e-9):5.1f}x less error"
    )


def run_case(
    executor: Executor, name: str, precision: float, levels: tuple[int, ...] = LEVELS
) -> None:
    circuit, observable = CASES[name]()
    exact = Statevector(circuit).expectation_value(observable).real
    manager = generate_preset_pass_manager(optimization_level=1, target=executor.profile.target)
    isa = manager.run(circuit)
    pub = EstimatorPub.coerce((isa, observable.apply_layout(isa.layout), None, precision))
    errors = {}
    for level in levels:
        values, seconds = [], []
        for seed in SEEDS:
            start = time.perf_counter()
            result = executor.run_estimator([pub], seed, job_pb2.JobOptions(resilience_level=level))
            seconds.append(time.perf_counter() - start)
            values.append(float(result[0].data.evs))
        errors[level] = float(np.mean(np.abs(np.asarray(values) - exact)))
        print(
            f"  {name:<18} level {level}: |error| {errors[level]:.4f}  "
            f"(mean value {np.mean(values):+.4f}, exact {exact:+.4f})  "
            f"{np.mean(seconds) * 1000:8.1f} ms/job"
        )
    if set(LEVELS) <= set(levels):
        print(
            f"  {name:<18} level 0 -> 1: {errors[0] / max(errors[1], 1e-9):5.1f}x less error;"
            f"  level 0 -> 2: {errors[0] / max(errors[2], 1e-9):5.1f}x less error"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device", action="append", help="device profile(s) (fake_torino, fake_fez)"
    )
    parser.add_argument("--precision", type=float, default=1 / 64, help="target precision")
    parser.add_argument(
        "--cases",
        nargs="+",
        choices=[*SHORT_NAMES, "dd"],
        help="cases to run (default: all, and the DD case)",
    )
    parser.add_argument(
        "--levels", nargs="+", type=int, choices=LEVELS, default=LEVELS, help="resilience levels"
    )
    parser.add_argument(
        "--reference",
        action="store_true",
        help="run gate twirling one density-matrix run per randomization (the reference path)",
    )
    args = parser.parse_args()
    cases = args.cases or [*SHORT_NAMES, "dd"]
    for device in args.device or ["fake_torino", "fake_fez"]:
        executor = Executor(load_profile(device), noise=True)
        executor.twirl_in_closed_form = not args.reference
        path = "per randomization" if args.reference else "closed form"
        print(
            f"{device} (noisy), precision {args.precision:g}, mean over {len(SEEDS)} seeds, "
            f"gate twirling {path}:"
        )
        for short, name in SHORT_NAMES.items():
            if short in cases:
                run_case(executor, name, args.precision, tuple(args.levels))
        if "dd" in cases:
            run_dd_case(executor, args.precision)


if __name__ == "__main__":
    main()
