"""The Sampler on the emulated QPU: Qiskit SamplerV2 semantics, real Aer, native packing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import Parameter
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.transpiler import generate_preset_pass_manager

from qsession.execution import Executor, load_profile
from tests.circuits import bell


@pytest.fixture(scope="module")
def ideal() -> Executor:
    return Executor(load_profile("ideal_24"), noise=False)


@pytest.fixture(scope="module")
def torino() -> Executor:
    return Executor(load_profile("fake_torino"), noise=False)


@pytest.fixture(scope="module")
def noisy_torino() -> Executor:
    return Executor(load_profile("fake_torino"), noise=True)


def to_torino(circuit: QuantumCircuit) -> QuantumCircuit:
    target = load_profile("fake_torino").target
    return generate_preset_pass_manager(target=target, optimization_level=1, seed_transpiler=7).run(
        circuit
    )


def assert_half_within_5_sigma(count: int, shots: int) -> None:
    assert abs(count - shots / 2) <= 5 * math.sqrt(shots / 4)


def test_bell_on_ideal_device_gives_only_00_and_11_each_about_half(ideal: Executor) -> None:
    counts = ideal.run_sampler([SamplerPub.coerce(bell(), 4096)], seed=11)[0].data.meas.get_counts()
    assert set(counts) == {"00", "11"}
    assert_half_within_5_sigma(counts["00"], 4096)


def test_bell_transpiled_to_fake_torino_gives_only_00_and_11(torino: Executor) -> None:
    isa = to_torino(bell())
    result = torino.run_sampler([SamplerPub.coerce(isa, 4096)], seed=12)[0]
    counts = result.data.meas.get_counts()
    assert result.data.meas.num_bits == 2
    assert set(counts) == {"00", "11"}
    assert_half_within_5_sigma(counts["00"], 4096)


def test_single_parameter_circuit_with_3x2_values_gives_3x2_results(ideal: Executor) -> None:
    theta = Parameter("theta")
    circuit = QuantumCircuit(1)
    circuit.ry(theta, 0)
    circuit.measure_all()
    values = np.array([[0.0, np.pi], [np.pi, 0.0], [0.0, 0.0]])
    result = ideal.run_sampler([SamplerPub.coerce((circuit, values), 64)], seed=1)[0]
    assert result.data.shape == (3, 2)
    assert result.data.meas.shape == (3, 2) and result.data.meas.num_shots == 64
    ones = result.data.meas.bitcount()  # (3, 2, 64)
    np.testing.assert_array_equal(ones.all(axis=-1), values == np.pi)
    np.testing.assert_array_equal((ones == 0).all(axis=-1), values == 0.0)


def test_one_bit_array_per_classical_register_named_after_it(ideal: Executor) -> None:
    alpha, beta = ClassicalRegister(1, "alpha"), ClassicalRegister(2, "beta")
    circuit = QuantumCircuit(QuantumRegister(3), alpha, beta)
    circuit.x(0)
    circuit.x(2)
    circuit.measure(0, alpha[0])
    circuit.measure([1, 2], [beta[0], beta[1]])
    data = ideal.run_sampler([SamplerPub.coerce(circuit, 10)], seed=1)[0].data
    assert list(data.keys()) == ["alpha", "beta"]
    assert data.alpha.get_counts() == {"1": 10}
    assert data.beta.get_counts() == {"10": 10}


def test_ghz_over_all_133_qubits_of_fake_torino_gives_a_133_bit_register(torino: Executor) -> None:
    ghz = QuantumCircuit(133)
    ghz.h(0)
    for qubit in range(132):
        ghz.cx(qubit, qubit + 1)
    ghz.measure_all()
    meas = torino.run_sampler([SamplerPub.coerce(to_torino(ghz), 400)], seed=3)[0].data.meas
    counts = meas.get_counts()
    assert meas.num_bits == 133
    assert set(counts) == {"0" * 133, "1" * 133}
    assert_half_within_5_sigma(counts["0" * 133], 400)


def test_session_guide_circuit_measured_again_over_all_qubits(torino: Executor) -> None:
    """A 2-qubit circuit transpiled to fake_torino, then ``measure_all()`` again: registers
    meas (2 bits) and meas0 (133 bits; Qiskit numbers the name per process); the second
    repeats the first at the layout's qubits and reads 0 elsewhere."""
    theta = Parameter("theta")
    circuit = QuantumCircuit(2)
    circuit.ry(theta, 0)
    circuit.cx(0, 1)
    circuit.measure_all()
    isa = to_torino(circuit)
    isa.measure_all()
    again = isa.cregs[1].name
    values = np.linspace(0, np.pi, 6).reshape(3, 2)
    data = torino.run_sampler([SamplerPub.coerce((isa, values), 256)], seed=5)[0].data
    assert list(data.keys()) == ["meas", again] and again.startswith("meas")
    meas, everything = data.meas, data[again]
    assert (meas.num_bits, everything.num_bits) == (2, 133)
    assert meas.shape == everything.shape == data.shape == (3, 2)
    physical = isa.layout.final_index_layout()[:2]
    np.testing.assert_array_equal(everything.slice_bits(physical).array, meas.array)
    others = [q for q in range(133) if q not in physical]
    assert everything.slice_bits(others).bitcount().sum() == 0
    assert meas[0, 0].get_counts() == {"00": 256}
    assert meas[2, 1].get_counts() == {"11": 256}


def test_mid_circuit_measurement_and_reset_follow_the_circuit(ideal: Executor) -> None:
    first, second = ClassicalRegister(1, "first"), ClassicalRegister(2, "second")
    circuit = QuantumCircuit(QuantumRegister(2), first, second)
    circuit.x(0)
    circuit.measure(0, first[0])
    circuit.reset(0)
    circuit.h(1)
    circuit.measure(0, second[0])
    circuit.measure(1, second[1])
    data = ideal.run_sampler([SamplerPub.coerce(circuit, 2000)], seed=9)[0].data
    assert data.first.get_counts() == {"1": 2000}
    counts = data.second.get_counts()
    assert set(counts) == {"00", "10"}
    assert_half_within_5_sigma(counts["00"], 2000)


def test_wide_registers_are_split_from_the_memory_of_a_mid_circuit_run(ideal: Executor) -> None:
    head, wide = ClassicalRegister(3, "head"), ClassicalRegister(70, "wide")
    circuit = QuantumCircuit(QuantumRegister(2), head, wide)
    circuit.x(0)
    circuit.measure(0, head[1])
    circuit.reset(0)
    circuit.measure(1, wide[69])
    circuit.x(1)
    circuit.measure(1, wide[68])
    circuit.measure(0, wide[0])
    data = ideal.run_sampler([SamplerPub.coerce(circuit, 50)], seed=2)[0].data
    assert data.head.get_counts() == {"010": 50}
    assert data.wide.get_counts() == {"01" + "0" * 68: 50}


def test_dynamic_circuits_branch_on_measured_bits(ideal: Executor) -> None:
    circuit = QuantumCircuit(2, 2)
    circuit.h(0)
    circuit.measure(0, 0)
    with circuit.if_test((circuit.clbits[0], 1)):
        circuit.x(1)
    circuit.measure(1, 1)
    counts = ideal.run_sampler([SamplerPub.coerce(circuit, 1000)], seed=6)[0].data.c.get_counts()
    assert set(counts) == {"00", "11"}
    assert_half_within_5_sigma(counts["00"], 1000)


def test_noise_gives_mostly_correct_but_imperfect_bell_statistics(noisy_torino: Executor) -> None:
    target = load_profile("fake_torino").target
    isa = generate_preset_pass_manager(
        target=target, optimization_level=1, initial_layout=[92, 99], seed_transpiler=1
    ).run(bell())
    result = noisy_torino.run_sampler([SamplerPub.coerce(isa, 4000)], seed=4)[0]
    counts = result.data.meas.get_counts()
    correct = counts.get("00", 0) + counts.get("11", 0)
    assert 0.9 * 4000 < correct < 4000
    assert_half_within_5_sigma(counts["00"], correct)


def test_with_noise_an_idle_measured_qubit_reads_its_readout_error(noisy_torino: Executor) -> None:
    circuit = QuantumCircuit(133)
    circuit.x(1)
    circuit.measure_all()
    meas = noisy_torino.run_sampler([SamplerPub.coerce(circuit, 4000)], seed=8)[0].data.meas
    error = load_profile("fake_torino").target["measure"][(0,)].error
    ones = meas.slice_bits([0]).bitcount().sum()
    assert abs(ones - error * 4000) <= 5 * math.sqrt(4000 * error * (1 - error))


def test_results_are_reproducible_for_a_seed(ideal: Executor, noisy_torino: Executor) -> None:
    for executor, circuit in [(ideal, bell()), (noisy_torino, to_torino(bell()))]:
        pub = SamplerPub.coerce(circuit, 500)
        first = executor.run_sampler([pub], seed=21)[0].data.meas
        again = executor.run_sampler([pub], seed=21)[0].data.meas
        other = executor.run_sampler([pub], seed=22)[0].data.meas
        assert first == again
        assert first != other


def test_result_metadata_has_circuit_metadata_and_an_execution_span_per_pub(
    ideal: Executor,
) -> None:
    circuit = bell()
    circuit.metadata = {"experiment": "bell"}
    theta = Parameter("theta")
    rotated = QuantumCircuit(1)
    rotated.rx(theta, 0)
    rotated.measure_all()
    result = ideal.run_sampler(
        [SamplerPub.coerce(circuit, 100), SamplerPub.coerce((rotated, [0.1, 0.2, 0.3]), 10)],
        seed=1,
    )
    assert result[0].metadata == {
        "circuit_metadata": {"experiment": "bell"},
        "simulation": {
            "methods": [{"method": "statevector", "exact": True, "circuits": 1}],
            "exact": True,
        },
    }
    assert result.metadata["version"] == 2
    spans = result.metadata["execution"]["execution_spans"]
    assert len(spans) == 2 and spans.pub_idxs == [0, 1]
    assert [span.size for span in spans] == [100, 30]
    assert all(span.start <= span.stop for span in spans)
    assert spans[1].mask(1).shape == (3, 10)
