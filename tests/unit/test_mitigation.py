"""Error mitigation on the emulated QPU (execution/mitigation.py): option resolution and
refusals, measurement twirling and TREX."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qsession.execution import Executor, load_profile, mitigation
from qsession.v1 import job_pb2, options_pb2


@pytest.fixture(scope="module")
def noisy() -> Executor:
    return Executor(load_profile("fake_torino"), noise=True)


@pytest.fixture(scope="module")
def ideal() -> Executor:
    return Executor(load_profile("fake_torino"), noise=False)


def _bell_zz_pub(executor: Executor, precision: float = 1 / 64) -> EstimatorPub:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    manager = generate_preset_pass_manager(optimization_level=1, target=executor.profile.target)
    isa = manager.run(circuit)
    observable = SparsePauliOp("ZZ").apply_layout(isa.layout)
    return EstimatorPub.coerce((isa, observable, None, precision))


def _options(level: int, **fields) -> job_pb2.JobOptions:
    return job_pb2.JobOptions(resilience_level=level, **fields)


def test_levels_resolve_to_ibm_defaults() -> None:
    zero = mitigation.estimator_settings(_options(0))
    assert not zero.measure_mitigation and not zero.twirling.enable_measure
    one = mitigation.estimator_settings(job_pb2.JobOptions())
    assert one.resilience_level == 1 and one.measure_mitigation and one.twirling.enable_measure
    assert one.noise_factors == (1.0, 3.0, 5.0)
    assert one.extrapolators == ("exponential", "linear")


def test_auto_randomizations_follow_ibm() -> None:
    assert mitigation.Twirling().split(4096) == (32, 128)
    assert mitigation.Twirling().split(1000) == (16, 64)
    assert mitigation.Twirling(num_randomizations=10).split(1000) == (10, 100)
    assert mitigation.Twirling(shots_per_randomization=300).split(1000) == (4, 300)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (
            job_pb2.JobOptions(resilience=options_pb2.ResilienceOptions(pec_mitigation=True)),
            "options.resilience.pec_mitigation",
        ),
        (
            job_pb2.JobOptions(
                resilience=options_pb2.ResilienceOptions(
                    zne=options_pb2.ZneOptions(amplifier="pea")
                )
            ),
            "options.resilience.zne.amplifier",
        ),
        (
            job_pb2.JobOptions(execution=options_pb2.ExecutionOptions(init_qubits=False)),
            "options.execution.init_qubits",
        ),
        (
            job_pb2.JobOptions(
                dynamical_decoupling=options_pb2.DynamicalDecouplingOptions(sequence_type="UR8")
            ),
            "options.dynamical_decoupling.sequence_type",
        ),
        (
            job_pb2.JobOptions(
                dynamical_decoupling=options_pb2.DynamicalDecouplingOptions(scheduling_method="now")
            ),
            "options.dynamical_decoupling.scheduling_method",
        ),
        (
            job_pb2.JobOptions(twirling=options_pb2.TwirlingOptions(strategy="some")),
            "options.twirling.strategy",
        ),
    ],
)
def test_estimator_refuses_what_it_cannot_emulate(options, field) -> None:
    with pytest.raises(mitigation.InvalidOption) as caught:
        mitigation.estimator_settings(options)
    assert caught.value.field == field
    assert field in str(caught.value)


def test_dynamical_decoupling_is_accepted_by_both_primitives() -> None:
    options = job_pb2.JobOptions(
        dynamical_decoupling=options_pb2.DynamicalDecouplingOptions(
            enable=True, sequence_type="XY4", extra_slack_distribution="edges"
        )
    )
    settings = mitigation.estimator_settings(options)
    assert settings.dynamical_decoupling.enable
    assert settings.job_metadata()["dynamical_decoupling"] == {
        "enable": True,
        "sequence_type": "XY4",
        "extra_slack_distribution": "edges",
        "scheduling_method": "alap",
    }
    mitigation.sampler_settings(options)


def test_sampler_refuses_kerneled_measurements() -> None:
    options = job_pb2.JobOptions(execution=options_pb2.ExecutionOptions(meas_type="kerneled"))
    with pytest.raises(mitigation.InvalidOption, match="classified"):
        mitigation.sampler_settings(options)
    mitigation.sampler_settings(
        job_pb2.JobOptions(execution=options_pb2.ExecutionOptions(meas_type="classified"))
    )


def test_twirled_assignment_flips_the_channel() -> None:
    assignment = np.array([[[0.9, 0.1], [0.3, 0.7]]])
    flipped = mitigation.twirled_assignment(assignment, np.array([True]))
    np.testing.assert_allclose(flipped[0], [[0.7, 0.3], [0.1, 0.9]])


def test_learned_fidelity_is_the_symmetrised_readout() -> None:
    """Twirled readout of a Z term has fidelity 1 - p01 - p10 for each qubit it reads."""
    assignment = np.array([[[0.98, 0.02], [0.06, 0.94]], [[0.95, 0.05], [0.03, 0.97]]])
    rng = np.random.default_rng(1)
    fidelities = mitigation.learn_term_fidelities(assignment, ["IZ", "ZI", "ZZ"], 64, 2000, rng)
    expected = np.array([0.92, 0.92, 0.92 * 0.92])
    np.testing.assert_allclose(fidelities, expected, atol=0.01)


def test_packed_mask_matches_bitarray_layout() -> None:
    mask = np.zeros(10, dtype=bool)
    mask[[0, 9]] = True
    np.testing.assert_array_equal(mitigation.packed_mask(mask), [0b10, 0b1])


def test_trex_cuts_readout_error_of_bell_zz(noisy: Executor) -> None:
    """On noisy fake_torino, level 1 cuts the error of Bell <ZZ> (exactly 1) at least 3x."""
    pub = _bell_zz_pub(noisy, precision=1 / 128)
    errors = {0: [], 1: []}
    for seed in range(5):
        for level in (0, 1):
            result = noisy.run_estimator([pub], seed, _options(level))
            errors[level].append(abs(float(result[0].data.evs) - 1.0))
    level0, level1 = np.mean(errors[0]), np.mean(errors[1])
    print(f"Bell <ZZ> mean |error| over 5 seeds: level 0 {level0:.4f}, level 1 {level1:.4f}")
    assert level0 > 3 * level1


def test_level1_changes_nothing_on_an_ideal_device(ideal: Executor) -> None:
    pub = _bell_zz_pub(ideal)
    result = ideal.run_estimator([pub], 3, _options(1))
    assert float(result[0].data.evs) == pytest.approx(1.0, abs=1e-12)
    metadata = result[0].metadata
    assert metadata["num_randomizations"] == 32 and metadata["shots"] == 4096
    assert result.metadata["version"] == 2
    assert result.metadata["twirling"]["enable_measure"] is True
    assert result.metadata["resilience"]["measure_mitigation"] is True


def test_measurement_twirling_on_the_sampled_path(noisy: Executor) -> None:
    """A circuit with a reset is sampled shot by shot (no single-simulation plan): the twirled
    circuits' bits are flipped back, and TREX still removes most of the readout error."""
    circuit = QuantumCircuit(2)
    circuit.x(0)
    circuit.reset(1)
    circuit.cx(0, 1)
    manager = generate_preset_pass_manager(optimization_level=1, target=noisy.profile.target)
    isa = manager.run(circuit)
    observable = SparsePauliOp("ZZ").apply_layout(isa.layout)
    pub = EstimatorPub.coerce((isa, observable, None, 1 / 32))
    errors = {
        level: np.mean(
            [
                abs(float(noisy.run_estimator([pub], s, _options(level))[0].data.evs) - 1)
                for s in (1, 2)
            ]
        )
        for level in (0, 1)
    }
    assert errors[1] < errors[0] / 2
