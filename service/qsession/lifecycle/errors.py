"""Errors the lifecycle raises; the server maps each class to one gRPC status code.

Every error carries ``field`` (the request field at fault, or ``None``) and a message that
names the field and says how to fix the request.

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
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class InvalidArgument(LifecycleError):
    """A field has a value that can never be valid (bad format, out of the plan's range)."""


class NotFound(LifecycleError):
    """The named backend, session or job does not exist (or belongs to another instance)."""


class FailedPrecondition(LifecycleError):
    """The request is valid but not in the current state (closed session, finished job)."""


class PermissionDenied(LifecycleError):
    """The instance's plan does not allow the request (dedicated mode on the Open Plan)."""


class ResourceExhausted(LifecycleError):
    """A limit was reached (a watcher fell too far behind, too many queued jobs)."""


class OutOfRange(LifecycleError):
    """A watch revision is no longer retained (or not yet written)."""
