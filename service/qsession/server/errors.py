"""Domain errors -> canonical gRPC status with google.rpc.Status details: the gRPC front
end's one place for mapping the runtime's transport-free errors.

Every error carries an ErrorInfo (domain ``qsession.v1``) whose reason is one of the
``ErrorReason`` values of proto/qsession/v1/errors.proto, e.g. ``NOT_ISA`` (AIP-193), so that
clients in any language (and the SDK's exceptions) tell errors apart without reading messages.
An error about one request field also carries a BadRequest field violation naming the field,
with the same reason.

Where the reason comes from:

* the lifecycle's and the runtime's errors (``qsession.lifecycle.errors``) carry it, and
  the limits they name (ErrorInfo metadata ``limit`` and ``max``);
* ``WireError`` and ``InvalidPub`` (raised by the decoders and the executor, which know
  nothing of gRPC) get theirs from the field they name and, for a circuit, from what the
  message says (``pub_reason``);
* any error that carries none gets its status code's fallback (``FALLBACK_REASONS``).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from qsession.execution.errors import InvalidPub
from qsession.execution.validation import TRANSPILE_HINT
from qsession.lifecycle import errors as lifecycle_errors
from qsession.store import CorruptResult
from qsession.v1 import errors_pb2
from qsession.wire import WireError

log = logging.getLogger("qsession.server")

DOMAIN = "qsession.v1"

REASONS = frozenset(
    name for name in errors_pb2.ErrorReason.keys() if name != "ERROR_REASON_UNSPECIFIED"
)
"""Every reason the contract documents (the ErrorReason value names)."""

FALLBACK_REASONS: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.INVALID_ARGUMENT: "FIELD_INVALID",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "LIMIT_EXCEEDED",
    grpc.StatusCode.UNAUTHENTICATED: "TOKEN_INVALID",
    grpc.StatusCode.UNAVAILABLE: "STORAGE_UNAVAILABLE",
    grpc.StatusCode.DATA_LOSS: "RESULT_CORRUPT",
}
"""The reason of an error raised without one (every raise site should name its own)."""

_LIFECYCLE_CODES: dict[type[lifecycle_errors.LifecycleError], grpc.StatusCode] = {
    lifecycle_errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    lifecycle_errors.NotFound: grpc.StatusCode.NOT_FOUND,
    lifecycle_errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    lifecycle_errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    lifecycle_errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    lifecycle_errors.OutOfRange: grpc.StatusCode.OUT_OF_RANGE,
    lifecycle_errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
}


def to_status(
    code: grpc.StatusCode,
    message: str,
    field: str | None,
    metadata: dict[str, str] | None = None,
    reason: str | None = None,
) -> grpc.Status:
    """A grpc.Status with BadRequest (when a field is named) and ErrorInfo details, both with
    ``reason`` (None: the code's fallback; see the module docstring)."""
    reason = reason or FALLBACK_REASONS.get(code, code.name)
    if reason not in REASONS:  # a raise site with a typo: still answer, but say so
        log.warning("error reason %r is not an ErrorReason of errors.proto", reason)
    details = []
    if field:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=field, description=message, reason=reason
                )
            ]
        )
        details.append(bad)
    details.append(
        error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata=metadata or {})
    )
    packed = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)
        packed.append(holder)
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=message, details=packed)
    return rpc_status.to_status(status)


def status_of(error: lifecycle_errors.LifecycleError) -> grpc.Status:
    """The status that answers ``error`` (for code that aborts a call itself, outside the
    ``unary``/``streaming`` wrappers, e.g. the auth interceptor)."""
    known = classify(error)
    assert known is not None  # every LifecycleError is known
    return to_status(*known)


_LABEL_FIELD = re.compile(r"\.observables(\[\d+\]\.terms\[\d+\]\.label)?$")


def pub_reason(field: str, message: str, is_option: bool = False) -> str:
    """The reason of a ``WireError`` or ``InvalidPub``: what its field and message tell.

    The decoders and the executor name the field at fault but not a reason (they know nothing
    of gRPC), so it is read from where the error is: a Pauli label, parameter values, an
    option, a circuit (NOT_ISA when the message carries TRANSPILE_HINT, CIRCUIT_TOO_WIDE for
    "has N qubits but", otherwise CIRCUIT_INVALID: it did not parse), else the PUB.
    """
    if is_option or field.startswith("options."):
        return "OPTION_INVALID"
    if _LABEL_FIELD.search(field):
        return "PAULI_LABEL_INVALID"
    if ".parameter_values" in field:
        return "PARAMETER_VALUES_INVALID"
    if field.endswith((".circuit", ".circuit.qpy", ".circuit.qasm3")) or field in (
        "circuit",
        "circuit.qpy",
        "circuit.qasm3",
    ):
        if TRANSPILE_HINT in message:
            return "NOT_ISA"
        if re.search(r"has \d+ qubits but", message):
            return "CIRCUIT_TOO_WIDE"
        if "no measurements" in message or "no classical registers" in message:
            return "PUB_INVALID"
        return "CIRCUIT_INVALID"
    return "PUB_INVALID"


def classify(
    exc: BaseException,
) -> tuple[grpc.StatusCode, str, str | None, dict[str, str], str] | None:
    """The (code, message, field, ErrorInfo metadata, reason) for a known error, or None for
    a bug."""
    if isinstance(exc, WireError):
        return (
            grpc.StatusCode.INVALID_ARGUMENT,
            str(exc),
            exc.field,
            {},
            pub_reason(exc.field, str(exc)),
        )
    if isinstance(exc, InvalidPub):
        is_option = type(exc).__name__ == "InvalidOption"
        reason = pub_reason(exc.field, exc.message, is_option)
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc), exc.field, {}, reason
    if isinstance(exc, CorruptResult):
        return grpc.StatusCode.DATA_LOSS, str(exc), None, {}, "RESULT_CORRUPT"
    for cls, code in _LIFECYCLE_CODES.items():
        if isinstance(exc, cls):
            return code, str(exc), exc.field, lifecycle_errors.metadata_of(exc), exc.reason
    return None


T = TypeVar("T")


def _answer(context: grpc.aio.ServicerContext, exc: BaseException) -> None:
    """End the call with the status that answers ``exc`` (re-raise a bug).

    The status is set on the call rather than raised (``abort`` raises an AbortError that
    the call's state keeps): a raised error's traceback holds every frame it passed, each
    with the request, in a reference cycle that only the garbage collector frees. Refused
    22 MB requests stayed in memory that way, ~150 MB of them at a time.
    """
    known = classify(exc)
    if known is None:
        log.exception("unexpected error in %s", type(exc).__name__)
        raise exc
    status = to_status(*known)
    context.set_trailing_metadata(status.trailing_metadata)
    context.set_code(status.code)
    context.set_details(status.details)


def unary(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T | None]]:
    """Wrap a unary servicer method: known errors become their gRPC status."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> T | None:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified or re-raised
            _answer(context, exc)
            return None  # gRPC sends the status set, and no message

    return wrapper


def streaming(method: Callable[..., AsyncIterator[T]]) -> Callable[..., AsyncIterator[T]]:
    """Wrap a server-streaming servicer method: known errors end the stream with their status."""

    @functools.wraps(method)
    async def wrapper(
        self: Any, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[T]:
        try:
            async for item in method(self, request, context):
                yield item
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified or re-raised
            _answer(context, exc)

    return wrapper
