"""A device's Qiskit Target <-> the Backend message, so clients transpile for the real device."""

from __future__ import annotations

from collections.abc import Collection

from qiskit.circuit import Delay, Measure, Parameter, Reset
from qiskit.circuit.controlflow import ForLoopOp, IfElseOp, SwitchCaseOp, WhileLoopOp
from qiskit.circuit.library import PhaseGate, RZGate, U1Gate, get_standard_gate_name_mapping
from qiskit.providers import QubitProperties
from qiskit.transpiler import InstructionProperties, Target

from qsession.v1 import backend_pb2

_CONTROL_FLOW = {
    "if_else": IfElseOp,
    "while_loop": WhileLoopOp,
    "for_loop": ForLoopOp,
    "switch_case": SwitchCaseOp,
}


def encode_target(target: Target, message: backend_pb2.Backend) -> None:
    """Fill the device fields of ``message`` (qubits, instructions, coupling map, calibration)."""
    message.num_qubits = target.num_qubits
    message.dt = target.dt or 0.0
    message.basis_gates.extend(sorted(target.operation_names))
    for name in sorted(target.operation_names):
        entry = message.instructions.add(name=name)
        for qargs, props in (target[name] or {}).items():
            if qargs is None:
                continue
            item = entry.properties.add(qubits=qargs)
            if props is not None and props.error is not None:
                item.error = props.error
            if props is not None and props.duration is not None:
                item.duration = props.duration
    coupling = target.build_coupling_map()
    if coupling is not None:
        for a, b in coupling.get_edges():
            message.coupling_map.extend((a, b))
    for props in target.qubit_properties or ():
        message.qubit_properties.add(
            t1=(props.t1 or 0.0) if props else 0.0,
            t2=(props.t2 or 0.0) if props else 0.0,
            frequency=(props.frequency or 0.0) if props else 0.0,
        )


def fractional_gates(message: backend_pb2.Backend) -> set[str]:
    """The names of the Backend's fractional gates, as qiskit-ibm-runtime defines them
    (``is_fractional_gate``): gates with an angle that take time on the device, e.g. ``rx`` and
    ``rzz``; not the virtual ``rz``, ``p`` and ``u1``, nor ``delay``."""
    gates = get_standard_gate_name_mapping()
    return {
        entry.name
        for entry in message.instructions
        if (gate := gates.get(entry.name)) is not None
        and gate.params
        and not isinstance(gate, RZGate | PhaseGate | U1Gate | Delay)
    }


def decode_target(message: backend_pb2.Backend, without: Collection[str] = ()) -> Target:
    """The Qiskit Target described by a Backend message, leaving out the instructions named in
    ``without``.

    Instructions with no properties are global (available on any qubits, ideal). Unknown
    instruction names are skipped: a client can only transpile to gates it knows.
    """
    qubit_properties = [
        QubitProperties(t1=q.t1 or None, t2=q.t2 or None, frequency=q.frequency or None)
        for q in message.qubit_properties
    ] or None
    target = Target(
        num_qubits=message.num_qubits,
        dt=message.dt or None,
        qubit_properties=qubit_properties,
    )
    gates = get_standard_gate_name_mapping()
    extras = {"measure": Measure(), "reset": Reset(), "delay": Delay(Parameter("t"))}
    for entry in message.instructions:
        if entry.name in without:
            continue
        if entry.name in _CONTROL_FLOW:
            target.add_instruction(_CONTROL_FLOW[entry.name], name=entry.name)
            continue
        operation = extras.get(entry.name) or gates.get(entry.name)
        if operation is None:
            continue
        if not entry.properties:
            target.add_instruction(operation, {None: None} if operation.num_qubits else None)
            continue
        target.add_instruction(
            operation,
            {
                tuple(p.qubits): InstructionProperties(
                    error=p.error if p.HasField("error") else None,
                    duration=p.duration if p.HasField("duration") else None,
                )
                for p in entry.properties
            },
        )
    return target
