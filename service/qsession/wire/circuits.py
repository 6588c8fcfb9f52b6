"""Circuits on the wire: QPY bytes, or OpenQASM 3 text from non-Python clients."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable

import qiskit
from qiskit import QuantumCircuit, qasm3, qpy

from qsession.v1 import types_pb2
from qsession.wire.errors import WireError

_QPY_MAGIC = b"QISKIT"
CircuitDecoder = Callable[[types_pb2.Circuit, str], QuantumCircuit]
"""Turns a circuit message (and its field name, for errors) into a circuit."""


def encode_circuit(circuit: QuantumCircuit) -> types_pb2.Circuit:
    """The circuit as QPY bytes."""
    buffer = io.BytesIO()
    qpy.dump(circuit, buffer)
    return types_pb2.Circuit(qpy=buffer.getvalue())


def circuit_digest(serialized: bytes) -> str:
    """The hex SHA-256 of a serialized Circuit message: how ``Circuit.sha256`` names it."""
    return hashlib.sha256(serialized).hexdigest()


def decode_circuit(message: types_pb2.Circuit, field: str) -> QuantumCircuit:
    """The circuit a message holds.

    Raises:
        WireError: no format set, QPY of a version newer than this Qiskit reads (naming
            both versions), QPY that does not parse or does not hold exactly one circuit,
            or OpenQASM 3 that does not parse (the parser's message, with its line and
            column, is kept).
    """
    kind = message.WhichOneof("format")
    if kind == "qpy":
        version = qpy_version(message.qpy)
        if version is not None and version > qpy.QPY_VERSION:
            raise WireError(
                f"{field}.qpy",
                f"is QPY version {version}, newer than this server reads (QPY versions up to "
                f"{qpy.QPY_VERSION}, Qiskit {qiskit.__version__}); write it with "
                f"qiskit.qpy.dump(..., version={qpy.QPY_VERSION})",
            )
        try:
            circuits = qpy.load(io.BytesIO(message.qpy))
        except Exception as exc:  # QPY raises many types for corrupt input
            raise WireError(
                f"{field}.qpy", f"is not valid QPY ({exc}); encode with qiskit.qpy.dump"
            ) from exc
        if len(circuits) != 1 or not isinstance(circuits[0], QuantumCircuit):
            raise WireError(f"{field}.qpy", f"must hold exactly one circuit, got {len(circuits)}")
        return circuits[0]
    if kind == "qasm3":
        return _load_qasm3(message.qasm3, f"{field}.qasm3")
    raise WireError(field, "set either qpy (QPY bytes) or qasm3 (OpenQASM 3 text)")


def qpy_version(data: bytes) -> int | None:
    """The QPY format version in the header of ``data`` (``b"QISKIT"`` then one version
    byte), or ``None`` when it has no QPY header."""
    if len(data) > len(_QPY_MAGIC) and data.startswith(_QPY_MAGIC):
        return data[len(_QPY_MAGIC)]
    return None


def _load_qasm3(text: str, field: str) -> QuantumCircuit:
    """Parse OpenQASM 3; ``input float[64] x;`` declarations become parameters named x."""
    from qsession.wire.qasm3_errors import describe_error

    if not text.strip():
        raise WireError(field, "is empty: send an OpenQASM 3 program (OPENQASM 3.0; ...)")
    try:
        return qasm3.loads(text)
    except Exception as exc:  # the importer raises parser- and semantics-level errors
        raise WireError(field, f"is not valid OpenQASM 3: {describe_error(text, exc)}") from exc
