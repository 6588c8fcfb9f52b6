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
from qsession.execution import mitigation, sampling
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
from qsession.v1 import job_pb2

ESTIMATOR_STATE_MAX_QUBITS = 16
"""Widest ideal state the Estimator simulates once for all its bases (2**16 amplitudes = 1 MiB
per parameter point crosses from Aer); wider circuits sample each basis on its own."""


UNMITIGATED = mitigation.EstimatorSettings(
    resilience_level=0, measure_mitigation=False, twirling=mitigation.Twirling()
)
"""What the Estimator runs when given no options: no twirling, no mitigation."""


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

    def run_sampler(
        self,
        pubs: list[SamplerPub],
        seed: int | None,
        options: job_pb2.JobOptions | None = None,
    ) -> PrimitiveResult:
        """Sample each PUB (``pub.shots`` per parameter point).

        Returns:
            One ``SamplerPubResult`` per PUB whose ``DataBin`` (shape ``pub.shape``) has one
            ``BitArray`` per classical register, named after it, of shape ``pub.shape`` and
            ``pub.shots`` shots; metadata ``{"circuit_metadata": ...}``. Result metadata
            ``{"execution": {"execution_spans": ExecutionSpans}, "version": 2}``.

        Raises:
            InvalidPub: as :meth:`validate_sampler_pub`.
            ExecutionFailed: the emulator cannot run a circuit.
            InvalidOption: ``options`` (the job's) hold one that cannot be emulated.
        """
        mitigation.sampler_settings(options or job_pb2.JobOptions())
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

    def run_estimator(
        self,
        pubs: list[EstimatorPub],
        seed: int | None,
        options: job_pb2.JobOptions | None = None,
    ) -> PrimitiveResult:
        """Estimate each PUB from shots: its final measurements are removed, its observables'
        Pauli terms grouped into qubit-wise commuting bases, each basis measured with
        ``ceil(1 / pub.precision**2)`` shots per parameter point.

        Returns:
            One ``PubResult`` per PUB with ``evs``, ``stds`` (standard errors) and
            ``ensemble_standard_error`` (= ``stds``), float64 arrays of shape ``pub.shape``
            (parameter values broadcast against observables); metadata ``{"shots",
            "target_precision", "num_randomizations", "resilience", "circuit_metadata"}``.
            Result metadata as for the Sampler, plus IBM's ``dynamical_decoupling``,
            ``twirling`` and ``resilience`` blocks.

        ``options`` (the job's) choose the error mitigation, as qiskit-ibm-runtime's
        (:mod:`.mitigation`; unset fields default to resilience level 1: measurement twirling
        and TREX). Without ``options`` nothing is mitigated (the executor's plain behaviour).

        Raises:
            InvalidPub: as :meth:`validate_estimator_pub`; ``InvalidOption`` (a subclass) for
                an option that cannot be emulated.
            ExecutionFailed: the emulator cannot run a circuit.
        """
        settings = UNMITIGATED if options is None else mitigation.estimator_settings(options)
        if settings.seed is not None:
            seed = settings.seed
        seeds = np.random.SeedSequence(seed).spawn(len(pubs))
        results, spans = [], []
        for index, (pub, pub_seed) in enumerate(zip(pubs, seeds, strict=True)):
            self.validate_estimator_pub(pub, index)
            start = datetime.now(UTC)
            shots = estimator_shots(pub.precision)
            randomizations = 1
            if settings.twirling.enable_measure:
                randomizations, per = settings.twirling.split(shots)
                shots = randomizations * per
            evs, stds = self._estimate(pub, shots, pub_seed, settings)
            results.append(
                PubResult(
                    DataBin(evs=evs, stds=stds, ensemble_standard_error=stds, shape=pub.shape),
                    metadata={
                        "shots": shots,
                        "target_precision": pub.precision,
                        "num_randomizations": randomizations,
                        "resilience": {},
                        "circuit_metadata": pub.circuit.metadata,
                    },
                )
            )
            spans.append(_whole_span(index, start, pub.shape))
        result = _primitive_result(results, spans)
        if options is not None:
            result.metadata.update(settings.job_metadata())
        return result

    def _estimate(
        self,
        pub: EstimatorPub,
        shots: int,
        seed: np.random.SeedSequence,
        settings: mitigation.EstimatorSettings | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Expectation values and standard errors, float64 arrays of shape ``pub.shape``.

        When the circuit's final state is small (see :func:`_state_plan`) it is simulated once
        per parameter point and each basis's distribution taken from it; otherwise each basis
        circuit is sampled on its own. With ``settings`` the measurements are twirled and,
        with TREX, each term rescaled by its learned readout fidelity (:mod:`.mitigation`)."""
        settings = settings or UNMITIGATED
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
            basis_seed, twirl_seed = basis_seed.spawn(2)
            twirl_rng = np.random.default_rng(twirl_seed)
            masks, coeffs = self._readout_mitigation(basis, shots, settings, twirl_rng)
            if state_plan is None:
                packed = self._sample_twirled(
                    measured, register, basis, values, shots, masks, basis_seed
                )
                moments = [
                    _native.diagonal_expectations(
                        packed[point], len(basis.qubits), basis.terms, coeffs
                    )
                    for point in range(num_points)
                ]
            else:
                moments = self._sample_basis(
                    states, state_plan, basis, shots, basis_seed, coeffs, masks
                )
            for point, (basis_means, basis_errors) in enumerate(moments):
                means[point] += basis_means
                variances[point] += np.square(basis_errors)
        shape, param_index, obs_index = _native.broadcast_indices(
            pub.parameter_values.shape, pub.observables.shape
        )
        evs = means[param_index, obs_index].reshape(shape)
        stds = np.sqrt(variances[param_index, obs_index]).reshape(shape)
        return evs, stds

    def _readout_mitigation(
        self,
        basis: MeasurementBasis,
        shots: int,
        settings: mitigation.EstimatorSettings,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray | None, np.ndarray]:
        """The measurement twirls of ``basis`` (bool ``(randomizations, qubits)``, or ``None``
        untwirled) and its coefficients, divided by each term's learned readout fidelity under
        TREX (learned only on a noisy device: an ideal readout has fidelity 1)."""
        masks = None
        if settings.twirling.enable_measure:
            count, _ = settings.twirling.split(shots)
            masks = mitigation.flip_masks(rng, count, len(basis.qubits))
        coeffs = basis.coeffs
        if settings.measure_mitigation and self._noise is not None:
            per = settings.learning_shots or settings.twirling.split(shots)[1]
            fidelities = mitigation.learn_term_fidelities(
                self._noise.readout_assignment(basis.qubits),
                basis.terms,
                settings.learning_randomizations,
                per,
                rng,
            )
            coeffs = coeffs * mitigation.fidelity_scale(fidelities)[None, :]
        return masks, coeffs

    def _sample_twirled(
        self,
        measured: QuantumCircuit,
        register,
        basis: MeasurementBasis,
        values: np.ndarray,
        shots: int,
        masks: np.ndarray | None,
        seed: np.random.SeedSequence,
    ) -> np.ndarray:
        """Shots of ``measured`` (packed, ``(points, shots, bytes)``); with ``masks``, split
        evenly over the measurement twirls, each run with its X gates and its bits flipped
        back."""
        if masks is None:
            (packed,) = sample_registers(
                measured, [register], values, shots, seed, self._noise, self.memo
            )
            return packed
        per = shots // len(masks)
        parts = []
        for mask, mask_seed in zip(masks, seed.spawn(len(masks)), strict=True):
            twirled = mitigation.twirled_measurements(measured, basis.qubits, mask)
            (packed,) = sample_registers(twirled, [register], values, per, mask_seed, self._noise)
            parts.append(packed ^ mitigation.packed_mask(mask))
        return np.concatenate(parts, axis=1)

    def _sample_basis(
        self,
        states: list,
        state_plan: _StatePlan,
        basis: MeasurementBasis,
        shots: int,
        seed: np.random.SeedSequence,
        coeffs: np.ndarray | None = None,
        masks: np.ndarray | None = None,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per state: the means and standard errors of the basis's observables over ``shots``
        measurements of ``basis`` (read through the device's readout errors if it has noise).

        The shots' outcome counts are one multinomial draw from the exact distribution, which
        is what counting ``shots`` independent shots gives; each observable's mean and standard
        error (``sqrt(var / shots)``) follow from the counts as from the shots themselves."""
        qubits = [state_plan.position[q] for q in basis.qubits]
        if coeffs is None or coeffs is basis.coeffs:
            values = derive(self.memo, basis, "outcome values", lambda: _outcome_values(basis))
        else:
            values = coeffs @ _term_signs(basis)
        rngs = [np.random.default_rng(s) for s in seed.spawn(len(states))]
        moments = []
        for state, rng in zip(states, rngs, strict=True):
            ideal = basis_probabilities(state, qubits, basis.paulis)
            if self._noise is None:
                counts = _draw(ideal, shots, rng)
            elif masks is None:
                assignment = self._noise.readout_assignment(basis.qubits)
                counts = _draw(apply_readout_errors(ideal, assignment), shots, rng)
            else:  # each twirl reads through its flipped channel; flipped bits come back
                assignment = self._noise.readout_assignment(basis.qubits)
                per = shots // len(masks)
                counts = sum(
                    _draw(
                        apply_readout_errors(
                            ideal, mitigation.twirled_assignment(assignment, mask)
                        ),
                        per,
                        rng,
                    )
                    for mask in masks
                )
            means = values @ counts / shots
            variances = np.clip(np.square(values) @ counts / shots - np.square(means), 0.0, None)
            moments.append((means, np.sqrt(variances / shots)))
        return moments


def _draw(probabilities: np.ndarray, shots: int, rng: np.random.Generator) -> np.ndarray:
    """Outcome counts of ``shots`` shots: one multinomial draw from ``probabilities``."""
    probabilities = np.clip(probabilities, 0.0, None)
    return rng.multinomial(shots, probabilities / probabilities.sum())


def _term_signs(basis: MeasurementBasis) -> np.ndarray:
    """float64 ``(terms, 2**len(basis.qubits))``: each term's +-1 parity on each outcome."""
    outcomes = np.arange(2 ** len(basis.qubits), dtype=np.uint64)
    masks = np.array(
        [int(term.replace("Z", "1").replace("I", "0"), 2) for term in basis.terms], np.uint64
    )
    parities = np.bitwise_count(outcomes[None, :] & masks[:, None]) & 1  # (terms, outcomes)
    return 1.0 - 2.0 * parities


def _outcome_values(basis: MeasurementBasis) -> np.ndarray:
    """float64 ``(observables, 2**len(basis.qubits))``: each observable's value (the sum of
    its terms' coefficients times their +-1 parities) on each outcome of ``basis``."""
    return basis.coeffs @ _term_signs(basis)


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
