"""Noisy circuits with terminal measurements: one exact density-matrix distribution, then shots.

The reference everywhere is Aer itself, sampling shot by shot with the device's whole noise
model (``DeviceNoise.model_for``, readout errors applied by Aer to each shot) on the circuit
restricted to the device qubits it uses. Distributions are compared with Pearson's chi-square
test at a false-failure rate of 1e-6, so the tolerance follows from the shot count.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from contextlib import AbstractContextManager
from unittest import mock

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import Parameter
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.quantum_info import SparsePauliOp, random_density_matrix, random_statevector
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_aer import AerSimulator
from scipy import stats

from qsession.execution import Executor, distribution, load_profile, sampling
from qsession.execution.aer import PreparedRun
from qsession.execution.noise import DeviceNoise
from qsession.execution.reduction import reduce_circuit
from tests.circuits import bell, ghz

SHOTS = 200_000
FALSE_FAILURE_RATE = 1e-6


@pytest.fixture(scope="module")
def executor() -> Executor:
    return Executor(load_profile("fake_torino"), noise=True)


@pytest.fixture(scope="module")
def noise() -> DeviceNoise:
    return DeviceNoise(load_profile("fake_torino").target)


def on_torino(circuit: QuantumCircuit, layout: list[int]) -> QuantumCircuit:
    """``circuit`` transpiled to fake_torino with logical qubit ``j`` on device qubit
    ``layout[j]``."""
    target = load_profile("fake_torino").target
    return generate_preset_pass_manager(
        target=target, optimization_level=1, initial_layout=layout, seed_transpiler=3
    ).run(circuit)


def on_qubits(circuit: QuantumCircuit, qubits: list[int]) -> QuantumCircuit:
    """A device-wide ``circuit`` on device qubits ``qubits`` only (``qubits[j]`` becomes
    ``j``; same classical registers), dropping barriers that reach other qubits."""
    index = {q: j for j, q in enumerate(qubits)}
    small = QuantumCircuit(QuantumRegister(len(qubits)), *circuit.cregs)
    for inst in circuit.data:
        device = [circuit.find_bit(q).index for q in inst.qubits]
        if all(q in index for q in device):
            small.append(inst.operation, [index[q] for q in device], inst.clbits)
        else:
            assert inst.operation.name == "barrier"
    return small


def used_qubits(circuit: QuantumCircuit) -> list[int]:
    """Device qubits any instruction other than a barrier acts on, ascending."""
    return sorted(
        {
            circuit.find_bit(q).index
            for inst in circuit.data
            if inst.operation.name != "barrier"
            for q in inst.qubits
        }
    )


def aer_per_shot_counts(
    circuit: QuantumCircuit, noise: DeviceNoise, values: np.ndarray | None = None
) -> np.ndarray:
    """Aer's shot-by-shot noisy counts, int64 ``(points, 2**num_clbits)`` indexed by the
    clbits' value (bit ``j`` = clbit ``j``), ``SHOTS`` per parameter point."""
    qubits = used_qubits(circuit)
    small = on_qubits(circuit, qubits)
    simulator = AerSimulator(noise_model=noise.model_for(tuple(qubits)), seed_simulator=5)
    binds = None
    if values is not None:
        binds = [{param: values[:, j] for j, param in enumerate(small.parameters)}]
    result = simulator.run(small, parameter_binds=binds, shots=SHOTS).result()
    points = 1 if values is None else len(values)
    counts = np.zeros((points, 2**circuit.num_clbits), np.int64)
    for point in range(points):
        for key, count in result.data(point)["counts"].items():
            counts[point, int(key, 16)] = count
    return counts


def exact_distribution(
    circuit: QuantumCircuit, noise: DeviceNoise, values: np.ndarray | None = None
) -> np.ndarray:
    """The fast path's distribution, float64 ``(points, 2**num_clbits)`` indexed by the
    clbits' value, for a circuit whose clbits each hold a measurement of an active qubit."""
    reduced = reduce_circuit(circuit)
    assert reduced.final_measures is not None and not reduced.idle_measures
    measured = [reduced.final_measures[c] for c in range(circuit.num_clbits)]
    rows = np.zeros((1, 0)) if values is None else values
    return np.array(distribution.final_distribution(reduced, measured, rows, noise))


def chi_square_p_value(counts: np.ndarray, probabilities: np.ndarray) -> float:
    """Pearson's goodness-of-fit p-value of ``counts`` drawn from ``probabilities``; outcomes
    expected fewer than 5 times are pooled into one bin (into the smallest other one if the
    pool is still expected fewer than 5 times)."""
    weights = np.clip(probabilities, 0.0, None)
    expected = counts.sum() * weights / weights.sum()
    large = expected >= 5
    observed_bins, expected_bins = list(counts[large]), list(expected[large])
    pooled_observed, pooled_expected = counts[~large].sum(), expected[~large].sum()
    if pooled_expected >= 5:
        observed_bins.append(pooled_observed)
        expected_bins.append(pooled_expected)
    else:
        smallest = int(np.argmin(expected_bins))
        observed_bins[smallest] += pooled_observed
        expected_bins[smallest] += pooled_expected
    return float(stats.chisquare(observed_bins, expected_bins).pvalue)


def assert_follows(counts: np.ndarray, probabilities: np.ndarray) -> None:
    p_value = chi_square_p_value(counts, probabilities)
    assert p_value > FALSE_FAILURE_RATE, f"chi-square p-value {p_value:.3g}"


def per_shot_path_forbidden() -> AbstractContextManager[object]:
    return mock.patch.object(
        sampling, "_sample_from_memory", side_effect=AssertionError("per-shot path taken")
    )


def fast_path_forbidden() -> AbstractContextManager[object]:
    return mock.patch.object(
        sampling, "final_distribution", side_effect=AssertionError("fast path taken")
    )


def test_readout_assignment_of_a_basis_state_is_the_product_of_its_qubits_rows() -> None:
    assignment = np.array([[[0.9, 0.1], [0.2, 0.8]], [[0.97, 0.03], [0.05, 0.95]]])
    state = np.zeros(4)
    state[0b01] = 1.0  # qubit 0 in 1, qubit 1 in 0
    read = distribution.apply_readout_errors(state, assignment)
    np.testing.assert_allclose(read, np.kron(assignment[1][0], assignment[0][1]), atol=1e-15)


def test_bell_pair_distribution_equals_aer_per_shot(noise: DeviceNoise) -> None:
    circuit = on_torino(bell(), [0, 1])
    (exact,) = exact_distribution(circuit, noise)
    (counts,) = aer_per_shot_counts(circuit, noise)
    assert_follows(counts, exact)


def test_each_measured_qubit_reads_through_its_own_device_qubits_readout_error(
    noise: DeviceNoise,
) -> None:
    # Device qubits 0 and 1 read wrong 16.7 % and 2.3 % of the time; in an uneven superposition
    # of 00 and 11, the comparison tells them apart.
    logical = QuantumCircuit(2)
    logical.ry(1.0, 0)
    logical.cx(0, 1)
    logical.measure_all()
    circuit = on_torino(logical, [0, 1])
    (exact,) = exact_distribution(circuit, noise)
    (counts,) = aer_per_shot_counts(circuit, noise)
    assert_follows(counts, exact)
    assignment = noise.readout_assignment([0, 1])
    before_readout = distribution.apply_readout_errors(exact, np.linalg.inv(assignment))
    swapped = distribution.apply_readout_errors(before_readout, assignment[::-1])
    assert chi_square_p_value(counts, swapped) < FALSE_FAILURE_RATE


def test_four_qubit_ghz_distribution_equals_aer_per_shot(noise: DeviceNoise) -> None:
    circuit = on_torino(ghz(4), [2, 3, 4, 5])
    (exact,) = exact_distribution(circuit, noise)
    (counts,) = aer_per_shot_counts(circuit, noise)
    assert_follows(counts, exact)


def test_gate_noise_is_exactly_aers_whole_noise_model_on_the_same_device_qubits(
    noise: DeviceNoise,
) -> None:
    # Exact against exact: Aer's density matrix under NoiseModel.from_backend of the active
    # qubits, readout applied afterwards; qubits 2..5 differ in T1, T2 and gate errors.
    circuit = on_torino(ghz(4), [2, 3, 4, 5])
    reduced = reduce_circuit(circuit)
    measured = [reduced.final_measures[c] for c in range(circuit.num_clbits)]
    unitary = reduced.circuit.remove_final_measurements(inplace=False)
    unitary.save_probabilities(measured)
    simulator = AerSimulator(method="density_matrix", noise_model=noise.model_for(reduced.active))
    reference = simulator.run(unitary, shots=1).result().data()["probabilities"]
    assignment = noise.readout_assignment(reduced.active[q] for q in measured)
    (exact,) = distribution.final_distribution(reduced, measured, np.zeros((1, 0)), noise)
    np.testing.assert_allclose(
        exact, distribution.apply_readout_errors(reference, assignment), atol=1e-12
    )


def test_parameter_sweep_distributions_equal_aer_per_shot_at_each_point(
    noise: DeviceNoise,
) -> None:
    theta, phi = Parameter("theta"), Parameter("phi")
    logical = QuantumCircuit(3)
    logical.ry(theta, 0)
    logical.cx(0, 1)
    logical.rx(phi, 1)
    logical.cx(1, 2)
    logical.measure_all()
    circuit = on_torino(logical, [12, 13, 14])
    values = np.array([[0.3, 1.1], [1.7, -0.4], [2.9, 2.2]])
    exact = exact_distribution(circuit, noise, values)
    counts = aer_per_shot_counts(circuit, noise, values)
    for point in range(len(values)):
        assert_follows(counts[point], exact[point])


def test_registers_and_an_idle_measured_qubit_sample_like_aer_per_shot(
    executor: Executor, noise: DeviceNoise
) -> None:
    alpha, beta = ClassicalRegister(2, "alpha"), ClassicalRegister(2, "beta")
    logical = QuantumCircuit(QuantumRegister(4), alpha, beta)
    logical.h(0)
    logical.cx(0, 1)
    logical.ry(0.8, 2)
    logical.cx(1, 2)
    logical.measure([0, 1], alpha)
    logical.measure([2, 3], beta)  # logical qubit 3 is idle: device qubit 19 reads 1 25.7 %
    circuit = on_torino(logical, [7, 8, 9, 19])
    assert reduce_circuit(circuit).idle_measures == {3: 19}
    with per_shot_path_forbidden():
        data = executor.run_sampler([SamplerPub.coerce(circuit, SHOTS)], seed=3)[0].data
    joint = data.alpha.array[:, 0].astype(np.int64) | (data.beta.array[:, 0].astype(np.int64) << 2)
    ours = np.bincount(joint, minlength=16)
    (reference,) = aer_per_shot_counts(circuit, noise)
    table = np.array([ours, reference])
    table = table[:, table.sum(axis=0) > 0]
    p_value = stats.chi2_contingency(table).pvalue
    assert p_value > FALSE_FAILURE_RATE, f"chi-square p-value {p_value:.3g}"


def test_noisy_terminal_measurements_take_one_density_matrix_run_for_all_points(
    executor: Executor,
) -> None:
    theta = Parameter("theta")
    logical = QuantumCircuit(2)
    logical.ry(theta, 0)
    logical.cx(0, 1)
    logical.measure_all()
    pub = SamplerPub.coerce((on_torino(logical, [0, 1]), [[0.1], [0.2], [0.3]]), 100)
    runs = mock.patch.object(PreparedRun, "run", autospec=True, side_effect=PreparedRun.run)
    with per_shot_path_forbidden(), runs as run_points:
        assert executor.run_sampler([pub], seed=1)[0].data.meas.shape == (3,)
    assert run_points.call_count == 1


def _mid_circuit_measurement() -> QuantumCircuit:
    logical = QuantumCircuit(2, 2)
    logical.h(0)
    logical.measure(0, 0)
    logical.cx(0, 1)
    logical.measure(1, 1)
    return on_torino(logical, [0, 1])


def _with_delay() -> QuantumCircuit:
    logical = QuantumCircuit(2)
    logical.h(0)
    logical.delay(160, 0, unit="dt")
    logical.cx(0, 1)
    logical.measure_all()
    return on_torino(logical, [0, 1])


def _one_qubit_in_two_bits() -> QuantumCircuit:
    logical = QuantumCircuit(2, 3)
    logical.h(0)
    logical.cx(0, 1)
    logical.measure([0, 1, 1], [0, 1, 2])
    return on_torino(logical, [0, 1])


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(_mid_circuit_measurement, id="mid-circuit measurement"),
        pytest.param(lambda: on_torino(ghz(11), list(range(11))), id="11 active qubits"),
        pytest.param(_with_delay, id="delay"),
        pytest.param(_one_qubit_in_two_bits, id="one qubit read into two bits"),
    ],
)
def test_other_noisy_circuits_are_sampled_shot_by_shot(
    executor: Executor, build: Callable[[], QuantumCircuit]
) -> None:
    with fast_path_forbidden():
        executor.run_sampler([SamplerPub.coerce(build(), 10)], seed=1)


def test_fast_path_results_are_equal_bit_for_bit_for_a_seed() -> None:
    theta = Parameter("theta")
    logical = QuantumCircuit(3)
    logical.h(0)
    logical.cx(0, 1)
    logical.cx(1, 2)
    logical.ry(theta, 2)
    logical.measure_all()
    circuit = on_torino(logical, [2, 3, 4])
    pub = SamplerPub.coerce((circuit, [[0.4], [1.2]]), 1000)
    with per_shot_path_forbidden():
        first = Executor(load_profile("fake_torino"), noise=True).run_sampler([pub], seed=9)[0]
        again = Executor(load_profile("fake_torino"), noise=True).run_sampler([pub], seed=9)[0]
    assert first.data.meas == again.data.meas


def test_noisy_bell_estimates_agree_with_the_per_shot_path_within_standard_errors(
    executor: Executor,
) -> None:
    circuit = on_torino(bell().remove_final_measurements(inplace=False), [0, 1])
    observables = [
        SparsePauliOp(label).apply_layout(circuit.layout) for label in ("ZZ", "XX", "ZI")
    ]
    pub = EstimatorPub.coerce((circuit, observables), precision=0.01)
    with per_shot_path_forbidden():
        fast = executor.run_estimator([pub], seed=2)[0].data
    with mock.patch.object(sampling, "DENSITY_MATRIX_MAX_QUBITS", 0):
        per_shot = executor.run_estimator([pub], seed=3)[0].data
    assert np.all(fast.evs[:2] < 1 - 5 * fast.stds[:2])  # the noise shows
    assert np.all(np.abs(fast.evs - per_shot.evs) <= 5 * np.hypot(fast.stds, per_shot.stds))


def test_noisy_estimates_from_one_density_matrix_agree_with_shot_by_shot_bases(
    executor: Executor,
) -> None:
    """Three bases (ZZ, XX, and a Y on a device qubit the circuit never touches) from one
    density-matrix run per point, against Aer sampling every basis circuit shot by shot."""
    circuit = on_torino(bell().remove_final_measurements(inplace=False), [0, 1])
    idle = 2  # fake_torino qubit 2: not in the circuit; Y reads a fair coin through readout
    observables = [SparsePauliOp(label).apply_layout(circuit.layout) for label in ("ZZ", "XX")]
    observables.append(SparsePauliOp.from_sparse_list([("Y", [idle], 1.0)], circuit.num_qubits))
    pub = EstimatorPub.coerce((circuit, observables), precision=0.01)
    runs = mock.patch.object(PreparedRun, "run", autospec=True, side_effect=PreparedRun.run)
    with per_shot_path_forbidden(), runs as run_points:
        single = executor.run_estimator([pub], seed=2)[0].data
    assert run_points.call_count == 1
    with mock.patch.object(sampling, "DENSITY_MATRIX_MAX_QUBITS", 0):
        per_shot = executor.run_estimator([pub], seed=3)[0].data
    assert np.all(single.evs[:2] < 1 - 5 * single.stds[:2])  # the noise shows
    assert np.all(np.abs(single.evs - per_shot.evs) <= 5 * np.hypot(single.stds, per_shot.stds))


@pytest.mark.parametrize("num_qubits", [1, 2, 3])
@pytest.mark.parametrize("mixed", [False, True], ids=["statevector", "density matrix"])
def test_basis_probabilities_equal_qiskits_evolve_then_probabilities(num_qubits, mixed):
    """Every basis on every ordered subset of qubits, as Qiskit computes it."""
    make = random_density_matrix if mixed else random_statevector
    state = make(2**num_qubits, seed=num_qubits)
    for count in range(1, num_qubits + 1):
        for qubits in itertools.permutations(range(num_qubits), count):
            for paulis in map("".join, itertools.product("XYZ", repeat=count)):
                change = distribution._basis_change(paulis)
                evolved = state if change is None else state.evolve(change, qargs=list(qubits))
                np.testing.assert_allclose(
                    distribution.basis_probabilities(state, qubits, paulis),
                    evolved.probabilities(qargs=list(qubits)),
                    atol=1e-14,
                )
