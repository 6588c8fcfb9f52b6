"""Estimator measurement planning: which bases to measure and how to read observables off them.

Like a QPU, the Estimator measures the circuit in a few bases and estimates every observable
from the shots. The Pauli terms of all observables of a PUB are grouped into qubit-wise
commuting sets (Qiskit's ``PauliList.group_qubit_wise_commuting``); each set is one basis:
rotate each qubit so its X / Y / Z becomes Z, measure, and every term of the set becomes a
diagonal Z-string over the measured bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from qiskit.circuit import ClassicalRegister, QuantumCircuit
from qiskit.primitives.containers.observables_array import ObservablesArray
from qiskit.quantum_info import PauliList


@dataclass(frozen=True)
class MeasurementBasis:
    """One measurement setting.

    Attributes:
        qubits: circuit qubits measured, ascending; bit ``j`` of the outcome is ``qubits[j]``.
        paulis: the basis of each measured qubit, ``"X"``, ``"Y"`` or ``"Z"``, one per qubit.
        terms: the set's terms as diagonal labels over ``len(qubits)`` bits (``"Z"``/``"I"``,
            last character = bit 0).
        coeffs: float64 ``(num_observables, len(terms))``: each flattened observable's
            coefficient of each term.
    """

    qubits: tuple[int, ...]
    paulis: str
    terms: list[str]
    coeffs: np.ndarray


@dataclass(frozen=True)
class MeasurementPlan:
    """How to estimate a flattened array of observables.

    Attributes:
        constant: float64 ``(num_observables,)``: each observable's identity coefficient.
        bases: the settings to measure; an observable's value is ``constant`` plus the sum over
            bases of its terms' mean values there.
    """

    constant: np.ndarray
    bases: list[MeasurementBasis]


def plan_measurements(observables: ObservablesArray) -> MeasurementPlan:
    """Group the Pauli terms of ``observables`` (flattened in row-major order) into
    qubit-wise commuting measurement bases."""
    num_qubits = observables.num_qubits
    flat = observables.ravel()
    columns: dict[str, int] = {}
    entries: list[tuple[int, int, float]] = []
    for k in range(flat.size):
        for paulis, qubits, coeff in flat.slice(k).as_paulis().simplify().to_sparse_list():
            label = ["I"] * num_qubits
            for pauli, qubit in zip(paulis, qubits, strict=True):
                label[num_qubits - 1 - qubit] = pauli
            column = columns.setdefault("".join(label), len(columns))
            entries.append((k, column, float(np.real(coeff))))
    coeffs = np.zeros((flat.size, len(columns)))
    for k, column, value in entries:
        coeffs[k, column] += value
    identity = "I" * num_qubits
    constant = coeffs[:, columns[identity]] if identity in columns else np.zeros(flat.size)
    labels = [label for label in columns if label != identity]
    bases = []
    if labels:
        for group in PauliList(labels).group_qubit_wise_commuting():
            bases.append(_basis(group, [columns[label] for label in group.to_labels()], coeffs))
    return MeasurementPlan(constant=constant, bases=bases)


def _basis(group: PauliList, columns: list[int], coeffs: np.ndarray) -> MeasurementBasis:
    x, z = group.x.any(axis=0), group.z.any(axis=0)
    qubits = np.flatnonzero(x | z)
    paulis = "".join("Y" if x[q] and z[q] else "X" if x[q] else "Z" for q in qubits)
    support = group.x[:, qubits] | group.z[:, qubits]  # (terms, measured qubits)
    terms = ["".join("Z" if bit else "I" for bit in row[::-1]) for row in support]
    return MeasurementBasis(
        qubits=tuple(int(q) for q in qubits),
        paulis=paulis,
        terms=terms,
        coeffs=np.ascontiguousarray(coeffs[:, columns]),
    )


def basis_circuit(
    circuit: QuantumCircuit, basis: MeasurementBasis
) -> tuple[QuantumCircuit, ClassicalRegister]:
    """``circuit`` followed by the basis change of ``basis`` (X: h; Y: sdg, h) and a
    measurement of ``basis.qubits`` into a new register (bit ``j`` = ``basis.qubits[j]``)."""
    register = ClassicalRegister(len(basis.qubits), "_qsession_basis")
    measured = circuit.copy()
    measured.add_register(register)
    for j, (qubit, pauli) in enumerate(zip(basis.qubits, basis.paulis, strict=True)):
        if pauli == "Y":
            measured.sdg(qubit)
        if pauli in "XY":
            measured.h(qubit)
        measured.measure(qubit, register[j])
    return measured, register
