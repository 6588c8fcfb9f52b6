"""The randomized circuits twirling runs, as a QPU would run them: Pauli twirls of a circuit's
2-qubit gates (the per-randomization path; ``twirled_channel`` has the closed form of their
average) and the X flips of measurement twirling before terminal measurements."""

from __future__ import annotations

import numpy as np
from qiskit.circuit import QuantumCircuit, pauli_twirl_2q_gates


def twirl_gates(
    circuit: QuantumCircuit, count: int, target, seed: np.random.SeedSequence
) -> list[QuantumCircuit]:
    """``count`` Pauli-twirled copies of ``circuit``'s 2-qubit gates (Qiskit's
    ``pauli_twirl_2q_gates``), the twirling Paulis merged into ``target``'s 1-qubit gates so
    each copy stays an ISA circuit. A circuit without 2-qubit gates is returned as is."""
    if not any(inst.operation.num_qubits == 2 for inst in circuit.data):
        return [circuit]
    twirled = pauli_twirl_2q_gates(
        circuit,
        seed=int(seed.generate_state(1, np.uint32)[0]),
        num_twirls=count,
        target=target,
    )
    return twirled if isinstance(twirled, list) else [twirled]


def terminal_measurements(circuit: QuantumCircuit) -> list[tuple[int, int]]:
    """``(qubit, clbit)`` of each measurement after which nothing touches its qubit or bit."""
    touched_qubits, touched_clbits, terminal = set(), set(), []
    for inst in reversed(circuit.data):
        qubits = {circuit.find_bit(q).index for q in inst.qubits}
        clbits = {circuit.find_bit(c).index for c in inst.clbits}
        if inst.operation.name == "measure":
            (qubit,), (clbit,) = qubits, clbits
            if qubit not in touched_qubits and clbit not in touched_clbits:
                terminal.append((qubit, clbit))
        if inst.operation.name != "barrier":
            touched_qubits |= qubits
            touched_clbits |= clbits
    return terminal[::-1]


def flip_before_measurements(circuit: QuantumCircuit, qubits: set[int]) -> QuantumCircuit:
    """``circuit`` with an X just before the terminal measurement of each of ``qubits``."""
    if not qubits:
        return circuit
    terminal = set(terminal_measurements(circuit))
    flipped = circuit.copy_empty_like()
    for inst in circuit.data:
        if inst.operation.name == "measure":
            qubit = circuit.find_bit(inst.qubits[0]).index
            clbit = circuit.find_bit(inst.clbits[0]).index
            if qubit in qubits and (qubit, clbit) in terminal:
                flipped.x(qubit)
        flipped.append(inst)
    return flipped
