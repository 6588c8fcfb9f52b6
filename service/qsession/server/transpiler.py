"""TranspilerService: a client's logical circuit -> the backend's ISA circuit, on the server.

A backend such as fake_torino runs only ISA circuits (every instruction one it supports on the
physical qubits it names) and refuses others with NOT_ISA. In Python one transpiles with
Qiskit's preset pass managers; a client in another language has no Qiskit, so Transpile runs
``generate_preset_pass_manager(target=..., optimization_level=..., initial_layout=...,
seed_transpiler=...)`` for it, on the backend's own Target.

The circuit is a client's, so it is parsed and transpiled in a circuit sandbox process (see
``circuit_sandbox``), under the same memory and time limits as CreateJob's circuits, and the
call is admitted in turns between instances like CreateJob (``fairness.FairAdmission``).
``transpile_in_sandbox`` is the part that runs in the sandbox; ``TranspilerServicer`` the part
on the server.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from qsession.lifecycle.errors import InvalidArgument, NotFound
from qsession.server.auth import current_instance
from qsession.server.errors import unary
from qsession.server.fairness import admission_of
from qsession.v1 import transpiler_pb2, transpiler_pb2_grpc, types_pb2

if TYPE_CHECKING:  # the sandbox worker imports this module: keep the runtime out of it
    from qsession.server.runtime import Runtime

MAX_OPTIMIZATION_LEVEL = 3
DEFAULT_OPTIMIZATION_LEVEL = 2  # Qiskit's default for generate_preset_pass_manager
PAULI_LETTERS = frozenset("IXYZ")


class TranspilerServicer(transpiler_pb2_grpc.TranspilerServiceServicer):
    """TranspilerService: checks what the request alone tells, then transpiles in a sandbox."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    @unary
    async def Transpile(self, request, context):
        form = request.circuit.WhichOneof("format")
        if form is None:
            raise InvalidArgument(
                "circuit: required; set circuit.qasm3 (OpenQASM 3 text) or circuit.qpy",
                field="circuit",
                reason="FIELD_REQUIRED",
            )
        if form not in ("qpy", "qasm3"):
            raise InvalidArgument(
                f"circuit.{form}: Transpile takes the circuit itself; set circuit.qasm3 or "
                "circuit.qpy",
                field=f"circuit.{form}",
                reason="FIELD_INVALID",
            )
        if not request.backend:
            raise InvalidArgument(
                "backend: required; ListBackends gives the names",
                field="backend",
                reason="FIELD_REQUIRED",
            )
        qpu = self.runtime.qpus.get(request.backend)
        if qpu is None:
            raise NotFound(
                f"backend: backend {request.backend!r} does not exist; use one of "
                f"{sorted(self.runtime.qpus)}",
                field="backend",
                reason="BACKEND_NOT_FOUND",
            )
        level = (
            request.optimization_level
            if request.HasField("optimization_level")
            else DEFAULT_OPTIMIZATION_LEVEL
        )
        if level > MAX_OPTIMIZATION_LEVEL:
            raise InvalidArgument(
                f"optimization_level: must be 0 to {MAX_OPTIMIZATION_LEVEL}, got {level}",
                field="optimization_level",
                reason="FIELD_INVALID",
            )
        job = {
            "circuit": request.circuit.SerializeToString(),
            "backend": request.backend,
            "profile": qpu.config.profile,
            "optimization_level": level,
            "initial_layout": list(request.initial_layout) or None,
            "seed_transpiler": (
                request.seed_transpiler if request.HasField("seed_transpiler") else None
            ),
            "pauli_labels": list(request.pauli_labels),
        }
        admission = admission_of(self.runtime)
        result = await admission.run(current_instance().name, self.runtime.sandbox.transpile, job)
        return transpiler_pb2.TranspileResponse(
            circuit=types_pb2.Circuit.FromString(result["circuit"]),
            num_qubits=result["num_qubits"],
            initial_layout=result["initial_layout"],
            final_layout=result["final_layout"],
            pauli_labels=result["pauli_labels"],
        )


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
