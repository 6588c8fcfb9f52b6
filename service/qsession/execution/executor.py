"""The emulated QPU: runs Sampler and Estimator PUBs on Qiskit Aer with Qiskit's semantics."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.primitives import PrimitiveResult
from qiskit.primitives.containers import BitArray, DataBin, PubResult, SamplerPubResult
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub

from qsession import _native
from qsession.execution.measurement_plan import MeasurementPlan, basis_circuit, plan_measurements
from qsession.execution.memo import Memo, derive
from qsession.execution.noise import DeviceNoise
from qsession.execution.profiles import DeviceProfile
from qsession.execution.sampling import sample_registers
from qsession.execution.validation import (
    estimator_shots,
    validate_estimator_pub,
    validate_sampler_pub,
)
from qsession.execution_span import ExecutionSpans, SliceSpan


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
        validate_sampler_pub(pub, f"sampler_pubs[{index}]", self.profile.target, self.profile.name)

    def validate_estimator_pub(self, pub: EstimatorPub, index: int) -> None:
        """Check that ``pub`` (precision resolved) runs on this device as given.

        Raises:
            InvalidPub: field ``estimator_pubs[index].circuit``, ``.observables`` (width
                differs from the circuit's), ``.precision`` or ``.parameter_values``.
        """
        validate_estimator_pub(
            pub, f"estimator_pubs[{index}]", self.profile.target, self.profile.name
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
        """Expectation values and standard errors, float64 arrays of shape ``pub.shape``."""
        values = _points(pub.parameter_values, pub.circuit)
        plan, measured_bases = derive(
            self.memo, pub.circuit, "bases", lambda: _measured_bases(pub), _observables_key(pub)
        )
        num_points = values.shape[0]
        means = np.tile(plan.constant, (num_points, 1))  # (points, observables)
        variances = np.zeros_like(means)
        bases = zip(plan.bases, measured_bases, seed.spawn(len(plan.bases)), strict=True)
        for basis, (measured, register), basis_seed in bases:
            (packed,) = sample_registers(
                measured, [register], values, shots, basis_seed, self._noise, self.memo
            )
            for point in range(num_points):
                basis_means, basis_errors = _native.diagonal_expectations(
                    packed[point], len(basis.qubits), basis.terms, basis.coeffs
                )
                means[point] += basis_means
                variances[point] += np.square(basis_errors)
        shape, param_index, obs_index = _native.broadcast_indices(
            pub.parameter_values.shape, pub.observables.shape
        )
        evs = means[param_index, obs_index].reshape(shape)
        stds = np.sqrt(variances[param_index, obs_index]).reshape(shape)
        return evs, stds


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
