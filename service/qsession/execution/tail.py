"""The classical tail of an ideal circuit: gates before its measurements that only permute
basis states or add phases, done on the measured bits instead of the state.

A gate that maps each basis state to one basis state times a phase (CX, X, SWAP, Toffoli;
RZ, CZ, RZZ, ...) changes the outcome distribution of a measurement that follows it only by
permuting it. So when the last gates on measured qubits are such gates, an ideal run may
measure before them and apply their permutation to each shot's bits: phase gates vanish, CX
becomes an XOR of two bits. The distribution of every shot is exactly the same (Qiskit's
``RemoveDiagonalGatesBeforeMeasure`` and ``OptimizeSwapBeforeMeasure`` passes do the same
for phase gates and SWAPs).

What is left is simulated, and that can be much less: a CX ladder that entangles a layer of
rotations leaves, once peeled, independent qubits (:mod:`.components`) instead of a 2**n
state vector. With noise the tail's own gate errors would be lost, so only ideal runs use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from qiskit.circuit import QuantumCircuit

from qsession.execution.memo import Memo
from qsession.execution.reduction import ReducedCircuit

PERMUTATIONS = {
    "x": "x",
    "y": "x",
    "cx": "cx",
    "cy": "cx",
    "swap": "swap",
    "iswap": "swap",
    "dcx": "dcx",
    "ccx": "ccx",
    "cswap": "cswap",
}
"""Gates that permute basis states (up to phases), by the bit operation each becomes."""

PHASES = frozenset(
    {"z", "s", "sdg", "t", "tdg", "rz", "p", "u1", "cz", "cs", "csdg", "ccz", "cp", "cu1"}
    | {"crz", "rzz", "id", "global_phase", "delay", "barrier"}
)
"""Gates that only multiply basis states by phases: before a measurement they do nothing."""

TAIL_MEMO_CAPACITY = 32
"""Derived entries (reduction, parts, prepared runs) the circuit left to simulate keeps."""


@dataclass
class Tail:
    """A circuit split into what is simulated and the bit operations done after.

    Attributes:
        head: the original circuit's qubits, clbits and registers (the same bit objects)
            without the tail's gates; its measurements stay.
        columns: for each of ``head.parameters``, its column in the original circuit's values.
        operations: ``(kind, clbits)`` in circuit order, ``kind`` one of
            ``PERMUTATIONS``' values and ``clbits`` the clbit indices the gate's qubits are
            measured into, in the gate's qubit order.
        memo: what sampling derives from ``head``, kept for the next call with it.
    """

    head: QuantumCircuit
    columns: list[int]
    operations: list[tuple[str, tuple[int, ...]]]
    memo: Memo = field(default_factory=lambda: Memo(capacity=TAIL_MEMO_CAPACITY))


def classical_tail(circuit: QuantumCircuit, reduced: ReducedCircuit) -> Tail | None:
    """Split off the gates of ``circuit`` (``reduced`` its reduction) that :data:`PERMUTATIONS`
    or :data:`PHASES` name and that nothing but such gates and the final measurements
    follow on any of their qubits, each qubit measured once into a clbit of a register.
    ``None`` when there is no such gate or not every measurement is terminal.
    """
    final = reduced.final_measures
    if final is None:
        return None
    qubit_index = {q: i for i, q in enumerate(circuit.qubits)}
    clbit_index = {c: i for i, c in enumerate(circuit.clbits)}
    registered = {clbit_index[bit] for creg in circuit.cregs for bit in creg}
    measured_into: dict[int, int] = {}
    counts: dict[int, int] = {}
    for clbit, qubit in final.items():
        original = reduced.active[qubit]
        counts[original] = counts.get(original, 0) + 1
        measured_into[original] = clbit
    readable = {q: c for q, c in measured_into.items() if counts[q] == 1 and c in registered}
    blocked: set[int] = set()
    peeled: list[int] = []
    for position in range(len(circuit.data) - 1, -1, -1):
        inst = circuit.data[position]
        name = inst.operation.name
        if name == "measure":
            continue
        qubits = [qubit_index[q] for q in inst.qubits]
        open_ = not blocked.intersection(qubits)
        if open_ and name in PHASES:
            peeled.append(position)
        elif open_ and name in PERMUTATIONS and all(q in readable for q in qubits):
            peeled.append(position)
        else:
            blocked.update(qubits)
    if all(circuit.data[p].operation.name in ("barrier", "delay", "id") for p in peeled):
        return None
    removed = set(peeled)
    head = circuit.copy_empty_like()
    for position, inst in enumerate(circuit.data):
        if position not in removed:
            head.append(inst.operation, inst.qubits, inst.clbits, copy=False)
    operations = []
    for position in reversed(peeled):
        inst = circuit.data[position]
        kind = PERMUTATIONS.get(inst.operation.name)
        if kind is not None:
            qubits = [qubit_index[q] for q in inst.qubits]
            operations.append((kind, tuple(readable[q] for q in qubits)))
    column = {param: i for i, param in enumerate(circuit.parameters)}
    return Tail(head, [column[param] for param in head.parameters], operations)


def apply(
    operations: list[tuple[str, tuple[int, ...]]],
    packed: list[np.ndarray],
    clbits: list[list[int]],
) -> None:
    """Do ``operations`` on the shots in ``packed`` in place: one uint8 array per register,
    ``(points, shots, bytes)`` in Qiskit's BitArray layout, register ``r``'s bit ``i``
    holding clbit ``clbits[r][i]``. Every clbit an operation names is in a register (in
    several, when registers share bits: each copy changes)."""
    where: dict[int, list[tuple[int, int]]] = {}
    for r, bits in enumerate(clbits):
        for i, c in enumerate(bits):
            where.setdefault(c, []).append((r, i))

    def bit(clbit: int) -> np.ndarray:
        r, i = where[clbit][0]
        return (packed[r][..., -1 - i // 8] >> (i % 8)) & 1

    def flip(clbit: int, mask: np.ndarray | np.uint8) -> None:
        for r, i in where[clbit]:
            packed[r][..., -1 - i // 8] ^= mask << (i % 8)

    for kind, (first, *rest) in operations:
        if kind == "x":
            flip(first, np.uint8(1))
        elif kind == "cx":
            flip(rest[0], bit(first))
        elif kind == "dcx":  # CX(first -> second), then CX(second -> first)
            flip(rest[0], bit(first))
            flip(first, bit(rest[0]))
        elif kind == "ccx":
            flip(rest[1], bit(first) & bit(rest[0]))
        else:  # swap, or cswap controlled by ``first``
            a, b = rest if kind == "cswap" else (first, rest[0])
            differ = bit(a) ^ bit(b)
            if kind == "cswap":
                differ &= bit(first)
            flip(a, differ)
            flip(b, differ)
