"""The classical tail (``execution.tail``): an ideal circuit's last permutation and phase
gates done on the measured bits give exactly the circuit's distribution."""

from __future__ import annotations

import numpy as np
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import Statevector
from scipy.stats import chisquare

from qsession.execution import sampling
from qsession.execution.reduction import reduce_circuit
from qsession.execution.tail import classical_tail

SHOTS = 40_000
TAIL_GATES = 9
"""The permutation gates ``_circuit`` ends with (its phase gates vanish)."""


def _circuit() -> QuantumCircuit:
    """An entangled, swept head on five qubits, then every kind of permutation gate mixed with
    phase gates, measured into two registers (qubits 0-2 in ``a``, 3-4 in ``b``)."""
    theta = ParameterVector("theta", 5)
    a, b = ClassicalRegister(3, "a"), ClassicalRegister(2, "b")
    circuit = QuantumCircuit(QuantumRegister(5, "q"), a, b)
    for qubit in range(5):
        circuit.ry(theta[qubit], qubit)
    circuit.cx(0, 1)
    circuit.ry(0.3, 1)
    circuit.cx(2, 3)
    circuit.rx(0.8, 3)
    circuit.h(4)
    circuit.x(0)
    circuit.y(1)
    circuit.cx(0, 2)
    circuit.rz(0.2, 1)
    circuit.cy(1, 3)
    circuit.swap(2, 4)
    circuit.cz(0, 4)
    circuit.iswap(0, 1)
    circuit.dcx(3, 4)
    circuit.rzz(0.5, 2, 3)
    circuit.ccx(0, 1, 2)
    circuit.t(4)
    circuit.cswap(4, 0, 3)
    circuit.p(0.1, 0)
    circuit.measure([0, 1, 2], a)
    circuit.measure([3, 4], b)
    return circuit


def _joined(packed: list[np.ndarray]) -> np.ndarray:
    """Each shot's outcome as an integer with clbit ``i`` in bit ``i`` (a: 0-2, b: 3-4)."""
    a, b = (register[..., -1].astype(np.int64) for register in packed)
    return a | (b << 3)


def test_the_tail_is_every_gate_after_the_head() -> None:
    circuit = _circuit()
    split = classical_tail(circuit, reduce_circuit(circuit))
    assert split is not None
    assert len(split.operations) == TAIL_GATES
    assert [inst.operation.name for inst in split.head.data].count("measure") == 5
    assert len(split.head.data) == len(circuit.data) - TAIL_GATES - 5  # phases gone too
    assert len(split.columns) == 5


def test_shots_through_the_tail_follow_the_circuits_exact_distribution() -> None:
    circuit = _circuit()
    values = np.array([[0.3, 1.1, 2.0, 0.7, 2.9], [1.5, 0.2, 0.9, 2.4, 0.1]])
    packed = sampling.sample_registers(
        circuit, circuit.cregs, values, SHOTS, np.random.SeedSequence(3), None
    )
    outcomes = _joined(packed)
    unitary = circuit.remove_final_measurements(inplace=False)
    for point in range(2):
        exact = Statevector(unitary.assign_parameters(values[point])).probabilities()
        observed = np.bincount(outcomes[point], minlength=32)
        expected = exact * SHOTS
        common = expected >= 5  # rare outcomes pooled into one cell
        observed = np.append(observed[common], observed[~common].sum())
        expected = np.append(expected[common], expected[~common].sum())
        keep = expected > 0
        assert chisquare(observed[keep], expected[keep]).pvalue > 1e-3


def test_a_register_asked_alone_holds_the_bits_it_holds_among_all() -> None:
    circuit = _circuit()
    values = np.array([[0.3, 1.1, 2.0, 0.7, 2.9]])
    everything = sampling.sample_registers(
        circuit, circuit.cregs, values, 500, np.random.SeedSequence(8), None
    )
    (b,) = sampling.sample_registers(
        circuit, [circuit.cregs[1]], values, 500, np.random.SeedSequence(8), None
    )
    np.testing.assert_array_equal(b, everything[1])


def test_a_gate_that_mixes_states_ends_the_tail() -> None:
    circuit = QuantumCircuit(2, 2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.h(1)  # not a permutation: the CX before it stays in the head
    circuit.rz(0.4, 0)
    circuit.measure([0, 1], [0, 1])
    split = classical_tail(circuit, reduce_circuit(circuit))
    assert split is not None and split.operations == []
    assert [inst.operation.name for inst in split.head.data] == ["h", "cx", "h"] + ["measure"] * 2
    circuit.remove_final_measurements()
    circuit.h(0)
    circuit.measure_all()
    assert classical_tail(circuit, reduce_circuit(circuit)) is None


def test_registers_that_share_bits_both_see_the_tail() -> None:
    from qiskit.circuit import Clbit

    bits = [Clbit(), Clbit()]
    circuit = QuantumCircuit(QuantumRegister(2, "q"))
    whole, alias = (
        ClassicalRegister(bits=bits, name="whole"),
        ClassicalRegister(bits=bits[1:], name="alias"),
    )
    circuit.add_register(whole)
    circuit.add_register(alias)
    circuit.x(0)
    circuit.cx(0, 1)  # the tail: bit 1 becomes bit 0's value, 1
    circuit.measure([0, 1], bits)
    packed = sampling.sample_registers(
        circuit, circuit.cregs, np.zeros((1, 0)), 20, np.random.SeedSequence(1), None
    )
    assert np.all(packed[0][..., -1] == 0b11) and np.all(packed[1][..., -1] == 0b1)
