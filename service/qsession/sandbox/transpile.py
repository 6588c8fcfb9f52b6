"""Transpile in a sandbox: a client's logical circuit -> the backend's ISA circuit.

Runs in a circuit sandbox process (``sandbox.circuits``): the circuit is a client's, so it is
parsed and transpiled there under the same memory and time limits as CreateJob's circuits.
``transpile_in_sandbox`` runs ``generate_preset_pass_manager(target=..., optimization_level=...,
initial_layout=..., seed_transpiler=...)`` on the backend's own Target.
"""

from __future__ import annotations

import io

from qsession.v1 import types_pb2

PAULI_LETTERS = frozenset("IXYZ")


class _Refused(Exception):
    """A request the sandbox refuses: its field, message and ErrorReason."""

    def __init__(self, field: str, message: str, reason: str):
        super().__init__(message)
        self.field = field
        self.reason = reason


def transpile_in_sandbox(request: dict) -> tuple:
    """Transpile one circuit (runs in a circuit sandbox process).

    Args:
        request: ``circuit`` (a serialized Circuit with qpy or qasm3), ``backend`` (its name,
            for messages), ``profile`` (its device profile), ``optimization_level``,
            ``initial_layout`` (list or None), ``seed_transpiler`` (int or None),
            ``pauli_labels`` (labels on the circuit's qubits).

    Returns:
        ``("ok", result)``, result holding ``circuit`` (a serialized Circuit in the request's
        form), ``num_qubits`` (the ISA circuit's width as the server reads it back),
        ``initial_layout``, ``final_layout`` and ``pauli_labels``; or ``("error", field,
        message, reason)``.
    """
    try:
        return "ok", _transpile(request)
    except _Refused as refused:
        return "error", refused.field, f"{refused.field}: {refused}", refused.reason
    except BaseException as exc:  # noqa: BLE001 - e.g. a Rust panic: the circuit is refused
        return (
            "error",
            "circuit",
            f"circuit: cannot be transpiled ({type(exc).__name__}: {exc})",
            "TRANSPILE_FAILED",
        )


def _transpile(request: dict) -> dict:
    from qiskit import qasm3, qpy
    from qiskit.quantum_info import SparsePauliOp
    from qiskit.transpiler import generate_preset_pass_manager

    from qsession.execution.profiles import load_profile
    from qsession.wire import WireError
    from qsession.wire.circuits import decode_circuit

    message = types_pb2.Circuit.FromString(request["circuit"])
    form = message.WhichOneof("format")
    try:
        circuit = decode_circuit(message, "circuit")
    except WireError as exc:
        raise _Refused(exc.field, exc.reason, "CIRCUIT_INVALID") from None
    target = load_profile(request["profile"]).target
    backend = request["backend"]
    width = circuit.num_qubits
    if width > target.num_qubits:
        raise _Refused(
            "circuit",
            f"circuit has {width} qubits but {backend} has {target.num_qubits}",
            "CIRCUIT_TOO_WIDE",
        )
    layout = request["initial_layout"]
    if layout is not None:
        _check_layout(layout, width, backend, target.num_qubits)
    for i, label in enumerate(request["pauli_labels"]):
        if len(label) != width or not PAULI_LETTERS.issuperset(label):
            raise _Refused(
                f"pauli_labels[{i}]",
                f"must be {width} letters from I, X, Y, Z (one per qubit of the logical "
                f"circuit, qubit 0 rightmost), got {label!r}",
                "PAULI_LABEL_INVALID",
            )
    manager = generate_preset_pass_manager(
        optimization_level=request["optimization_level"],
        target=target,
        initial_layout=layout,
        seed_transpiler=request["seed_transpiler"],
    )
    try:
        isa = manager.run(circuit)
    except Exception as exc:  # noqa: BLE001 - the pass manager raises many types
        raise _Refused(
            "circuit", f"cannot be transpiled for {backend}: {exc}", "TRANSPILE_FAILED"
        ) from None
    if form == "qpy":
        buffer = io.BytesIO()
        qpy.dump(isa, buffer)
        out = types_pb2.Circuit(qpy=buffer.getvalue())
    else:
        out = types_pb2.Circuit(qasm3=qasm3.dumps(isa))
    # The width the server reads back: qasm3 names physical qubits, so only up to the
    # highest one used; qpy keeps every qubit of the backend.
    num_qubits = decode_circuit(out, "circuit").num_qubits
    if isa.layout is None:
        initial = final = list(range(width))
    else:
        initial = isa.layout.initial_index_layout(filter_ancillas=True)
        final = isa.layout.final_index_layout(filter_ancillas=True)
    labels = []
    for i, label in enumerate(request["pauli_labels"]):
        mapped = SparsePauliOp(label).apply_layout(isa.layout).paulis[0].to_label()
        cut, kept = mapped[: len(mapped) - num_qubits], mapped[len(mapped) - num_qubits :]
        if set(cut) - {"I"}:
            raise _Refused(
                f"pauli_labels[{i}]",
                f"acts on a qubit that the transpiled circuit does not use (its OpenQASM 3 "
                f"names physical qubits up to ${num_qubits - 1}); send the circuit as qpy, or "
                "use the qubit in the circuit",
                "PAULI_LABEL_INVALID",
            )
        labels.append(kept)
    return {
        "circuit": out.SerializeToString(),
        "num_qubits": num_qubits,
        "initial_layout": [int(q) for q in initial],
        "final_layout": [int(q) for q in final],
        "pauli_labels": labels,
    }


def _check_layout(layout: list[int], width: int, backend: str, backend_qubits: int) -> None:
    """An initial layout names one distinct physical qubit of the backend per circuit qubit."""
    if len(layout) != width:
        raise _Refused(
            "initial_layout",
            f"has {len(layout)} entries but the circuit has {width} qubits: give one physical "
            "qubit per circuit qubit, in the circuit's qubit order",
            "LAYOUT_INVALID",
        )
    if len(set(layout)) != len(layout):
        raise _Refused(
            "initial_layout", f"names a physical qubit twice: {layout}", "LAYOUT_INVALID"
        )
    if max(layout) >= backend_qubits:
        raise _Refused(
            "initial_layout",
            f"names qubit {max(layout)} but {backend} has qubits 0 to {backend_qubits - 1}",
            "LAYOUT_INVALID",
        )
