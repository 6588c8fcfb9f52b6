"""The SDK's exceptions, named as in qiskit-ibm-runtime, and the gRPC status -> exception map.

Every server error arrives as a canonical gRPC code with ``google.rpc.Status`` details (a
``BadRequest`` naming the offending field, an ``ErrorInfo`` whose reason is one of the
``ErrorReason`` values of proto/qsession/v1/errors.proto, e.g. ``NOT_ISA``).
:func:`from_rpc_error` turns it into one of the classes below, chosen by the reason (the
status code only when the reason is one this SDK does not know, e.g. from a newer server),
keeping the code, reason and fields as attributes::

    QSessionError (QiskitError) = IBMError every SDK error
    ├── IBMAccountError                    no usable account, or a saved account clash
    │   └── AccountAlreadyExistsError
    ├── IBMBackendError                    (IBM's backend errors, for ``except`` clauses)
    │   ├── IBMBackendApiError
    │   ├── IBMBackendApiProtocolError
    │   └── IBMBackendValueError (ValueError)
    ├── IBMNotAuthorizedError              UNAUTHENTICATED, PERMISSION_DENIED
    ├── IBMInputValueError (ValueError)    INVALID_ARGUMENT, OUT_OF_RANGE, bad SDK arguments
    ├── IBMApiError                        UNAVAILABLE, INTERNAL, DEADLINE_EXCEEDED, ...
    ├── IBMRuntimeError                    errors of sessions and jobs
    │   ├── RuntimeProgramNotFound         (IBM's; qsession's programs always exist)
    │   ├── RuntimeJobMaxTimeoutError      (IBM's; see the class)
    │   ├── RuntimeInvalidStateError       FAILED_PRECONDITION (e.g. cancelling a finished job)
    │   │   └── SessionClosedError         submitting to a session that accepts no jobs
    │   ├── ResourceNotFoundError          NOT_FOUND
    │   │   ├── RuntimeJobNotFound
    │   │   ├── SessionNotFoundError
    │   │   └── BackendNotFoundError (also QiskitBackendNotFoundError)
    │   └── QuotaExceededError             RESOURCE_EXHAUSTED
    ├── RuntimeJobFailureError (JobError)  result() of a job that ended in ERROR
    └── RuntimeJobTimeoutError (JobTimeoutError)  result(timeout=...) expired
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from qiskit.exceptions import QiskitError
from qiskit.providers.exceptions import JobError, JobTimeoutError, QiskitBackendNotFoundError


@dataclass(frozen=True)
class FieldViolation:
    """One offending request field the server named: its path, what is wrong with it, and the
    reason (an ``ErrorReason`` value name; empty from servers before reasons)."""

    field: str
    description: str
    reason: str = ""


class QSessionError(QiskitError):
    """Base class of every qsession SDK error.

    Attributes:
        code: The gRPC status code, or ``None`` for errors raised by the SDK itself.
        reason: The server's ``ErrorInfo`` reason, an ``ErrorReason`` value name such as
            ``"NOT_ISA"`` or ``"SESSION_NOT_ACCEPTING_JOBS"``, or ``None``.
        field_violations: The request fields the server rejected, possibly empty.
    """

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        reason: str | None = None,
        field_violations: tuple[FieldViolation, ...] = (),
    ):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.field_violations = field_violations

    @property
    def field(self) -> str | None:
        """The first offending field's path, e.g. ``"sampler_pubs[0].shots"``, or ``None``."""
        return self.field_violations[0].field if self.field_violations else None


IBMError = QSessionError
"""qiskit-ibm-runtime's name for the base class of its errors."""


class IBMAccountError(QSessionError):
    """No usable account (URL and token), or a problem with the saved accounts file."""


class IBMBackendError(QSessionError):
    """qiskit-ibm-runtime's base class of backend errors; qsession raises its subclasses
    only, and those where IBM's client does, so that ``except`` clauses written for IBM's
    client keep working."""


class IBMBackendApiError(IBMBackendError):
    """qiskit-ibm-runtime's error of its backend REST calls (kept for ``except`` clauses)."""


class IBMBackendApiProtocolError(IBMBackendError):
    """qiskit-ibm-runtime's error of an unexpected backend REST answer (kept for ``except``
    clauses)."""


class IBMBackendValueError(IBMBackendError, ValueError):
    """A bad value given to a backend, e.g. an unknown ``backend.run()`` option."""


class AccountAlreadyExistsError(IBMAccountError):
    """``save_account`` would replace a saved account and ``overwrite`` is not set."""


class IBMNotAuthorizedError(QSessionError):
    """The token is missing or unknown, or the instance's plan does not allow the request."""


class IBMInputValueError(QSessionError, ValueError):
    """An invalid input value: a malformed PUB, option, duration or argument."""


class IBMApiError(QSessionError):
    """The server could not be reached or failed unexpectedly."""


class IBMRuntimeError(QSessionError):
    """An error of a session or job operation."""


class RuntimeProgramNotFound(IBMRuntimeError):
    """qiskit-ibm-runtime's error for an unknown program id; qsession's programs are the
    Sampler and the Estimator, which always exist (kept for ``except`` clauses)."""


class RuntimeJobMaxTimeoutError(IBMRuntimeError):
    """qiskit-ibm-runtime's error for a job stopped at its ``max_execution_time`` (kept for
    ``except`` clauses): qsession's ``result()`` of such a job raises
    :class:`RuntimeJobFailureError`, whose message names the limit."""


class RuntimeInvalidStateError(IBMRuntimeError):
    """The operation does not fit the current state, e.g. cancelling a finished job."""


class SessionClosedError(RuntimeInvalidStateError):
    """A job was submitted to a session or batch that no longer accepts jobs."""


class ResourceNotFoundError(IBMRuntimeError):
    """A job, session or backend that does not exist (or belongs to another instance)."""


class RuntimeJobNotFound(ResourceNotFoundError):
    """A job id that names no job of this instance."""


class SessionNotFoundError(ResourceNotFoundError):
    """A session id that names no session of this instance."""


class BackendNotFoundError(ResourceNotFoundError, QiskitBackendNotFoundError):
    """A backend name that the server does not emulate."""


class QuotaExceededError(IBMRuntimeError):
    """A request over the server's limits (PUBs per job, queued jobs, ...)."""


class RuntimeJobFailureError(JobError, QSessionError):
    """A job ended in ERROR; the message carries the server's reason."""


class RuntimeJobTimeoutError(JobTimeoutError, QSessionError):
    """Waiting for a job's final state took longer than the given timeout."""


_BY_CODE: dict[grpc.StatusCode, type[QSessionError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: IBMInputValueError,
    grpc.StatusCode.OUT_OF_RANGE: IBMInputValueError,
    grpc.StatusCode.NOT_FOUND: ResourceNotFoundError,
    grpc.StatusCode.FAILED_PRECONDITION: RuntimeInvalidStateError,
    grpc.StatusCode.PERMISSION_DENIED: IBMNotAuthorizedError,
    grpc.StatusCode.UNAUTHENTICATED: IBMNotAuthorizedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: QuotaExceededError,
}


_BY_REASON: dict[str, type[QSessionError]] = {
    "TOKEN_MISSING": IBMNotAuthorizedError,
    "TOKEN_INVALID": IBMNotAuthorizedError,
    "AUTH_THROTTLED": IBMNotAuthorizedError,
    "OPEN_PLAN_SESSION": IBMNotAuthorizedError,
    "WATCHER_TOO_SLOW": QuotaExceededError,
    "STORAGE_FULL": QuotaExceededError,
    "FIELD_REQUIRED": IBMInputValueError,
    "FIELD_INVALID": IBMInputValueError,
    "PAGE_TOKEN_INVALID": IBMInputValueError,
    "UPDATE_MASK_INVALID": IBMInputValueError,
    "MAX_TTL_INVALID": IBMInputValueError,
    "BACKEND_MISMATCH": IBMInputValueError,
    "CIRCUIT_INVALID": IBMInputValueError,
    "CIRCUIT_TOO_WIDE": IBMInputValueError,
    "NOT_ISA": IBMInputValueError,
    "PAULI_LABEL_INVALID": IBMInputValueError,
    "PARAMETER_VALUES_INVALID": IBMInputValueError,
    "PUB_INVALID": IBMInputValueError,
    "OPTION_INVALID": IBMInputValueError,
    "LAYOUT_INVALID": IBMInputValueError,
    "TRANSPILE_FAILED": IBMInputValueError,
    "REVISION_OUT_OF_RANGE": IBMInputValueError,
    "BACKEND_NOT_FOUND": BackendNotFoundError,
    "SESSION_NOT_FOUND": SessionNotFoundError,
    "JOB_NOT_FOUND": RuntimeJobNotFound,
    "INSTANCE_NOT_FOUND": ResourceNotFoundError,
    "SESSION_NOT_ACCEPTING_JOBS": SessionClosedError,
    "JOB_NOT_DONE": RuntimeInvalidStateError,
    "JOB_ALREADY_FINAL": RuntimeInvalidStateError,
    "CIRCUIT_NOT_CACHED": RuntimeInvalidStateError,
    "RESULT_MISSING": RuntimeInvalidStateError,
    "STORAGE_UNAVAILABLE": IBMApiError,
    "SHUTTING_DOWN": IBMApiError,
    "SANDBOX_UNAVAILABLE": IBMApiError,
    "RESULT_CORRUPT": IBMApiError,
}
"""The exception class of each ErrorReason (see proto/qsession/v1/errors.proto).
LIMIT_EXCEEDED is absent on purpose: it goes by its code, a request that can never fit
(INVALID_ARGUMENT, e.g. shots over max_shots_per_pub) is an input error, one over a quota
(RESOURCE_EXHAUSTED, e.g. PUBs per job) a QuotaExceededError."""


def from_rpc_error(
    error: grpc.RpcError, not_found: type[ResourceNotFoundError] = ResourceNotFoundError
) -> QSessionError:
    """The SDK exception for a failed call (``error`` must also be a ``grpc.Call``).

    Args:
        error: The exception grpc raised for a unary call or a stream.
        not_found: The class to use for a NOT_FOUND whose reason this SDK does not know,
            e.g. :class:`RuntimeJobNotFound`.

    Returns:
        An exception whose message is the server's, with ``code``, ``reason`` and
        ``field_violations`` from the status details.
    """
    code = error.code()
    message = error.details() or code.name
    reason = None
    violations: list[FieldViolation] = []
    status = rpc_status.from_call(error)
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations.extend(
                FieldViolation(v.field, v.description, v.reason) for v in bad.field_violations
            )
    cls = _BY_REASON.get(reason or "")
    if cls is None:  # LIMIT_EXCEEDED, or a reason this SDK does not know: go by the code
        cls = not_found if code == grpc.StatusCode.NOT_FOUND else _BY_CODE.get(code, IBMApiError)
    return cls(message, code=code, reason=reason, field_violations=tuple(violations))
