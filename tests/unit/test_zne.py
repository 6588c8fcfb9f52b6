"""Zero-noise extrapolation and gate twirling on the emulated QPU (execution/zne.py and the
Estimator/Sampler randomizations): our fits agree with mitiq's on the same noisy values,
folding amplifies noise on a noisy device, level 2 returns IBM's fields and shapes, and
twirled results average to the untwirled ones on an ideal device."""

from __future__ import annotations

import numpy as np
import pytest
from mitiq.zne.inference import ExpFactory, LinearFactory, PolyFactory
from qiskit import QuantumCircuit
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.quantum_info import Operator, SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qsession.execution import Executor, load_profile, mitigation, zne
from qsession.v1 import job_pb2, options_pb2

FACTORS = np.array([1.0, 2.0, 3.0, 5.0])
NOISY_VALUES = np.array([0.812, 0.701, 0.596, 0.452])  # a decay with shot-noise-like wiggles
EQUAL_STDS = np.full(4, 0.01)  # equal weights: a weighted fit is then an unweighted one


@pytest.fixture(scope="module")
def noisy() -> Executor:
    return Executor(load_profile("fake_torino"), noise=True)


@pytest.fixture(scope="module")
def ideal() -> Executor:
    return Executor(load_profile("fake_torino"), noise=False)


def _zero(extrapolator: str, factors=FACTORS, values=NOISY_VALUES) -> float:
    fit = zne.extrapolate(extrapolator, factors, values, EQUAL_STDS[: len(factors)], [0.0])
    return float(fit.values[0])


def test_linear_and_polynomial_agree_with_mitiq() -> None:
    assert _zero("linear") == pytest.approx(LinearFactory.extrapolate(FACTORS, NOISY_VALUES))
    for degree in (1, 2, 3):
        expected = PolyFactory.extrapolate(FACTORS, NOISY_VALUES, order=degree)
        assert _zero(f"polynomial_degree_{degree}") == pytest.approx(expected, rel=1e-9)


def test_exponential_agrees_with_mitiq() -> None:
    """IBM's exponential ``A exp(-x / tau)`` is mitiq's ExpFactory with asymptote 0, fitted
    without linearisation (both non-linear least squares: equal to optimiser tolerance)."""
    expected = ExpFactory.extrapolate(FACTORS, NOISY_VALUES, asymptote=0.0, avoid_log=True)
    assert _zero("exponential") == pytest.approx(expected, rel=1e-6)
    two = FACTORS[:2], NOISY_VALUES[:2]  # exactly determined: both interpolate
    expected = ExpFactory.extrapolate(*two, asymptote=0.0, avoid_log=True)
    assert _zero("exponential", *two) == pytest.approx(expected, rel=1e-6)


def test_failed_fits_fall_back() -> None:
    """An exponential of values that grow with the noise does not decay: it fails, and the
    fallback is the value at the lowest noise factor."""
    growing = np.array([0.2, 0.4, 0.8])
    fit = zne.extrapolate("exponential", FACTORS[:3], growing, EQUAL_STDS[:3], [0.0], bound=1)
    assert not fit.succeeded
    fallback = zne.extrapolate("fallback", FACTORS[:3], growing, EQUAL_STDS[:3], [0.0, 1.0])
    assert fallback.succeeded and list(fallback.values) == [0.2, 0.2]


def _ising(executor: Executor, steps: int = 3) -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    for _ in range(steps):
        circuit.rzz(0.4, 0, 1)
        circuit.rx(0.3, [0, 1])
    return generate_preset_pass_manager(optimization_level=1, target=executor.profile.target).run(
        circuit
    )


@pytest.mark.parametrize("amplifier", zne.FOLDING_AMPLIFIERS)
@pytest.mark.parametrize("factor", [1.0, 2.0, 3.0, 4.5])
def test_folding_keeps_the_unitary_and_scales_the_gate_count(amplifier, factor) -> None:
    circuit = QuantumCircuit(3)
    for layer in range(4):
        circuit.rx(0.3 + layer, [0, 1, 2])
        circuit.cz(0, 1)
        circuit.ecr(1, 2)
    folded = zne.fold_two_qubit_gates(circuit, factor, amplifier, np.random.default_rng(1))
    two_qubit = sum(1 for inst in folded.data if inst.operation.num_qubits == 2)
    assert two_qubit == round(factor * 8)
    assert Operator(folded).equiv(Operator(circuit))


def test_folding_amplifies_noise_and_level_2_extrapolates(noisy) -> None:
    """On noisy fake_torino the raw values fall with the noise factor, and the extrapolated
    value is closer to the exact one than the unmitigated value, with IBM's result fields."""
    isa = _ising(noisy, steps=6)
    from qiskit.quantum_info import Statevector

    logical = QuantumCircuit(2)
    for _ in range(6):
        logical.rzz(0.4, 0, 1)
        logical.rx(0.3, [0, 1])
    exact = Statevector(logical).expectation_value(SparsePauliOp("ZZ")).real
    observable = SparsePauliOp("ZZ").apply_layout(isa.layout)
    pub = EstimatorPub.coerce((isa, observable, None, 1 / 128))
    options = job_pb2.JobOptions(
        resilience_level=2,
        resilience=options_pb2.ResilienceOptions(
            zne=options_pb2.ZneOptions(extrapolator=["linear"], noise_factors=[1, 3, 5])
        ),
    )
    result = noisy.run_estimator([pub], 5, options)[0]
    data = result.data
    assert data.evs_noise_factors.shape == (3,)
    assert data.evs_extrapolated.shape == (1, 4)  # 1 extrapolator x (0, 1, 3, 5)
    assert data.stds_extrapolated.shape == (1, 4)
    raw = data.evs_noise_factors
    assert raw[0] - raw[2] > 5 * np.hypot(data.stds_noise_factors[0], data.stds_noise_factors[2])
    level0 = noisy.run_estimator([pub], 5, job_pb2.JobOptions(resilience_level=0))[0]
    assert abs(data.evs - exact) < abs(level0.data.evs - exact)
    assert result.metadata["resilience"]["zne"]["extrapolator"] in ("linear", "fallback")


def test_level_2_job_metadata_names_zne() -> None:
    settings = mitigation.estimator_settings(job_pb2.JobOptions(resilience_level=2))
    block = settings.job_metadata()
    assert block["resilience"]["zne_mitigation"] is True
    assert block["resilience"]["zne"]["noise_factors"] == [1.0, 3.0, 5.0]
    assert block["twirling"]["enable_gates"] is True


def test_gate_twirled_estimates_average_to_untwirled_on_ideal(ideal) -> None:
    """Twirling changes each randomization's circuit, not its unitary: on an ideal device the
    twirled estimate equals the untwirled one within shot noise (5 standard errors)."""
    isa = _ising(ideal, steps=4)
    observable = SparsePauliOp(["ZZ", "XI", "YY"], [1.0, 0.5, 0.3]).apply_layout(isa.layout)
    pub = EstimatorPub.coerce((isa, observable, None, 1 / 64))
    plain = ideal.run_estimator([pub], 3, job_pb2.JobOptions(resilience_level=0))[0].data
    twirled_options = job_pb2.JobOptions(
        resilience_level=0,
        twirling=options_pb2.TwirlingOptions(enable_gates=True, enable_measure=True),
    )
    twirled = ideal.run_estimator([pub], 4, twirled_options)[0].data
    assert abs(twirled.evs - plain.evs) < 5 * np.hypot(twirled.stds, plain.stds)


def test_sampler_twirling_keeps_the_distribution_on_ideal(ideal) -> None:
    """Gate and measurement twirling in the Sampler: same shot count, same outcomes, and the
    GHZ outcomes' frequencies within 5 binomial standard errors of 1/2."""
    circuit = QuantumCircuit(3)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.cx(1, 2)
    circuit.measure_all()
    isa = generate_preset_pass_manager(optimization_level=1, target=ideal.profile.target).run(
        circuit
    )
    options = job_pb2.JobOptions(
        twirling=options_pb2.TwirlingOptions(enable_gates=True, enable_measure=True)
    )
    shots = 4000
    result = ideal.run_sampler([SamplerPub.coerce((isa, None, shots))], 9, options)[0]
    counts = result.data.meas.get_counts()
    assert result.data.meas.num_shots == shots
    assert set(counts) == {"000", "111"}
    assert abs(counts["000"] / shots - 0.5) < 5 * np.sqrt(0.25 / shots)
