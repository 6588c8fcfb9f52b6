"""Domain errors -> canonical gRPC status with google.rpc.Status details.

Every error names the offending field in a BadRequest field violation and carries an ErrorInfo
reason, so that clients in any language (and the SDK's exceptions) can tell errors apart.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from qsession.execution.errors import InvalidPub
from qsession.lifecycle import errors as lifecycle_errors
from qsession.store import CorruptResult
from qsession.wire import WireError

log = logging.getLogger("qsession.server")

DOMAIN = "qsession.v1"

_LIFECYCLE_CODES: dict[type[lifecycle_errors.LifecycleError], grpc.StatusCode] = {
    lifecycle_errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    lifecycle_errors.NotFound: grpc.StatusCode.NOT_FOUND,
    lifecycle_errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    lifecycle_errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    lifecycle_errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    lifecycle_errors.OutOfRange: grpc.StatusCode.OUT_OF_RANGE,
}


class RpcError(Exception):
    """An error the server raises itself, with the gRPC code to answer.

    Attributes:
        code: the status code.
        field: the request field at fault (a BadRequest field violation), if one is.
        metadata: ErrorInfo metadata, e.g. which limit was exceeded.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        field: str | None = None,
        metadata: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.field = field
        self.metadata = metadata or {}


class LimitExceeded(RpcError):
    """A request over one of the configured ``[limits]``; ErrorInfo metadata carries the
    limit's name (``limit``) and value (``max``)."""

    def __init__(
        self, code: grpc.StatusCode, message: str, field: str | None, limit: str, maximum: int
    ):
        super().__init__(code, message, field, {"limit": limit, "max": str(maximum)})
        self.limit = limit
        self.maximum = maximum


def to_status(
    code: grpc.StatusCode, message: str, field: str | None, metadata: dict[str, str] | None = None
) -> grpc.Status:
    """A grpc.Status with BadRequest (when a field is named) and ErrorInfo details (reason: the
    code's name; ``metadata`` as given)."""
    details = []
    if field:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=field, description=message)
            ]
        )
        details.append(bad)
    details.append(
        error_details_pb2.ErrorInfo(reason=code.name, domain=DOMAIN, metadata=metadata or {})
    )
    packed = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)
        packed.append(holder)
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=message, details=packed)
    return rpc_status.to_status(status)


def status_of(error: RpcError) -> grpc.Status:
    """The status that answers ``error`` (for code that aborts a call itself, outside the
    ``unary``/``streaming`` wrappers, e.g. the auth interceptor)."""
    return to_status(error.code, str(error), error.field, error.metadata)


def classify(exc: BaseException) -> tuple[grpc.StatusCode, str, str | None, dict[str, str]] | None:
    """The (code, message, field, ErrorInfo metadata) for a known error, or None for a bug."""
    if isinstance(exc, RpcError):
        return exc.code, str(exc), exc.field, exc.metadata
    if isinstance(exc, WireError | InvalidPub):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc), exc.field, {}
    if isinstance(exc, CorruptResult):
        return grpc.StatusCode.DATA_LOSS, str(exc), None, {}
    for cls, code in _LIFECYCLE_CODES.items():
        if isinstance(exc, cls):
            return code, str(exc), getattr(exc, "field", None), {}
    return None


T = TypeVar("T")


async def _abort(context: grpc.aio.ServicerContext, exc: BaseException) -> None:
    known = classify(exc)
    if known is None:
        log.exception("unexpected error in %s", type(exc).__name__)
        raise exc
    await context.abort_with_status(to_status(*known))


def unary(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Wrap a unary servicer method: known errors become their gRPC status."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> T:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified or re-raised
            await _abort(context, exc)
            raise

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
            await _abort(context, exc)

    return wrapper
