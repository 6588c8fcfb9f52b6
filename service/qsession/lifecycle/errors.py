"""Errors the lifecycle raises; the server maps each class to one gRPC status code.

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
=====================  ===================
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
