"""Control-flow operations a target can declare (Qiskit's dynamic-circuit instructions)."""

from __future__ import annotations

from qiskit.circuit import ControlFlowOp, ForLoopOp, IfElseOp, SwitchCaseOp, WhileLoopOp

CONTROL_FLOW_OPS: dict[str, type[ControlFlowOp]] = {
    "if_else": IfElseOp,
    "for_loop": ForLoopOp,
    "switch_case": SwitchCaseOp,
    "while_loop": WhileLoopOp,
}
"""Instruction name -> operation class, as added to a :class:`~qiskit.transpiler.Target`."""
