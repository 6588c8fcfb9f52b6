"""One qubit's distribution in numpy (``execution.single_qubit``): the same numbers as Aer's
density matrix with the device's errors, for every gate it builds, and Aer for the rest."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter

from qsession.execution import distribution, load_profile, single_qubit
from qsession.execution.noise import DeviceNoise
from qsession.execution.reduction import reduce_circuit


@pytest.fixture(scope="module")
def noise() -> DeviceNoise:
    return DeviceNoise(load_profile("fake_torino").target)


def _on_device_qubit(qubit: int, build) -> QuantumCircuit:
    """A fake_torino-wide circuit whose one active qubit is ``qubit``."""
    circuit = QuantumCircuit(133, 1)
    build(circuit, qubit)
    circuit.measure(qubit, 0)
    return circuit


def _gates(circuit: QuantumCircuit, qubit: int) -> None:
    theta, phi = Parameter("theta"), Parameter("phi")
    circuit.sx(qubit)
    circuit.rz(theta, qubit)
    circuit.sx(qubit)
    circuit.x(qubit)
    circuit.rz(0.3, qubit)
    circuit.barrier(qubit)
    circuit.ry(phi, qubit)
    circuit.rx(0.7, qubit)
    circuit.h(qubit)
    circuit.s(qubit)
    circuit.sxdg(qubit)
    circuit.t(qubit)
    circuit.p(theta, qubit)


@pytest.mark.parametrize("noisy", [False, True], ids=["ideal", "fake_torino noise"])
@pytest.mark.parametrize("qubit", [0, 57])
def test_numpy_distribution_equals_aers_density_matrix(noise, noisy, qubit, monkeypatch) -> None:
    reduced = reduce_circuit(_on_device_qubit(qubit, _gates))
    assert reduced.active == (qubit,)
    values = np.random.default_rng(qubit).uniform(0, 2 * np.pi, (7, 2))
    device = noise if noisy else None
    ours = single_qubit.final_probabilities(reduced.circuit, qubit, values, device)
    assert ours is not None and ours.shape == (7, 2)
    monkeypatch.setattr(single_qubit, "final_probabilities", lambda *args: None)
    aer = distribution.final_distribution(reduced, [0], values, device, readout=False)
    np.testing.assert_allclose(ours, np.array(aer), atol=1e-12)


def test_noise_changes_the_numpy_distribution(noise) -> None:
    reduced = reduce_circuit(_on_device_qubit(0, lambda c, q: [c.x(q) for _ in range(21)]))
    values = np.zeros((1, 0))
    ideal = single_qubit.final_probabilities(reduced.circuit, 0, values, None)
    noisy = single_qubit.final_probabilities(reduced.circuit, 0, values, noise)
    np.testing.assert_allclose(ideal, [[0.0, 1.0]], atol=1e-12)
    assert 1e-4 < noisy[0, 0] < 0.2  # 21 noisy X gates leave some population in |0>


def test_a_gate_it_does_not_build_leaves_it_to_aer(noise) -> None:
    theta = Parameter("theta")
    expression = reduce_circuit(_on_device_qubit(0, lambda c, q: c.rz(2 * theta, q)))
    three_angles = reduce_circuit(_on_device_qubit(0, lambda c, q: c.u(0.1, 0.2, 0.3, q)))
    assert single_qubit.final_probabilities(expression.circuit, 0, np.ones((2, 1)), noise) is None
    assert single_qubit.final_probabilities(three_angles.circuit, 0, np.ones((1, 0)), noise) is None
    probabilities = distribution.final_distribution(expression, [0], np.ones((2, 1)), noise)
    assert len(probabilities) == 2  # Aer ran it
