"""Reduce a device-wide circuit to the qubits it actually uses.

A transpiled circuit spans every device qubit (133 on fake_torino) even when it touches two;
a simulator would allocate for all of them. Idle qubits stay in |0>, so the reduced circuit
keeps only the *active* qubits and records which classical bits hold a measurement of an idle
qubit (always 0 on an ideal device).
"""

from __future__ import annotations

from dataclasses import dataclass

from qiskit.circuit import ControlFlowOp, QuantumCircuit, QuantumRegister

_PASSIVE = frozenset({"measure", "barrier", "delay"})
"""Instructions that leave an idle qubit idle (a measurement of |0> reads 0)."""


@dataclass(frozen=True)
class ReducedCircuit:
    """A circuit restricted to its active qubits.

    Attributes:
        circuit: ``len(active)`` qubits; the original clbits and classical registers (the same
            bit objects, in the same order), parameters and global phase.
        active: ``active[j]`` is the original qubit index of reduced qubit ``j`` (ascending).
        idle_measures: clbit index -> original qubit index, for clbits whose final value is a
            measurement of an idle qubit.
        final_measures: clbit index -> reduced qubit whose measurement the clbit holds, when
            the circuit is a unitary followed only by measurements (so its outcome distribution
            is that of the final state); ``None`` otherwise (mid-circuit measurement, reset,
            control flow).
    """

    circuit: QuantumCircuit
    active: tuple[int, ...]
    idle_measures: dict[int, int]
    final_measures: dict[int, int] | None


def reduce_circuit(circuit: QuantumCircuit) -> ReducedCircuit:
    """Return ``circuit`` restricted to its active qubits.

    A qubit is active when an instruction other than measure, barrier, delay or an initial
    reset acts on it, when a measurement of it is read by control flow, or when it overwrites
    a clbit holding a measurement of an active qubit. Barriers and delays on idle qubits and
    resets of untouched qubits (already |0>) are dropped.
    """
    index = {q: i for i, q in enumerate(circuit.qubits)}
    clbit_index = {c: i for i, c in enumerate(circuit.clbits)}
    instructions = [
        (inst, [index[q] for q in inst.qubits], [clbit_index[c] for c in inst.clbits])
        for inst in circuit.data
    ]
    active: set[int] = set()
    touched: set[int] = set()
    initial_resets: set[int] = set()
    read_clbits: set[int] = set()
    for position, (inst, qubits, clbits) in enumerate(instructions):
        name = inst.operation.name
        if name == "reset" and qubits[0] not in touched:
            initial_resets.add(position)
        elif name not in _PASSIVE:
            active.update(qubits)
        if name not in ("barrier", "delay"):
            touched.update(qubits)
        if isinstance(inst.operation, ControlFlowOp):
            read_clbits.update(clbits)
    _activate_measured(instructions, active, read_clbits)

    order = sorted(active)
    new_index = {q: j for j, q in enumerate(order)}
    qreg = QuantumRegister(len(order), "q")
    reduced = QuantumCircuit(
        qreg,
        list(circuit.clbits),
        name=circuit.name,
        global_phase=circuit.global_phase,
        metadata=circuit.metadata,
    )
    for creg in circuit.cregs:
        reduced.add_register(creg)
    idle_measures: dict[int, int] = {}
    for position, (inst, qubits, clbits) in enumerate(instructions):
        kept = [qreg[new_index[q]] for q in qubits if q in active]
        if inst.operation.name == "measure":
            if kept:
                idle_measures.pop(clbits[0], None)
            else:
                idle_measures[clbits[0]] = qubits[0]
                continue
        elif position in initial_resets or not kept:
            continue
        elif len(kept) < len(qubits):  # a barrier across idle and active qubits
            reduced.barrier(kept)
            continue
        reduced.append(inst.operation, kept, inst.clbits, copy=False)
    return ReducedCircuit(reduced, tuple(order), idle_measures, _final_measures(reduced))


def _activate_measured(instructions: list, active: set[int], read_clbits: set[int]) -> None:
    """Make idle qubits active whose measurement is read by control flow or overwrites a
    clbit that holds an active qubit's measurement (repeat until nothing changes)."""
    changed = True
    while changed:
        changed = False
        active_written: set[int] = set()
        for inst, qubits, clbits in instructions:
            if inst.operation.name != "measure":
                continue
            qubit, clbit = qubits[0], clbits[0]
            if qubit in active:
                active_written.add(clbit)
            elif clbit in read_clbits or clbit in active_written:
                active.add(qubit)
                active_written.add(clbit)
                changed = True


def _final_measures(circuit: QuantumCircuit) -> dict[int, int] | None:
    """clbit index -> qubit index if every measurement is terminal and nothing else is
    non-unitary; ``None`` otherwise."""
    measured: set[int] = set()
    final: dict[int, int] = {}
    qubit_index = {q: i for i, q in enumerate(circuit.qubits)}
    clbit_index = {c: i for i, c in enumerate(circuit.clbits)}
    for inst in circuit.data:
        name = inst.operation.name
        qubits = [qubit_index[q] for q in inst.qubits]
        if name == "measure":
            measured.add(qubits[0])
            final[clbit_index[inst.clbits[0]]] = qubits[0]
        elif name == "barrier":
            continue
        elif (
            name == "reset"
            or isinstance(inst.operation, ControlFlowOp)
            or inst.clbits
            or measured.intersection(qubits)
        ):
            return None
    return final
