"""Split a circuit into parts that share no qubit and sample each part on its own.

Two groups of qubits that no multi-qubit instruction joins evolve independently: the device's
errors act on an instruction's own qubits (:class:`.noise.DeviceNoise`) and each qubit is read
through its own assignment matrix, so when every measurement is terminal the outcomes of one
group are independent of the other's. The circuit's distribution is the product of its parts',
and sampling each part with its own randomness draws exactly from it.

A part is simulated at its own width. That matters for the circuits IBM's client-side
primitives send: a measurement-twirled Estimator circuit on fake_torino measures all 133
qubits with a basis change on each, one pair joined by the Bell state's gate. As one circuit
that is 133 noisy qubits, shot by shot (about a minute a job); as parts it is one 2-qubit and
131 one-qubit density matrices. A part none of whose measurements is returned is not run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from qiskit.circuit import QuantumCircuit

from qsession.execution.memo import Memo
from qsession.execution.reduction import ReducedCircuit

PART_MEMO_CAPACITY = 16
"""Derived entries (reduced circuit, prepared runs) each part keeps for its next call."""


@dataclass
class Part:
    """One independent group of qubits as a circuit of its own.

    Attributes:
        circuit: the original circuit's qubits, clbits and registers (the same bit objects),
            with only the group's instructions; its other clbits stay 0.
        columns: for each of ``circuit.parameters``, its column in the original circuit's
            parameter values.
        clbits: the clbit indices the group's measurements write.
        memo: what sampling derives from ``circuit``, kept for the next call with it.
    """

    circuit: QuantumCircuit
    columns: list[int]
    clbits: frozenset[int]
    memo: Memo = field(default_factory=lambda: Memo(capacity=PART_MEMO_CAPACITY))


def independent_parts(circuit: QuantumCircuit, reduced: ReducedCircuit) -> list[Part] | None:
    """The parts of ``circuit`` (device-wide, ``reduced`` its reduction), or ``None`` when it
    does not split: not every measurement terminal, a clbit written by two measurements, or
    one group of all the active qubits.

    Measurements of idle qubits belong to no part (the caller reads them as idle).
    """
    final = reduced.final_measures
    if final is None or len(reduced.active) < 2:
        return None
    group = _groups(reduced.circuit)
    roots = {group(j) for j in range(len(reduced.active))}
    if len(roots) < 2:
        return None
    measures: dict[int, int] = {}
    clbit_index = {c: i for i, c in enumerate(circuit.clbits)}  # the reduced circuit's too
    for inst in reduced.circuit.data:
        if inst.operation.name == "measure":
            clbit = clbit_index[inst.clbits[0]]
            measures[clbit] = measures.get(clbit, 0) + 1
    if any(count > 1 for count in measures.values()) or set(measures) & set(reduced.idle_measures):
        return None
    qubit_root = {reduced.active[j]: group(j) for j in range(len(reduced.active))}
    circuits = {root: circuit.copy_empty_like() for root in roots}
    qubit_index = {q: i for i, q in enumerate(circuit.qubits)}
    for inst in circuit.data:
        placed = {qubit_root.get(qubit_index[q]) for q in inst.qubits}
        placed.discard(None)
        if not placed:
            continue  # an idle qubit's measurement, delay or barrier
        if len(placed) > 1:  # a barrier across groups orders nothing between them
            continue
        circuits[placed.pop()].append(inst.operation, inst.qubits, inst.clbits, copy=False)
    column = {param: i for i, param in enumerate(circuit.parameters)}
    writes = {root: set() for root in roots}
    for clbit, qubit in final.items():
        writes[group(qubit)].add(clbit)
    return [
        Part(
            circuits[root],
            [column[param] for param in circuits[root].parameters],
            frozenset(writes[root]),
        )
        for root in sorted(roots)
    ]


def combine(parts_packed: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Each register's shots from its parts' (each part's array holds only its own bits, the
    others 0): their bitwise OR."""
    combined = [register.copy() for register in parts_packed[0]]
    for packed in parts_packed[1:]:
        for out, register in zip(combined, packed, strict=True):
            np.bitwise_or(out, register, out=out)
    return combined


def _groups(circuit: QuantumCircuit):
    """Union-find over ``circuit``'s qubits joined by its multi-qubit instructions (barriers
    excepted); returns the find function (a qubit index -> its group's root)."""
    parent = list(range(circuit.num_qubits))
    index = {q: i for i, q in enumerate(circuit.qubits)}

    def find(qubit: int) -> int:
        while parent[qubit] != qubit:
            parent[qubit] = parent[parent[qubit]]
            qubit = parent[qubit]
        return qubit

    for inst in circuit.data:
        if len(inst.qubits) < 2 or inst.operation.name == "barrier":
            continue
        first, *others = (index[q] for q in inst.qubits)
        for other in others:
            a, b = find(first), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return find
