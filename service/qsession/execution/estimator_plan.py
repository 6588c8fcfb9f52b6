"""What an Estimator PUB's circuit and observables decide before anything runs: the
measurement bases, whether its final state is simulated once for all bases (a state plan),
and the arithmetic from a basis's outcome counts to its observables' values."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.primitives.containers.estimator_pub import EstimatorPub

from qsession.execution import sampling
from qsession.execution.measurement_plan import (
    MeasurementBasis,
    MeasurementPlan,
    basis_circuit,
    plan_measurements,
)
from qsession.execution.noise import DeviceNoise
from qsession.execution.reduction import ReducedCircuit, reduce_circuit

ESTIMATOR_STATE_MAX_QUBITS = 16
"""Widest ideal state the Estimator simulates once for all its bases (2**16 amplitudes = 1 MiB
per parameter point crosses from Aer); wider circuits sample each basis on its own."""


def draw_counts(probabilities: np.ndarray, shots: int, rng: np.random.Generator) -> np.ndarray:
    """Outcome counts of ``shots`` shots: one multinomial draw from ``probabilities``."""
    probabilities = np.clip(probabilities, 0.0, None)
    return rng.multinomial(shots, probabilities / probabilities.sum())


def draw_groups(
    instances: int, randomizations: int, masks: np.ndarray | None
) -> list[tuple[int, np.ndarray | None, int]]:
    """``(instance, mask, randomizations)`` for each distinct instance and mask among the
    randomizations (randomization ``r`` runs instance ``r % instances`` through ``masks[r]``),
    in order of first appearance."""
    groups: dict[tuple[int, bytes], list] = {}
    for r in range(randomizations):
        mask = None if masks is None else masks[r]
        key = (r % instances, b"" if mask is None else mask.tobytes())
        group = groups.setdefault(key, [r % instances, mask, 0])
        group[2] += 1
    return [(instance, mask, count) for instance, mask, count in groups.values()]


def term_signs(basis: MeasurementBasis) -> np.ndarray:
    """float64 ``(terms, 2**len(basis.qubits))``: each term's +-1 parity on each outcome."""
    outcomes = np.arange(2 ** len(basis.qubits), dtype=np.uint64)
    masks = np.array(
        [int(term.replace("Z", "1").replace("I", "0"), 2) for term in basis.terms], np.uint64
    )
    parities = np.bitwise_count(outcomes[None, :] & masks[:, None]) & 1  # (terms, outcomes)
    return 1.0 - 2.0 * parities


def outcome_values(basis: MeasurementBasis) -> np.ndarray:
    """float64 ``(observables, 2**len(basis.qubits))``: each observable's value (the sum of
    its terms' coefficients times their +-1 parities) on each outcome of ``basis``."""
    return basis.coeffs @ term_signs(basis)


@dataclass(frozen=True)
class StatePlan:
    """How an Estimator PUB's final state is simulated once for all its bases.

    Attributes:
        reduced: the circuit without its final measurements, on its active qubits.
        extra: qubits the bases read that the circuit leaves idle, appended in ``|0>``.
        position: device qubit -> its index in the simulated state.
    """

    reduced: ReducedCircuit
    extra: int
    position: dict[int, int]


def state_plan(
    circuit: QuantumCircuit, plan: MeasurementPlan, noise: DeviceNoise | None
) -> StatePlan | None:
    """The single-simulation plan of an Estimator PUB's ``circuit``, or ``None`` when its
    state is too large (more than :data:`ESTIMATOR_STATE_MAX_QUBITS` ideal,
    ``sampling.DENSITY_MATRIX_MAX_QUBITS`` noisy) or
    the circuit is not one unitary (a measurement, reset or control flow remains; with noise
    a delay, whose relaxation Aer applies only shot by shot)."""
    if any(inst.operation.name == "measure" for inst in circuit.data):  # else none to remove
        circuit = circuit.remove_final_measurements(inplace=False)
    reduced = reduce_circuit(circuit)
    names = {inst.operation.name for inst in reduced.circuit.data}
    if reduced.final_measures is None or "measure" in names:
        return None
    if noise is not None and "delay" in names:
        return None
    position = {q: j for j, q in enumerate(reduced.active)}
    for basis in plan.bases:
        for qubit in basis.qubits:
            position.setdefault(qubit, len(position))
    limit = ESTIMATOR_STATE_MAX_QUBITS if noise is None else sampling.DENSITY_MATRIX_MAX_QUBITS
    if len(position) > limit:
        return None
    return StatePlan(reduced, len(position) - len(reduced.active), position)


def measured_bases(pub: EstimatorPub) -> tuple[MeasurementPlan, list[tuple]]:
    """The PUB's measurement plan and, per basis, its circuit measured in that basis (what an
    Estimator job derives from its circuit and observables, whatever the parameter values)."""
    circuit = pub.circuit.remove_final_measurements(inplace=False)
    plan = plan_measurements(pub.observables)
    return plan, [basis_circuit(circuit, basis) for basis in plan.bases]


def basis_circuits(circuit: QuantumCircuit, plan: MeasurementPlan) -> list[tuple]:
    """``circuit`` measured in each basis of ``plan`` (as :func:`measured_bases`)."""
    unmeasured = circuit.remove_final_measurements(inplace=False)
    return [basis_circuit(unmeasured, basis) for basis in plan.bases]


def observable_bounds(pub: EstimatorPub) -> np.ndarray:
    """float64 of the observables' shape: each observable's largest possible magnitude, the
    sum of its terms' coefficient magnitudes."""
    bounds = [sum(abs(c) for c in obs.values()) for obs in pub.observables.ravel().tolist()]
    return np.asarray(bounds, np.float64).reshape(pub.observables.shape)


def observables_key(pub: EstimatorPub) -> tuple:
    """A hashable form of the PUB's observables (their shape and terms)."""
    return pub.observables.shape, tuple(
        tuple(sorted(observable.items())) for observable in pub.observables.ravel().tolist()
    )
