"""Bearer-token authentication: every qsession.v1 RPC runs as the instance its token maps to.

Only SHA-256 hashes of tokens are kept in memory or logged. Health and reflection need no token.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import grpc

from qsession.lifecycle.model import Plan
from qsession.server.errors import to_status

QSESSION_PREFIX = "/qsession.v1."

log = logging.getLogger("qsession.server")


@dataclass(frozen=True)
class Instance:
    """An authenticated tenant."""

    name: str
    plan: Plan


_current: contextvars.ContextVar[Instance] = contextvars.ContextVar("qsession_instance")


def current_instance() -> Instance:
    """The instance of the RPC being served (set by AuthInterceptor)."""
    return _current.get()


def token_hash(token: str) -> str:
    """The hex SHA-256 of a token: the only form in which tokens are kept or logged."""
    return hashlib.sha256(token.encode()).hexdigest()


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Rejects qsession.v1 calls without a valid ``authorization: Bearer <token>`` header."""

    def __init__(self, instances: Mapping[str, Instance]):
        """``instances``: hex SHA-256 of each accepted token -> the instance it authenticates."""
        self._instances = dict(instances)

    def _authenticate(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> Instance | None:
        for key, value in metadata or ():
            if key == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
                digest = token_hash(value[len("Bearer ") :].strip())
                instance = self._instances.get(digest)
                if instance is None:
                    log.debug("rejected an unknown token (sha256 %s)", digest)
                return instance
        return None

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], object],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        if handler is None or not details.method.startswith(QSESSION_PREFIX):
            return handler
        instance = self._authenticate(details.invocation_metadata)
        if instance is None:
            return _reject(handler)
        return _bind(handler, instance)


def _bind(handler: grpc.RpcMethodHandler, instance: Instance) -> grpc.RpcMethodHandler:
    """The same handler, with ``current_instance()`` set while it runs."""
    if handler.unary_unary:
        inner = handler.unary_unary

        async def unary_unary(request, context):
            _current.set(instance)
            return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            unary_unary, handler.request_deserializer, handler.response_serializer
        )
    inner_stream = handler.unary_stream

    async def unary_stream(request, context):
        _current.set(instance)
        async for item in inner_stream(request, context):
            yield item

    return grpc.unary_stream_rpc_method_handler(
        unary_stream, handler.request_deserializer, handler.response_serializer
    )


def _reject(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    status = to_status(
        grpc.StatusCode.UNAUTHENTICATED,
        "missing or invalid token: send metadata 'authorization: Bearer <token>' with a token "
        "from the server's [[instances]] configuration",
        None,
    )

    async def abort(request, context):
        await context.abort_with_status(status)

    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            abort, handler.request_deserializer, handler.response_serializer
        )

    async def abort_stream(request, context):
        await context.abort_with_status(status)
        yield  # pragma: no cover - makes this an async generator

    return grpc.unary_stream_rpc_method_handler(
        abort_stream, handler.request_deserializer, handler.response_serializer
    )
