"""Exact outcome distributions of circuits whose measurements are all terminal.

Such a circuit's outcomes follow its final state, so Aer computes their distribution once per
parameter point and the shots are drawn from it (:mod:`.sampling`):

* ideal: the probabilities of the final state vector;
* noisy: the probabilities of the final density matrix under the device's gate errors
  (:meth:`DeviceNoise.channel_model`), then each measured qubit's readout assignment applied
  to the distribution, which is what Aer's readout error does to each shot.
"""

from __future__ import annotations

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit_aer import AerSimulator

from qsession.execution.aer import run_points
from qsession.execution.noise import DeviceNoise, Instruction
from qsession.execution.reduction import ReducedCircuit


def final_distribution(
    reduced: ReducedCircuit,
    measured: list[int],
    values: np.ndarray,
    noise: DeviceNoise | None,
) -> list[np.ndarray]:
    """The probabilities of reading ``measured`` at the end of ``reduced.circuit``.

    Args:
        reduced: a circuit whose measurements are all terminal (``reduced.final_measures`` is
            not ``None``) and, with noise, that has no delay.
        measured: reduced qubits read, distinct; bit ``j`` of an outcome is qubit
            ``measured[j]``.
        values: float64 ``(points, reduced.circuit.num_parameters)``, columns in the order of
            ``reduced.circuit.parameters``; one row if the circuit has no parameters.
        noise: the device's noise (gate errors and readout errors of the device qubits
            ``reduced.active``), or ``None`` for an ideal device.

    Returns:
        One float64 array of shape ``(2**len(measured),)`` per row of ``values``, summing to 1
        up to rounding (an entry may be rounding noise just below zero).

    Raises:
        ExecutionFailed: Aer cannot run the circuit.
    """
    if not measured:
        return [np.ones(1)] * values.shape[0]
    unitary = reduced.circuit.copy_empty_like()
    for inst in reduced.circuit.data:
        if inst.operation.name != "measure":
            unitary.append(inst.operation, inst.qubits, inst.clbits, copy=False)
    if noise is None:
        simulator = AerSimulator(method="statevector")
    else:
        model = noise.channel_model(reduced.active, _instructions(unitary))
        simulator = AerSimulator(method="density_matrix", noise_model=model)
    unitary.save_probabilities(measured, label="probabilities")
    result = run_points(simulator, unitary, values, shots=1, memory=False)
    probabilities = [
        np.asarray(result.data(i)["probabilities"], np.float64) for i in range(values.shape[0])
    ]
    if noise is None:
        return probabilities
    assignment = noise.readout_assignment(reduced.active[q] for q in measured)
    return [apply_readout_errors(p, assignment) for p in probabilities]


def apply_readout_errors(probabilities: np.ndarray, assignment: np.ndarray) -> np.ndarray:
    """The distribution of what is read when each qubit is read through its own assignment
    matrix: ``P(read r) = sum_s P(s) * prod_j assignment[j, s_j, r_j]``.

    Args:
        probabilities: float64 ``(2**m,)``, bit ``j`` of the index = qubit ``j``'s state.
        assignment: float64 ``(m, 2, 2)``, entry ``[j, s, r]`` = probability that qubit ``j``
            in state ``s`` reads ``r``.

    Returns:
        float64 ``(2**m,)``, bit ``j`` of the index = the value read for qubit ``j``.
    """
    num_qubits = assignment.shape[0]
    read = probabilities
    for j in range(num_qubits):
        high, low = 2 ** (num_qubits - 1 - j), 2**j
        read = np.einsum("hsl,sr->hrl", read.reshape(high, 2, low), assignment[j])
    return read.reshape(-1)


def _instructions(circuit: QuantumCircuit) -> frozenset[Instruction]:
    """Each distinct instruction name of ``circuit`` with the qubit indices it acts on."""
    return frozenset(
        (inst.operation.name, tuple(circuit.find_bit(q).index for q in inst.qubits))
        for inst in circuit.data
    )
