"""Circuits the tests share."""

from __future__ import annotations

from qiskit import QuantumCircuit


def bell() -> QuantumCircuit:
    """A measured Bell pair: H on qubit 0, CX 0 -> 1, measure_all into ``meas``."""
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit
