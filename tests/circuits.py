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


def ghz(num_qubits: int) -> QuantumCircuit:
    """A measured GHZ state: H on qubit 0, a CX chain, measure_all into ``meas``."""
    circuit = QuantumCircuit(num_qubits)
    circuit.h(0)
    for qubit in range(num_qubits - 1):
        circuit.cx(qubit, qubit + 1)
    circuit.measure_all()
    return circuit


def flip() -> QuantumCircuit:
    """One qubit flipped and measured (always "1"): the smallest job there is."""
    circuit = QuantumCircuit(1)
    circuit.x(0)
    circuit.measure_all()
    return circuit


def mid_circuit_measured(num_qubits: int) -> QuantumCircuit:
    """A circuit Aer must simulate shot by shot, seconds per shot from about 20 qubits: a
    mid-circuit measurement of ``num_qubits`` entangled qubits, then more entangling and a
    measurement of every qubit (not transpiled)."""
    circuit = QuantumCircuit(num_qubits, num_qubits + 1)
    circuit.h(range(num_qubits))
    for i in range(num_qubits - 1):
        circuit.cx(i, i + 1)
    circuit.measure(0, num_qubits)
    for i in range(num_qubits):
        circuit.rx(0.3 * i, i)
    for i in range(num_qubits - 1):
        circuit.cx(i, i + 1)
    circuit.measure(range(num_qubits), range(num_qubits))
    return circuit


def swept_ghz(num_qubits: int) -> QuantumCircuit:
    """A GHZ state whose first rotation is a parameter: ``ry(theta)`` on qubit 0, then a CX
    chain, every qubit measured into ``c`` (theta = pi/2 gives the GHZ state)."""
    from qiskit.circuit import Parameter

    circuit = QuantumCircuit(num_qubits, num_qubits)
    circuit.ry(Parameter("theta"), 0)
    for qubit in range(num_qubits - 1):
        circuit.cx(qubit, qubit + 1)
    circuit.measure(range(num_qubits), range(num_qubits))
    return circuit
