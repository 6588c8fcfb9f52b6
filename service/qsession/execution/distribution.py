"""Exact outcome distributions of circuits whose measurements are all terminal.

Such a circuit's outcomes follow its final state, so Aer computes their distribution once per
parameter point and the shots are drawn from it (:mod:`.sampling`):

* ideal: the probabilities of the final state vector;
* noisy: the probabilities of the final density matrix under the device's gate errors
  (:meth:`DeviceNoise.gate_error`), then each measured qubit's readout assignment applied
  to the distribution, which is what Aer's readout error does to each shot.

The Estimator measures one circuit in several bases. :func:`final_states` gives the state
itself once per parameter point, and :func:`basis_probabilities` turns it into each basis's
distribution (the basis change of ``measurement_plan.basis_circuit``, which carries no device
error, applied exactly with Qiskit's ``quantum_info``): one simulation per point instead of
one per basis.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.quantum_info import DensityMatrix, Operator, Statevector
from qiskit_aer import AerSimulator

from qsession.execution import methods
from qsession.execution.aer import PreparedRun
from qsession.execution.memo import Memo, derive
from qsession.execution.noise import DeviceNoise
from qsession.execution.reduction import ReducedCircuit


def final_distribution(
    reduced: ReducedCircuit,
    measured: list[int],
    values: np.ndarray,
    noise: DeviceNoise | None,
    memo: Memo | None = None,
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
        memo: remembers the prepared circuit and simulator of a circuit nobody modifies.

    Returns:
        One float64 array of shape ``(2**len(measured),)`` per row of ``values``, summing to 1
        up to rounding (an entry may be rounding noise just below zero).

    Raises:
        ExecutionFailed: Aer cannot run the circuit.
    """
    if not measured:
        return [np.ones(1)] * values.shape[0]
    prepared = derive(
        memo,
        reduced,
        "probabilities",
        lambda: _prepared(reduced, noise, lambda c: c.save_probabilities(measured, label="p")),
        tuple(measured),
    )
    result = prepared.run(values)
    probabilities = [np.asarray(result.data(i)["p"], np.float64) for i in range(values.shape[0])]
    if noise is None:
        return probabilities
    assignment = noise.readout_assignment(reduced.active[q] for q in measured)
    return [apply_readout_errors(p, assignment) for p in probabilities]


def final_states(
    reduced: ReducedCircuit,
    values: np.ndarray,
    noise: DeviceNoise | None,
    extra_qubits: int = 0,
    memo: Memo | None = None,
) -> list[Statevector] | list[DensityMatrix]:
    """The final state of ``reduced.circuit`` (which has no measurement) at each parameter
    point: a state vector, or with ``noise`` the density matrix under the device's gate errors.

    Args:
        reduced: a reduced circuit without measurements and, with noise, without delays.
        values: as for :func:`final_distribution`.
        noise: the device's noise, or ``None`` for an ideal device.
        extra_qubits: idle qubits (in ``|0>``) appended after the reduced circuit's qubits,
            e.g. qubits a basis change reads that the circuit never touches.
        memo: remembers the prepared circuit and simulator of a circuit nobody modifies.

    Raises:
        ExecutionFailed: Aer cannot run the circuit.
    """
    prepared = derive(
        memo,
        reduced,
        "state",
        lambda: _prepared(
            reduced,
            noise,
            lambda c: (
                c.save_statevector("s") if noise is None else c.save_density_matrix(label="s")
            ),
        ),
    )
    methods.note("statevector" if noise is None else "density_matrix")
    result = prepared.run(values)
    states = [result.data(i)["s"] for i in range(values.shape[0])]
    if extra_qubits:
        idle = (Statevector if noise is None else DensityMatrix).from_int(0, 2**extra_qubits)
        states = [state.expand(idle) for state in states]
    return states


def basis_probabilities(
    state: Statevector | DensityMatrix, qubits: Sequence[int], paulis: str
) -> np.ndarray:
    """The distribution of measuring ``qubits`` of ``state`` in the bases ``paulis`` (one of
    "X", "Y", "Z" per qubit): float64 ``(2**len(qubits),)``, bit ``j`` = ``qubits[j]``.

    What ``state.evolve(change, qargs=qubits).probabilities(qargs=qubits)`` gives, computed
    on the matrices: the measured qubits' reduced density matrix, turned by the basis change
    (a small state is read this way three or more times per parameter point, and Qiskit's
    general ``evolve`` costs far more than the arithmetic here)."""
    reduced = _reduced_density_matrix(state, qubits)
    change = _basis_change(paulis)
    if change is not None:
        reduced = change.data @ reduced @ change.data.conj().T
    return np.ascontiguousarray(np.diagonal(reduced).real, np.float64)


def _reduced_density_matrix(
    state: Statevector | DensityMatrix, qubits: Sequence[int]
) -> np.ndarray:
    """``state``'s density matrix on ``qubits`` (the others traced out), index bit ``j`` =
    ``qubits[j]``."""
    num_qubits = state.num_qubits
    measured = len(qubits)
    # little-endian: qubit q is axis num_qubits - 1 - q of the state's tensor
    order = [num_qubits - 1 - q for q in reversed(qubits)]
    order += [axis for axis in range(num_qubits) if axis not in order]
    size, rest = 2**measured, 2 ** (num_qubits - measured)
    data = state.data
    if isinstance(state, Statevector):
        amplitudes = data.reshape((2,) * num_qubits).transpose(order).reshape(size, rest)
        return amplitudes @ amplitudes.conj().T
    tensor = data.reshape((2,) * (2 * num_qubits))
    columns = [num_qubits + axis for axis in order]
    matrix = tensor.transpose(order + columns).reshape(size, rest, size, rest)
    return np.einsum("arbr->ab", matrix)


@lru_cache(maxsize=1024)
def _basis_change(paulis: str) -> Operator | None:
    """The unitary that turns measuring ``paulis`` into measuring Z on each qubit (Sdg then H
    for Y, H for X), or ``None`` for all Z; one matrix applied at once to the state."""
    change = QuantumCircuit(len(paulis))
    for j, pauli in enumerate(paulis):
        if pauli == "Y":
            change.sdg(j)
        if pauli in "XY":
            change.h(j)
    return Operator(change) if change.data else None


def _prepared(reduced: ReducedCircuit, noise: DeviceNoise | None, save) -> PreparedRun:
    """``reduced.circuit`` without its measurements, ended by ``save(circuit)``, prepared for
    its simulator: statevector, or density matrix with each instruction followed by its gate
    error as a Kraus instruction.

    The errors are written into the circuit rather than given as a noise model: Aer applies
    a noise model's error after its gate just the same, but converts the model from Python
    on every run (0.65 of 0.9 ms for the seed VQE's ansatz on two fake_torino qubits).
    """
    unitary = reduced.circuit.copy_empty_like()
    for inst in reduced.circuit.data:
        name = inst.operation.name
        if name == "measure":
            continue
        unitary.append(inst.operation, inst.qubits, inst.clbits, copy=False)
        if noise is not None:
            qubits = tuple(reduced.active[unitary.find_bit(q).index] for q in inst.qubits)
            error = noise.gate_error(name, qubits)
            if error is not None:
                unitary.append(error, inst.qubits, copy=False)
    simulator = AerSimulator(method="statevector" if noise is None else "density_matrix")
    save(unitary)
    return PreparedRun(simulator, unitary)


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
