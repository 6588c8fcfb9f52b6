"""Gate twirling in closed form (execution/twirled_channel.py): the Pauli twirl of a gate
error is the average of its Pauli conjugates, and an Estimator job whose twirled average runs
as one density-matrix run per noise factor reports values and standard errors with the
distribution of the per-randomization reference path (Kolmogorov-Smirnov over 200 seeds)."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.quantum_info import Pauli, SparsePauliOp, SuperOp, pauli_basis
from qiskit.transpiler import generate_preset_pass_manager
from scipy.stats import ks_2samp

from qsession.execution import Executor, load_profile, twirled_channel
from qsession.execution.memo import Memo
from qsession.execution.noise import DeviceNoise, pauli_twirl, restrict_target
from qsession.execution.profiles import DeviceProfile
from qsession.v1 import job_pb2, options_pb2

SEEDS = 200
RANDOMIZATIONS = 2
NOISE_FACTORS = [1, 5]
SHOTS = 200_000
"""Many shots, so that shot noise is small next to a bias of the twirled average and the
test sees one: 100,000 per randomization, far above what the executor runs in closed form
on its own (``twirled_channel.MAX_SHOTS_PER_RANDOMIZATION``), because the closed form does
not reproduce how the gate-twirl randomizations differ from one another, a variance that
grows against shot noise with the shots per randomization. Here it is 5-10% of the values'
variance (at 1,000,000 shots, a quarter: the values' spread is then 13% narrower than the
reference path's, which this test would not reliably see either)."""


@pytest.fixture(scope="module")
def device() -> DeviceProfile:
    """Three connected qubits of fake_torino (0 - 1 - 2), with their calibration: the
    circuits stay three qubits wide, so 400 level-2 jobs take seconds."""
    return _device()


def _device() -> DeviceProfile:
    torino = load_profile("fake_torino").target
    return DeviceProfile("torino_3", restrict_target(torino, (0, 1, 2)), "fake_torino 0-2")


def _pub(device: DeviceProfile) -> EstimatorPub:
    """Four CNOTs around a rotation: once scheduled and folded, runs of every kind next to
    the twirled gates (with ``sx``, of ``rz`` only, empty between folds, before idle
    windows)."""
    circuit = QuantumCircuit(3)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.cx(1, 2)
    circuit.rx(0.4, 2)
    circuit.cx(1, 2)
    circuit.cx(0, 1)
    isa = generate_preset_pass_manager(optimization_level=1, target=device.target).run(circuit)
    observables = SparsePauliOp(["ZZI", "IZZ", "XXX"], [0.5, 0.3, 0.2]).apply_layout(isa.layout)
    return EstimatorPub.coerce((isa, observables, None, 1 / np.sqrt(SHOTS)))


def _options() -> job_pb2.JobOptions:
    """Level 2 (gate and measurement twirling, ZNE at noise factors 1 and 5), without TREX
    (untouched by the closed form, and its calibration shots would dominate the cost)."""
    return job_pb2.JobOptions(
        resilience_level=2,
        twirling=options_pb2.TwirlingOptions(
            num_randomizations=RANDOMIZATIONS, shots_per_randomization=SHOTS // RANDOMIZATIONS
        ),
        resilience=options_pb2.ResilienceOptions(
            measure_mitigation=False,
            zne=options_pb2.ZneOptions(noise_factors=NOISE_FACTORS, extrapolator=["linear"]),
        ),
    )


def test_pauli_twirl_is_the_average_of_the_pauli_conjugates() -> None:
    """fake_torino's cz error (depolarizing and thermal relaxation, not a Pauli channel):
    its Pauli twirl equals ``mean_P P E(P . P) P`` over the 16 two-qubit Paulis."""
    noise = DeviceNoise(load_profile("fake_torino").target)
    error = noise._quantum_error("cz", (0, 1))
    channel = SuperOp(error)
    average = sum(
        SuperOp(Pauli(label)).compose(channel).compose(SuperOp(Pauli(label)))
        for label in pauli_basis(2).to_labels()
    )
    average = SuperOp(average.data / 16)
    assert not np.allclose(channel.data, average.data, atol=1e-6)  # twirling changes it
    assert np.allclose(SuperOp(pauli_twirl(error)).data, average.data, atol=1e-12)


def test_closed_form_reports_the_reference_paths_statistics(device) -> None:
    """The values (per noise factor and extrapolated) and standard errors of 200 jobs on
    the closed-form path follow the distribution of 200 jobs on the per-randomization
    reference path, at the same shots and randomizations: a two-sample Kolmogorov-Smirnov
    test does not reject at 1% for any of them. It has the power to: without the averaged
    1-qubit errors of the merged twirls (:func:`twirled_channel.twirl_averaged_circuit`)
    the values at factor 5 are 2.3 standard errors off and it rejects them (p ~ 1e-64;
    at factor 1, p ~ 1e-6; the reported standard errors, p ~ 1e-8)."""
    pub, options = _pub(device), _options()
    fast = Executor(device, noise=True, memo=Memo())
    # Far more shots per randomization than the closed form takes on its own (where it would
    # differ most, and where a bias shows), with 2 randomizations to keep the test fast.
    fast.closed_form_max_shots_per_randomization = SHOTS
    reference = Executor(device, noise=True, memo=Memo())
    reference.twirl_in_closed_form = False

    def sample(executor: Executor, seeds: range) -> dict[str, np.ndarray]:
        results = [executor.run_estimator([pub], seed, options)[0] for seed in seeds]
        paths = {result.metadata["resilience"]["gate_twirling"] for result in results}
        assert len(paths) == 1
        data = [result.data for result in results]
        return {
            "path": np.array(paths.pop()),
            "evs": np.array([d.evs for d in data]),
            "evs at factor 1": np.array([d.evs_noise_factors[0] for d in data]),
            "evs at factor 5": np.array([d.evs_noise_factors[1] for d in data]),
            "stds at factor 1": np.array([d.stds_noise_factors[0] for d in data]),
            "stds at factor 5": np.array([d.stds_noise_factors[1] for d in data]),
            "stds": np.array([d.stds for d in data]),
        }

    closed = sample(fast, range(SEEDS))
    per_randomization = sample(reference, range(SEEDS, 2 * SEEDS))
    assert closed.pop("path") == twirled_channel.EXACT
    assert per_randomization.pop("path") == twirled_channel.REFERENCE
    for name, values in closed.items():
        result = ks_2samp(values, per_randomization[name])
        assert result.pvalue > 0.01, (name, result)


def test_fallback_says_why(device) -> None:
    """The reference path runs where the closed form does not apply (asked for; too many
    shots per randomization; other 2-qubit gates; no single density-matrix run), and the
    PUB's ``resilience`` metadata says so and why."""
    executor = Executor(device, noise=True)
    executor.twirl_in_closed_form = False
    result = executor.run_estimator([_pub(device)], 1, _options())[0]
    assert result.metadata["resilience"]["gate_twirling"] == twirled_channel.REFERENCE
    assert "reference" in result.metadata["resilience"]["reason"]
    default = Executor(device, noise=True)
    result = default.run_estimator([_pub(device)], 1, _options())[0]
    assert "shots per randomization" in result.metadata["resilience"]["reason"]
    fractional = QuantumCircuit(2)
    fractional.rzz(0.3, 0, 1)
    assert "rzz" in twirled_channel.reason_not_exact(fractional, single_state=True)
    assert "once for all bases" in twirled_channel.reason_not_exact(
        QuantumCircuit(2), single_state=False
    )
    assert twirled_channel.reason_not_exact(_pub(device).circuit, single_state=True) is None
