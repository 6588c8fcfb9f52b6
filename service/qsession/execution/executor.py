"""The emulated QPU: runs Sampler and Estimator PUBs on Qiskit Aer with Qiskit's semantics."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.primitives import PrimitiveResult
from qiskit.primitives.containers import BitArray, DataBin, PubResult, SamplerPubResult
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub

from qsession import _native
from qsession.execution import sampling
from qsession.execution.distribution import (
    apply_readout_errors,
    basis_probabilities,
    final_states,
)
from qsession.execution.measurement_plan import (
    MeasurementBasis,
    MeasurementPlan,
    basis_circuit,
    plan_measurements,
)
from qsession.execution.memo import Memo, derive
from qsession.execution.noise import DeviceNoise
from qsession.execution.profiles import DeviceProfile
from qsession.execution.reduction import ReducedCircuit, reduce_circuit
from qsession.execution.sampling import sample_registers
from qsession.execution.validation import (
    estimator_shots,
    validate_estimator_pub,
    validate_sampler_pub,
)
from qsession.execution_span import ExecutionSpans, SliceSpan

ESTIMATOR_STATE_MAX_QUBITS = 16
"""Widest ideal state the Estimator simulates once for all its bases (2**16 amplitudes = 1 MiB
per parameter point crosses from Aer); wider circuits sample each basis on its own."""


class Executor:
    """Runs PUBs on one device profile, ideal or with the profile's noise model.

    Results follow Qiskit's SamplerV2 / EstimatorV2 semantics; the Estimator is shot-based
    like a QPU. Equal seeds give equal results. With a ``memo`` (a worker's), what is derived
    from a circuit is remembered between jobs: the PUBs' circuits must then never be modified.
    """

    def __init__(self, profile: DeviceProfile, noise: bool, memo: Memo | None = None) -> None:
        self.profile = profile
        self.memo = memo
        self._noise = DeviceNoise(profile.target) if noise else None

    def validate_sampler_pub(self, pub: SamplerPub, index: int) -> None:
        """Check that ``pub`` (shots resolved) runs on this device as given.

        Raises:
            InvalidPub: field ``sampler_pubs[index].circuit`` (wider than the device, an
                instruction the device lacks on those qubits, no classical register or no
                measurement), ``.shots`` or ``.parameter_values``.
        """
        validate_sampler_pub(
            pub, f"sampler_pubs[{index}]", self.profile.target, self.profile.name, self.memo
        )

    def validate_estimator_pub(self, pub: EstimatorPub, index: int) -> None:
        """Check that ``pub`` (precision resolved) runs on this device as given.

        Raises:
            InvalidPub: field ``estimator_pubs[index].circuit``, ``.observables`` (width
                differs from the circuit's), ``.precision`` or ``.parameter_values``.
        """
        validate_estimator_pub(
            pub, f"estimator_pubs[{index}]", self.profile.target, self.profile.name, self.memo
        )

    def run_sampler(self, pubs: list[SamplerPub], seed: int | None) -> PrimitiveResult:
        """Sample each PUB (``pub.shots`` per parameter point).

        Returns:
            One ``SamplerPubResult`` per PUB whose ``DataBin`` (shape ``pub.shape``) has one
            ``BitArray`` per classical register, named after it, of shape ``pub.shape`` and
            ``pub.shots`` shots; metadata ``{"circuit_metadata": ...}``. Result metadata
            ``{"execution": {"execution_spans": ExecutionSpans}, "version": 2}``.

        Raises:
            InvalidPub: as :meth:`validate_sampler_pub`.
            ExecutionFailed: the emulator cannot run a circuit.
        """
        seeds = np.random.SeedSequence(seed).spawn(len(pubs))
        results, spans = [], []
        for index, (pub, pub_seed) in enumerate(zip(pubs, seeds, strict=True)):
            self.validate_sampler_pub(pub, index)
            start = datetime.now(UTC)
            circuit, shots = pub.circuit, pub.shots
            values = _points(pub.parameter_values, circuit)
            arrays = sample_registers(
                circuit, circuit.cregs, values, shots, pub_seed, self._noise, self.memo
            )
            data = {
                creg.name: BitArray(array.reshape(pub.shape + array.shape[1:]), creg.size)
                for creg, array in zip(circuit.cregs, arrays, strict=True)
            }
            results.append(
                SamplerPubResult(
                    DataBin(**data, shape=pub.shape),
                    metadata={"circuit_metadata": circuit.metadata},
                )
            )
            spans.append(_whole_span(index, start, pub.shape + (shots,)))
        return _primitive_result(results, spans)

    def run_estimator(self, pubs: list[EstimatorPub], seed: int | None) -> PrimitiveResult:
        """Estimate each PUB from shots: its final measurements are removed, its observables'
        Pauli terms grouped into qubit-wise commuting bases, each basis measured with
        ``ceil(1 / pub.precision**2)`` shots per parameter point.

        Returns:
            One ``PubResult`` per PUB with ``evs``, ``stds`` (standard errors) and
            ``ensemble_standard_error`` (= ``stds``), float64 arrays of shape ``pub.shape``
            (parameter values broadcast against observables); metadata ``{"shots",
            "target_precision", "circuit_metadata"}``. Result metadata as for the Sampler.

        Raises:
            InvalidPub: as :meth:`validate_estimator_pub`.
            ExecutionFailed: the emulator cannot run a circuit.
        """
        seeds = np.random.SeedSequence(seed).spawn(len(pubs))
        results, spans = [], []
        for index, (pub, pub_seed) in enumerate(zip(pubs, seeds, strict=True)):
            self.validate_estimator_pub(pub, index)
            start = datetime.now(UTC)
            shots = estimator_shots(pub.precision)
            evs, stds = self._estimate(pub, shots, pub_seed)
            results.append(
                PubResult(
                    DataBin(evs=evs, stds=stds, ensemble_standard_error=stds, shape=pub.shape),
                    metadata={
                        "shots": shots,
                        "target_precision": pub.precision,
                        "circuit_metadata": pub.circuit.metadata,
                    },
                )
            )
            spans.append(_whole_span(index, start, pub.shape))
        return _primitive_result(results, spans)

    def _estimate(
        self, pub: EstimatorPub, shots: int, seed: np.random.SeedSequence
    ) -> tuple[np.ndarray, np.ndarray]:
        """Expectation values and standard errors, float64 arrays of shape ``pub.shape``.

        When the circuit's final state is small (see :func:`_state_plan`) it is simulated once
        per parameter point and each basis's distribution taken from it; otherwise each basis
        circuit is sampled on its own."""
        values = _points(pub.parameter_values, pub.circuit)
        plan, measured_bases = derive(
            self.memo, pub.circuit, "bases", lambda: _measured_bases(pub), _observables_key(pub)
        )
        num_points = values.shape[0]
        means = np.tile(plan.constant, (num_points, 1))  # (points, observables)
        variances = np.zeros_like(means)
        state_plan = derive(
            self.memo, pub.circuit, "state plan", lambda: _state_plan(pub, plan, self._noise)
        )
        bases = zip(plan.bases, measured_bases, seed.spawn(len(plan.bases)), strict=True)
        if state_plan is not None:
            column = {param: i for i, param in enumerate(pub.circuit.parameters)}
            reduced_values = values[:, [column[p] for p in state_plan.reduced.circuit.parameters]]
            states = final_states(
                state_plan.reduced, reduced_values, self._noise, state_plan.extra, self.memo
            )
        for basis, (measured, register), basis_seed in bases:
            if state_plan is None:
                (packed,) = sample_registers(
                    measured, [register], values, shots, basis_seed, self._noise, self.memo
                )
                moments = [
                    _native.diagonal_expectations(
                        packed[point], len(basis.qubits), basis.terms, basis.coeffs
                    )
                    for point in range(num_points)
                ]
            else:
                moments = self._sample_basis(states, state_plan, basis, shots, basis_seed)
            for point, (basis_means, basis_errors) in enumerate(moments):
                means[point] += basis_means
                variances[point] += np.square(basis_errors)
        shape, param_index, obs_index = _native.broadcast_indices(
            pub.parameter_values.shape, pub.observables.shape
        )
        evs = means[param_index, obs_index].reshape(shape)
        stds = np.sqrt(variances[param_index, obs_index]).reshape(shape)
        return evs, stds

    def _sample_basis(
        self,
        states: list,
        state_plan: _StatePlan,
        basis: MeasurementBasis,
        shots: int,
        seed: np.random.SeedSequence,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per state: the means and standard errors of the basis's observables over ``shots``
        measurements of ``basis`` (read through the device's readout errors if it has noise).

        The shots' outcome counts are one multinomial draw from the exact distribution, which
        is what counting ``shots`` independent shots gives; each observable's mean and standard
        error (``sqrt(var / shots)``) follow from the counts as from the shots themselves."""
        qubits = [state_plan.position[q] for q in basis.qubits]
        values = derive(self.memo, basis, "outcome values", lambda: _outcome_values(basis))
        rngs = [np.random.default_rng(s) for s in seed.spawn(len(states))]
        moments = []
        for state, rng in zip(states, rngs, strict=True):
            probabilities = basis_probabilities(state, qubits, basis.paulis)
            if self._noise is not None:
                assignment = self._noise.readout_assignment(basis.qubits)
                probabilities = apply_readout_errors(probabilities, assignment)
            probabilities = np.clip(probabilities, 0.0, None)
            counts = rng.multinomial(shots, probabilities / probabilities.sum())
            means = values @ counts / shots
            variances = np.clip(np.square(values) @ counts / shots - np.square(means), 0.0, None)
            moments.append((means, np.sqrt(variances / shots)))
        return moments


def _outcome_values(basis: MeasurementBasis) -> np.ndarray:
    """float64 ``(observables, 2**len(basis.qubits))``: each observable's value (the sum of
    its terms' coefficients times their +-1 parities) on each outcome of ``basis``."""
    outcomes = np.arange(2 ** len(basis.qubits), dtype=np.uint64)
    masks = np.array(
        [int(term.replace("Z", "1").replace("I", "0"), 2) for term in basis.terms], np.uint64
    )
    parities = np.bitwise_count(outcomes[None, :] & masks[:, None]) & 1  # (terms, outcomes)
    return basis.coeffs @ (1.0 - 2.0 * parities)


@dataclass(frozen=True)
class _StatePlan:
    """How an Estimator PUB's final state is simulated once for all its bases.

    Attributes:
        reduced: the circuit without its final measurements, on its active qubits.
        extra: qubits the bases read that the circuit leaves idle, appended in ``|0>``.
        position: device qubit -> its index in the simulated state.
    """

    reduced: ReducedCircuit
    extra: int
    position: dict[int, int]


def _state_plan(
    pub: EstimatorPub, plan: MeasurementPlan, noise: DeviceNoise | None
) -> _StatePlan | None:
    """The single-simulation plan of ``pub``, or ``None`` when its state is too large (more
    than :data:`ESTIMATOR_STATE_MAX_QUBITS` ideal, ``sampling.DENSITY_MATRIX_MAX_QUBITS``
    noisy) or
    the circuit is not one unitary (a measurement, reset or control flow remains; with noise
    a delay, whose relaxation Aer applies only shot by shot)."""
    reduced = reduce_circuit(pub.circuit.remove_final_measurements(inplace=False))
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
    return _StatePlan(reduced, len(position) - len(reduced.active), position)


def _measured_bases(pub: EstimatorPub) -> tuple[MeasurementPlan, list[tuple]]:
    """The PUB's measurement plan and, per basis, its circuit measured in that basis (what an
    Estimator job derives from its circuit and observables, whatever the parameter values)."""
    circuit = pub.circuit.remove_final_measurements(inplace=False)
    plan = plan_measurements(pub.observables)
    return plan, [basis_circuit(circuit, basis) for basis in plan.bases]


def _observables_key(pub: EstimatorPub) -> tuple:
    """A hashable form of the PUB's observables (their shape and terms)."""
    return pub.observables.shape, tuple(
        tuple(sorted(observable.items())) for observable in pub.observables.ravel().tolist()
    )


def _points(values: BindingsArray, circuit: QuantumCircuit) -> np.ndarray:
    """Parameter values as float64 ``(points, circuit.num_parameters)``, points in row-major
    order of ``values.shape``, columns in the order of ``circuit.parameters``."""
    return values.as_array(circuit.parameters).reshape(values.size, circuit.num_parameters)


def _whole_span(index: int, start: datetime, shape: tuple[int, ...]) -> SliceSpan:
    """The span from ``start`` to now of all data (``shape``) of PUB ``index``."""
    return SliceSpan(start, datetime.now(UTC), {index: (shape, slice(0, math.prod(shape)))})


def _primitive_result(results: list, spans: list[SliceSpan]) -> PrimitiveResult:
    return PrimitiveResult(
        results, metadata={"execution": {"execution_spans": ExecutionSpans(spans)}, "version": 2}
    )
