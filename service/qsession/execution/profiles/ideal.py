"""Ideal (noiseless, all-to-all) device targets."""

from __future__ import annotations

from qiskit.circuit.library.standard_gates import get_standard_gate_name_mapping
from qiskit.transpiler import Target

from qsession.execution.profiles.control_flow import CONTROL_FLOW_OPS

IDEAL_INSTRUCTIONS: tuple[str, ...] = (
    "id", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "sxdg",
    "rx", "ry", "rz", "p", "u", "cx", "cy", "cz", "ch", "cp", "crx", "cry", "crz",
    "ecr", "swap", "iswap", "rxx", "ryy", "rzz", "rzx", "ccx", "cswap",
    "measure", "reset", "delay",
)  # fmt: skip
"""Instruction names an ideal device runs on any qubits (barriers are always accepted)."""


def ideal_target(num_qubits: int) -> Target:
    """Return a noiseless target of ``num_qubits`` qubits where every instruction of
    :data:`IDEAL_INSTRUCTIONS` and control flow (if_else, for_loop, switch_case, while_loop)
    is available on any qubits, so textbook circuits need no routing or basis translation."""
    target = Target(description=f"ideal {num_qubits}-qubit device", num_qubits=num_qubits)
    mapping = get_standard_gate_name_mapping()
    for name in IDEAL_INSTRUCTIONS:
        target.add_instruction(mapping[name], {None: None})
    for name, op in CONTROL_FLOW_OPS.items():
        target.add_instruction(op, name=name)
    return target
