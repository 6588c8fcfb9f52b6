"""The Estimator on the emulated QPU: shot-based like a QPU, Qiskit EstimatorV2 semantics."""

from __future__ import annotations

import math
from unittest import mock

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.primitives.containers import PubResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qsession.execution import Executor, load_profile
from qsession.execution import estimator_plan as executor_module
from qsession.execution.aer import PreparedRun

DEFAULT_PRECISION = 1 / math.sqrt(4096)


@pytest.fixture(scope="module")
def ideal() -> Executor:
    return Executor(load_profile("ideal_24"), noise=False)


def bell_state() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    return circuit


def estimate(executor: Executor, pub: EstimatorPub, seed: int = 1) -> PubResult:
    return executor.run_estimator([pub], seed=seed)[0]


def test_bell_state_zz_and_xx_are_one_yy_minus_one_zi_zero(ideal: Executor) -> None:
    observables = [SparsePauliOp(label) for label in ("ZZ", "XX", "YY", "ZI", "IX")]
    pub = EstimatorPub.coerce((bell_state(), observables), precision=DEFAULT_PRECISION)
    data = estimate(ideal, pub).data
    np.testing.assert_allclose(data.evs[:3], [1, 1, -1], atol=1e-12)
    np.testing.assert_array_less(np.abs(data.evs[3:]), 5 * data.stds[3:])


def test_stds_are_standard_errors_on_the_scale_of_one_over_root_shots(ideal: Executor) -> None:
    pub = EstimatorPub.coerce((bell_state(), ["ZI", "ZZ"]), precision=DEFAULT_PRECISION)
    result = estimate(ideal, pub)
    assert result.metadata["shots"] == 4096
    assert result.metadata["target_precision"] == pytest.approx(DEFAULT_PRECISION)
    assert result.data.stds[0] == pytest.approx(1 / 64, rel=0.05)
    assert result.data.stds[1] == 0.0
    np.testing.assert_array_equal(result.data.ensemble_standard_error, result.data.stds)


def test_precision_sets_the_shots_as_ceil_one_over_precision_squared(ideal: Executor) -> None:
    result = estimate(ideal, EstimatorPub.coerce((bell_state(), "XI"), precision=0.03))
    assert result.metadata["shots"] == math.ceil(1 / 0.03**2) == 1112
    assert result.data.stds == pytest.approx(0.03, rel=0.1)


def test_observables_3x1_broadcast_against_parameters_2_into_3x2(ideal: Executor) -> None:
    theta = Parameter("theta")
    circuit = QuantumCircuit(1)
    circuit.ry(theta, 0)
    observables = [["Z"], ["X"], ["Y"]]
    pub = EstimatorPub.coerce((circuit, observables, [0.0, np.pi / 2]), precision=0.01)
    data = estimate(ideal, pub).data
    assert data.shape == data.evs.shape == data.stds.shape == (3, 2)
    expected = np.array([[1, 0], [0, 1], [0, 0]])
    np.testing.assert_array_less(np.abs(data.evs - expected), 5 * data.stds + 1e-12)


def test_sums_of_paulis_and_identity_terms_combine_over_bases(ideal: Executor) -> None:
    observable = SparsePauliOp.from_list([("II", 0.5), ("ZZ", 2.0), ("XX", -1.0), ("XI", 3.0)])
    data = estimate(ideal, EstimatorPub.coerce((bell_state(), observable), precision=0.01)).data
    assert abs(data.evs - 1.5) < 5 * data.stds
    assert data.stds == pytest.approx(3 * 0.01, rel=0.1)


def test_final_measurements_are_removed_before_estimating(ideal: Executor) -> None:
    circuit = bell_state()
    circuit.measure_all()
    data = estimate(ideal, EstimatorPub.coerce((circuit, "XX"), precision=0.05)).data
    assert data.evs == pytest.approx(1.0)


def test_layout_applied_observable_on_transpiled_fake_torino_circuit() -> None:
    executor = Executor(load_profile("fake_torino"), noise=False)
    target = executor.profile.target
    isa = generate_preset_pass_manager(target=target, optimization_level=1, seed_transpiler=3).run(
        bell_state()
    )
    observables = [SparsePauliOp(label).apply_layout(isa.layout) for label in ("ZZ", "XX", "ZI")]
    pub = EstimatorPub.coerce((isa, observables), precision=DEFAULT_PRECISION)
    data = estimate(executor, pub).data
    np.testing.assert_allclose(data.evs[:2], [1, 1], atol=1e-12)
    assert abs(data.evs[2]) < 5 * data.stds[2]


def test_noise_pulls_expectation_values_below_ideal() -> None:
    executor = Executor(load_profile("fake_torino"), noise=True)
    isa = generate_preset_pass_manager(
        target=executor.profile.target, optimization_level=1, initial_layout=[92, 99]
    ).run(bell_state())
    observable = SparsePauliOp("ZZ").apply_layout(isa.layout)
    data = estimate(executor, EstimatorPub.coerce((isa, observable), precision=0.02)).data
    assert 0.85 < data.evs < 1 - 5 * data.stds


def test_estimates_are_reproducible_for_a_seed(ideal: Executor) -> None:
    pub = EstimatorPub.coerce((bell_state(), ["XI", "ZI"]), precision=0.05)
    first = estimate(ideal, pub, seed=7).data.evs
    np.testing.assert_array_equal(first, estimate(ideal, pub, seed=7).data.evs)
    assert not np.array_equal(first, estimate(ideal, pub, seed=8).data.evs)


def test_one_state_simulation_serves_every_basis_and_agrees_with_sampling_each_basis(
    ideal: Executor,
) -> None:
    theta = Parameter("θ")
    circuit = QuantumCircuit(4)
    circuit.ry(theta, 0)
    circuit.cx(0, 1)
    circuit.rx(0.7, 1)  # qubits 2 and 3 stay idle: X and Y there read a fair coin
    observables = ["ZZII", "XXII", "YIII", "IZXI", "IYII", "XIII"][::-1]
    values = np.array([0.3, 1.9]).reshape(2, 1, 1)  # (2, 1) points of one parameter
    pub = EstimatorPub.coerce((circuit, [observables], values), precision=0.01)
    runs = mock.patch.object(PreparedRun, "run", autospec=True, side_effect=PreparedRun.run)
    with runs as run:
        single = estimate(ideal, pub, seed=4).data
    assert run.call_count == 1  # one state per point for all bases
    with mock.patch.object(executor_module, "ESTIMATOR_STATE_MAX_QUBITS", 0):
        per_basis = estimate(ideal, pub, seed=5).data
    assert single.evs.shape == per_basis.evs.shape == (2, 6)
    np.testing.assert_allclose(single.stds, per_basis.stds, rtol=0.2, atol=2e-4)
    assert np.all(np.abs(single.evs - per_basis.evs) <= 5 * np.hypot(single.stds, per_basis.stds))
    assert np.all(np.abs(single.evs[:, :2]) <= 5 * single.stds[:, :2])  # X, Y on idle qubits
