"""A circuit prepared once for Aer (``PreparedRun``) gives what ``AerSimulator.run`` gives."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import DensityMatrix, Statevector
from qiskit_aer import AerSimulator
from qiskit_aer.noise import NoiseModel, amplitude_damping_error, depolarizing_error

from qsession.execution import aer
from qsession.execution.aer import PreparedRun, run_points
from qsession.execution.errors import ExecutionFailed


def ansatz() -> QuantumCircuit:
    """Parameters alone and inside expressions, in gates and in the global phase."""
    a, b = Parameter("a"), Parameter("b")
    circuit = QuantumCircuit(3, global_phase=a / 2)
    circuit.ry(a, 0)
    circuit.rz(2 * b + 0.25, 1)
    circuit.cx(0, 1)
    circuit.rx(a - b, 2)
    circuit.cz(1, 2)
    circuit.rz(0.4, 0)
    return circuit


VALUES = np.random.default_rng(3).uniform(0, 2 * np.pi, (4, 2))


def noise_model() -> NoiseModel:
    model = NoiseModel()
    model.add_all_qubit_quantum_error(depolarizing_error(0.02, 2), ["cx", "cz"])
    model.add_all_qubit_quantum_error(amplitude_damping_error(0.05), ["ry", "rx"])
    return model


def test_state_vectors_equal_aer_run_at_every_point() -> None:
    circuit = ansatz()
    circuit.save_statevector("s")
    simulator = AerSimulator(method="statevector")
    ours = PreparedRun(simulator, circuit).run(VALUES)
    reference = run_points(simulator, circuit, VALUES, shots=1, memory=False)
    for i in range(len(VALUES)):
        state = Statevector(ours.data(i)["s"])
        assert state.equiv(Statevector(reference.data(i)["s"]))
        bound = ansatz().assign_parameters(VALUES[i])
        assert state.equiv(Statevector(bound))  # the right values reached the right gates


def test_density_matrices_with_noise_and_error_instructions_equal_aer_run() -> None:
    circuit = ansatz()
    circuit.append(amplitude_damping_error(0.1).to_instruction(), [2])  # as idle noise is
    circuit.save_density_matrix(label="s")
    simulator = AerSimulator(method="density_matrix", noise_model=noise_model())
    ours = PreparedRun(simulator, circuit).run(VALUES)
    reference = run_points(simulator, circuit, VALUES, shots=1, memory=False)
    for i in range(len(VALUES)):
        np.testing.assert_allclose(
            DensityMatrix(ours.data(i)["s"]).data,
            DensityMatrix(reference.data(i)["s"]).data,
            atol=1e-12,
        )


def test_seeded_shots_equal_aer_run_bit_for_bit() -> None:
    circuit = ansatz()
    circuit.measure_all()
    simulator = AerSimulator(noise_model=noise_model(), seed_simulator=11)
    ours = PreparedRun(simulator, circuit).run(VALUES, shots=200, memory=True)
    reference = run_points(simulator, circuit, VALUES, shots=200, memory=True)
    for i in range(len(VALUES)):
        assert ours.data(i)["memory"] == reference.data(i)["memory"]


def test_a_circuit_without_parameters_runs_once() -> None:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.save_probabilities(label="p")
    result = PreparedRun(AerSimulator(), circuit).run(np.zeros((1, 0)))
    np.testing.assert_allclose(result.data(0)["p"], [0.5, 0, 0, 0.5], atol=1e-12)


def test_an_aer_whose_internals_moved_falls_back_to_its_public_run(monkeypatch) -> None:
    def moved(*_args, **_kwargs):
        raise AttributeError("'AerSimulator' object has no attribute '_compile'")

    monkeypatch.setattr(aer._NativeRun, "__init__", moved)
    circuit = ansatz()
    circuit.save_statevector("s")
    prepared = PreparedRun(AerSimulator(method="statevector"), circuit)
    state = Statevector(prepared.run(VALUES[:1]).data(0)["s"])
    assert state.equiv(Statevector(ansatz().assign_parameters(VALUES[0])))


def test_a_circuit_aer_cannot_run_fails_as_execution_failed() -> None:
    circuit = QuantumCircuit(40)
    circuit.h(range(40))
    circuit.save_statevector("s")
    prepared = PreparedRun(AerSimulator(method="statevector"), circuit)
    with pytest.raises(ExecutionFailed, match="could not run"):
        prepared.run(np.zeros((1, 0)))
