"""Errors the lifecycle and the runtime raise: transport-free; each front end maps each class
to its protocol (``server.errors``: one gRPC status code per class).

Every error carries ``field`` (the request field at fault, or ``None``), a message that
names the field and says how to fix the request, and ``reason``: one of the ``ErrorReason``
value names of proto/qsession/v1/errors.proto (e.g. ``"SESSION_NOT_FOUND"``), sent to
clients as the ErrorInfo reason. A raise site names its reason; each class has a fallback
for one that does not.

=====================  ===================
class                  gRPC code
=====================  ===================
``InvalidArgument``    INVALID_ARGUMENT
``NotFound``           NOT_FOUND
``FailedPrecondition`` FAILED_PRECONDITION
``PermissionDenied``   PERMISSION_DENIED
``ResourceExhausted``  RESOURCE_EXHAUSTED
``OutOfRange``         OUT_OF_RANGE
``Unavailable``        UNAVAILABLE
``LimitExceeded``      RESOURCE_EXHAUSTED
``ValueOverLimit``     INVALID_ARGUMENT
=====================  ===================

``LimitExceeded`` (more work than a [limits] entry allows) and ``ValueOverLimit`` (a value no
job may have under [limits]) carry ``metadata`` naming the limit and its value (``limit``,
``max``), sent as ErrorInfo metadata.
"""

from __future__ import annotations


class LifecycleError(Exception):
    """A request the lifecycle refuses.

    Args:
        message: what is wrong and how to fix it.
        field: the request field at fault, if one is.
        reason: the ErrorReason value name (None: the class's ``default_reason``).
    """

    default_reason = "FIELD_INVALID"

    def __init__(self, message: str, field: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.reason = reason or self.default_reason


class InvalidArgument(LifecycleError):
    """A field has a value that can never be valid (bad format, out of the plan's range)."""


class NotFound(LifecycleError):
    """The named backend, session or job does not exist (or belongs to another instance)."""

    default_reason = "JOB_NOT_FOUND"


class FailedPrecondition(LifecycleError):
    """The request is valid but not in the current state (closed session, finished job)."""

    default_reason = "JOB_ALREADY_FINAL"


class PermissionDenied(LifecycleError):
    """The instance's plan does not allow the request (dedicated mode on the Open Plan)."""

    default_reason = "OPEN_PLAN_SESSION"


class ResourceExhausted(LifecycleError):
    """A limit was reached (a watcher fell too far behind, too many queued jobs)."""

    default_reason = "LIMIT_EXCEEDED"


class OutOfRange(LifecycleError):
    """A watch revision is no longer retained (or not yet written)."""

    default_reason = "REVISION_OUT_OF_RANGE"


class Unavailable(LifecycleError):
    """The server cannot serve the request now (its store refuses writes, a sandbox could
    not start, it is shutting down); the same request may succeed later."""

    default_reason = "STORAGE_UNAVAILABLE"


class _OverLimit(LifecycleError):
    """A request over the configured limit ``limit`` of ``maximum``."""

    def __init__(
        self,
        message: str,
        field: str | None,
        limit: str,
        maximum: int,
        reason: str = "LIMIT_EXCEEDED",
    ) -> None:
        super().__init__(message, field, reason)
        self.limit = limit
        self.maximum = maximum

    @property
    def metadata(self) -> dict[str, str]:
        return {"limit": self.limit, "max": str(self.maximum)}


class LimitExceeded(_OverLimit, ResourceExhausted):
    """More work than a [limits] entry allows (PUBs or samples per job, queued jobs, calls
    in flight); the reason is LIMIT_EXCEEDED."""


class ValueOverLimit(_OverLimit, InvalidArgument):
    """A value no job may have under [limits] (shots per PUB, classical bits); a circuit
    wider than its backend has the reason CIRCUIT_TOO_WIDE."""


def metadata_of(error: LifecycleError) -> dict[str, str]:
    """The error's ErrorInfo metadata (the limit an over-limit error names; else none)."""
    return error.metadata if isinstance(error, _OverLimit) else {}
