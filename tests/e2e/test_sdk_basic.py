"""The SDK's core promise: backends with real Targets, and Sampler/Estimator jobs that return
Qiskit results, exactly as qiskit-ibm-runtime users write them."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.primitives import BaseEstimatorV2, BaseSamplerV2, PrimitiveResult
from qiskit.providers import BackendV2, QiskitBackendNotFoundError
from qiskit.quantum_info import SparsePauliOp, Statevector
from qiskit.transpiler import generate_preset_pass_manager

from qsession import BitArray, EstimatorV2, SamplerV2
from tests.circuits import bell


def isa(circuit: QuantumCircuit, backend) -> QuantumCircuit:
    return generate_preset_pass_manager(backend=backend, optimization_level=1).run(circuit)


def test_backends_are_qiskit_backends_with_the_device_size(service):
    backends = {backend.name: backend for backend in service.backends()}
    assert set(backends) == {"ideal_24", "fake_torino"}
    assert all(isinstance(backend, BackendV2) for backend in backends.values())
    assert backends["ideal_24"].num_qubits == 24
    assert backends["fake_torino"].num_qubits == 133


def test_fake_torino_target_transpiles_to_its_basis_and_coupling_map(service):
    backend = service.backend("fake_torino")
    circuit = isa(bell(), backend)
    coupling = set(backend.target.build_coupling_map().get_edges())
    for instruction in circuit.data:
        name = instruction.operation.name
        qubits = tuple(circuit.find_bit(q).index for q in instruction.qubits)
        if name == "barrier":
            continue
        assert backend.target.instruction_supported(name, qubits), (name, qubits)
        if len(qubits) == 2:
            assert qubits in coupling
    assert circuit.num_qubits == 133
    assert "cz" in backend.target.operation_names


def test_backend_status_reports_operational_and_pending_jobs(service):
    status = service.backend("ideal_24").status()
    assert status.operational is True
    assert status.pending_jobs >= 0
    assert status.backend_name == "ideal_24"


def test_least_busy_honours_min_num_qubits(service):
    assert (
        service.least_busy(operational=True, simulator=False, min_num_qubits=100).name
        == "fake_torino"
    )


def test_an_unknown_backend_raises_qiskits_backend_not_found(service):
    with pytest.raises(QiskitBackendNotFoundError):
        service.backend("ibm_nowhere")


def test_backend_run_runs_the_circuits_as_one_sampler_job_with_qiskit_counts(service):
    job = service.backend("ideal_24").run(bell(), shots=500)
    assert job.runtime_job.primitive_id == "sampler"
    counts = job.result().get_counts()
    assert sum(counts.values()) == 500
    assert set(counts) <= {"00", "11"}


def test_primitives_implement_qiskits_base_interfaces(service):
    backend = service.backend("ideal_24")
    assert isinstance(SamplerV2(mode=backend), BaseSamplerV2)
    assert isinstance(EstimatorV2(mode=backend), BaseEstimatorV2)


def test_sampler_counts_of_a_bell_state_are_only_00_and_11(service):
    backend = service.backend("ideal_24")
    job = SamplerV2(mode=backend).run([isa(bell(), backend)], shots=2000)
    result = job.result()
    assert isinstance(result, PrimitiveResult)
    meas = result[0].data.meas
    assert isinstance(meas, BitArray)
    counts = meas.get_counts()
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 2000
    assert abs(counts.get("00", 0) - 1000) < 5 * np.sqrt(2000 * 0.25)


def test_sampler_broadcasts_parameter_values_to_the_pub_shape(service):
    backend = service.backend("ideal_24")
    circuit = QuantumCircuit(1)
    circuit.ry(Parameter("t"), 0)
    circuit.measure_all()
    angles = np.array([[0.0, np.pi], [np.pi / 2, np.pi]])
    result = (
        SamplerV2(mode=backend).run([(isa(circuit, backend), angles[..., None], 1000)]).result()
    )
    ones = result[0].data.meas.bitcount().mean(axis=-1)
    assert ones.shape == (2, 2)
    np.testing.assert_array_equal(ones[0], [0.0, 1.0])
    assert abs(ones[1, 0] - 0.5) < 5 * np.sqrt(0.25 / 1000)


def test_estimator_values_agree_with_the_statevector_within_five_standard_errors(service):
    backend = service.backend("ideal_24")
    circuit = QuantumCircuit(2)
    circuit.ry(Parameter("a"), 0)
    circuit.cx(0, 1)
    circuit.rx(Parameter("b"), 1)
    transpiled = isa(circuit, backend)
    observables = [
        SparsePauliOp("ZZ"),
        SparsePauliOp("XI"),
        SparsePauliOp(["IY", "ZI"], [0.5, -0.5]),
    ]
    values = np.array([[0.3, 1.1], [2.0, -0.4], [np.pi / 2, 0.0]])
    mapped = [[o.apply_layout(transpiled.layout)] for o in observables]
    data = (
        EstimatorV2(mode=backend)
        .run([(transpiled, mapped, values)], precision=0.01)
        .result()[0]
        .data
    )
    assert data.evs.shape == (3, 3)
    for i, observable in enumerate(observables):
        for j, point in enumerate(values):
            exact = Statevector(circuit.assign_parameters(point)).expectation_value(observable).real
            assert abs(data.evs[i, j] - exact) <= 5 * max(data.stds[i, j], 1e-3), (i, j)


def test_job_metadata_and_metrics_describe_the_run(service):
    backend = service.backend("ideal_24")
    sampler = SamplerV2(mode=backend, options={"environment": {"job_tags": ["basic-metrics"]}})
    job = sampler.run([isa(bell(), backend)])
    job.result()
    assert job.status() == "DONE" and job.done() and job.in_final_state()
    assert job.session_id is None
    assert job.tags == ["basic-metrics"]
    assert job.primitive_id == "sampler"
    assert job.backend() is backend
    metrics = job.metrics()
    stamps = metrics["timestamps"]
    assert stamps["created"] <= stamps["running"] <= stamps["finished"]
    assert metrics["usage"]["quantum_seconds"] > 0
    assert job.usage() == metrics["usage"]["quantum_seconds"]
    assert job.error_message() is None


def test_service_job_finds_a_submitted_job_by_id(service):
    backend = service.backend("ideal_24")
    job = SamplerV2(mode=backend).run([isa(bell(), backend)], shots=64)
    again = service.job(job.job_id())
    assert again.job_id() == job.job_id()
    assert again.result()[0].data.meas.num_shots == 64


def test_the_same_seed_gives_the_same_shots(service):
    backend = service.backend("ideal_24")
    sampler = SamplerV2(mode=backend, options={"simulator": {"seed_simulator": 1234}})
    circuit = isa(bell(), backend)
    first = sampler.run([circuit]).result()[0].data.meas
    second = sampler.run([circuit]).result()[0].data.meas
    np.testing.assert_array_equal(first.array, second.array)


def test_estimator_default_shots_sets_the_shots_as_ibm_counts_them(service):
    backend = service.backend("ideal_24")
    circuit = QuantumCircuit(1)
    circuit.h(0)
    transpiled = isa(circuit, backend)
    pub = (transpiled, SparsePauliOp("Z").apply_layout(transpiled.layout))
    exact = EstimatorV2(mode=backend, options={"default_shots": 10_000, "resilience_level": 0})
    assert exact.run([pub]).result()[0].metadata["shots"] == 10_000
    # Level 1 (the default) twirls measurements: 32 randomizations of
    # max(64, ceil(10000 / 32)) = 313 shots each, as IBM runs them.
    twirled = EstimatorV2(mode=backend, options={"default_shots": 10_000})
    assert twirled.run([pub]).result()[0].metadata["shots"] == 32 * 313
