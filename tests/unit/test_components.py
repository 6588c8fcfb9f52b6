"""Independent parts of a circuit sampled apart (``execution.components``): the same
distribution as the whole circuit, ideal and with fake_torino's noise, and a part whose bits
nobody asked for is not run."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import Parameter
from qiskit.transpiler import generate_preset_pass_manager

from qsession.execution import load_profile, methods, sampling
from qsession.execution.components import independent_parts
from qsession.execution.noise import DeviceNoise, restrict_target
from qsession.execution.reduction import reduce_circuit
from tests.unit.test_sampler_twirl import _homogeneity_p

SHOTS = 20_000


@pytest.fixture(scope="module")
def target():
    """Seven connected qubits of fake_torino with their calibration."""
    return restrict_target(load_profile("fake_torino").target, tuple(range(7)))


def _circuit(target) -> QuantumCircuit:
    """A GHZ on qubits 0-2 (register ``a``), and alone each: rx on 3, a swept ry on 4 and 5
    (register ``b``); qubit 6 idle but measured (in ``b``)."""
    theta = Parameter("theta")
    qubits = QuantumRegister(7, "q")
    a, b = ClassicalRegister(3, "a"), ClassicalRegister(4, "b")
    circuit = QuantumCircuit(qubits, a, b)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.cx(1, 2)
    circuit.rx(0.7, 3)
    circuit.ry(theta, 4)
    circuit.ry(2 * theta, 5)
    circuit.measure([0, 1, 2], a)
    circuit.measure([3, 4, 5, 6], b)
    return generate_preset_pass_manager(
        optimization_level=1, target=target, initial_layout=list(range(7)), seed_transpiler=0
    ).run(circuit)


def _sample(circuit, registers, noise, seed, whole: bool, monkeypatch):
    values = np.array([[0.4], [2.1]])
    with monkeypatch.context() as patch:
        if whole:
            patch.setattr(sampling, "SPLIT_MIN_QUBITS", 10**6)
        return sampling.sample_registers(
            circuit, registers, values, SHOTS, np.random.SeedSequence(seed), noise
        )


def _counts(packed: np.ndarray) -> dict[int, int]:
    outcomes = packed.astype(np.int64)
    joined = np.zeros(outcomes.shape[0], np.int64)
    for column in range(outcomes.shape[1]):
        joined = (joined << 8) | outcomes[:, column]
    values, counts = np.unique(joined, return_counts=True)
    return dict(zip(values.tolist(), counts.tolist(), strict=True))


def test_a_circuit_splits_into_the_groups_its_gates_join(target) -> None:
    circuit = _circuit(target)
    parts = independent_parts(circuit, reduce_circuit(circuit))
    assert parts is not None
    active = [
        sorted({circuit.find_bit(q).index for inst in part.circuit.data for q in inst.qubits})
        for part in parts
    ]
    assert active == [[0, 1, 2], [3], [4], [5]]  # the idle qubit 6 is in no part
    assert [sorted(part.clbits) for part in parts] == [[0, 1, 2], [3], [4], [5]]
    assert [len(part.columns) for part in parts] == [0, 0, 1, 1]


@pytest.mark.parametrize("noisy", [False, True], ids=["ideal", "fake_torino noise"])
def test_parts_sampled_apart_follow_the_whole_circuits_distribution(
    target, noisy, monkeypatch
) -> None:
    circuit = _circuit(target)
    noise = DeviceNoise(target) if noisy else None
    split = _sample(circuit, circuit.cregs, noise, 1, False, monkeypatch)
    whole = _sample(circuit, circuit.cregs, noise, 2, True, monkeypatch)
    for register_split, register_whole in zip(split, whole, strict=True):
        assert register_split.shape == register_whole.shape == (2, SHOTS, 1)
    for point in range(2):
        joined_split = np.concatenate([register[point] for register in split], axis=1)
        joined_whole = np.concatenate([register[point] for register in whole], axis=1)
        assert _homogeneity_p(_counts(joined_split), _counts(joined_whole)) > 1e-3
    if noisy:  # the idle qubit 6 still reads through its readout error
        assert 0 < np.mean(split[1][..., 0] >> 3 & 1) < 0.2
    else:
        assert not np.any(split[1][..., 0] >> 3 & 1)


def test_equal_seeds_give_equal_bits_and_parts_nobody_reads_do_not_run(target, monkeypatch) -> None:
    circuit = _circuit(target)
    noise = DeviceNoise(target)
    first = _sample(circuit, circuit.cregs, noise, 5, False, monkeypatch)
    again = _sample(circuit, circuit.cregs, noise, 5, False, monkeypatch)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    with methods.recording() as everything:
        _sample(circuit, circuit.cregs, noise, 5, False, monkeypatch)
    with methods.recording() as only_a:
        (a,) = _sample(circuit, [circuit.cregs[0]], noise, 5, False, monkeypatch)
    assert [entry["circuits"] for entry in everything.metadata()["methods"]] == [4]
    assert [entry["circuits"] for entry in only_a.metadata()["methods"]] == [1]
    assert a.shape == (2, SHOTS, 1)
