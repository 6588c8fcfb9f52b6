"""Requests whose bytes do not parse as their message get INTERNAL, as gRPC's status-code table
says ("error parsing request proto"); grpc.aio on its own would answer UNKNOWN.

A method may also have a byte bound below ``max_request_bytes`` (``ByteBound``): a request
over it is refused with RESOURCE_EXHAUSTED naming the ``[limits]`` key it follows from,
before its bytes are parsed, so that a huge list of ids costs the server one buffer and not
a million objects.

The same wrapping lets a handler yield a response it already serialized (bytes), which is
sent as it is: a watch event is serialized once for all its watchers, not once per watcher.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from qsession.lifecycle.errors import LimitExceeded
from qsession.server.errors import status_of


@dataclass(frozen=True)
class ByteBound:
    """The most bytes a method's request may have, and the ``[limits]`` key (and its value)
    the bound follows from, named in the refusal."""

    max_bytes: int
    field: str
    limit: str
    maximum: int
    what: str


@dataclass(frozen=True)
class _Unparsable:
    """Stands in for a request whose bytes did not parse."""

    reason: str


@dataclass(frozen=True)
class _TooLarge:
    """Stands in for a request over its method's byte bound (not parsed)."""

    size: int
    bound: ByteBound


class ParseErrorInterceptor(grpc.aio.ServerInterceptor):
    """Answers INTERNAL, naming the message type, to a request that does not parse (unary
    requests: every qsession RPC, health's Check and Watch), and RESOURCE_EXHAUSTED to one over
    its method's byte bound (``bounds``: full method name -> ``ByteBound``)."""

    def __init__(self, bounds: dict[str, ByteBound] | None = None) -> None:
        self.bounds = bounds or {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], object],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        if handler is None or handler.request_deserializer is None or handler.request_streaming:
            return handler
        return _guarded(handler, details.method, self.bounds.get(details.method))


def _guarded(
    handler: grpc.RpcMethodHandler, method: str, bound: ByteBound | None
) -> grpc.RpcMethodHandler:
    parse = handler.request_deserializer
    serialize = _bytes_as_they_are(handler.response_serializer)

    def deserialize(data: bytes) -> object:
        if bound is not None and len(data) > bound.max_bytes:
            return _TooLarge(len(data), bound)
        try:
            return parse(data)
        except Exception as exc:  # noqa: BLE001 - any parser error means the same answer
            return _Unparsable(str(exc) or type(exc).__name__)

    async def refuse(request: _Unparsable | _TooLarge, context: grpc.aio.ServicerContext) -> None:
        if isinstance(request, _TooLarge):
            over = request.bound
            await context.abort_with_status(
                status_of(
                    LimitExceeded(
                        f"{over.field}: the request is {request.size} bytes, over the "
                        f"{over.max_bytes} bytes that {over.limit} = {over.maximum} {over.what} "
                        "allow; send fewer",
                        over.field,
                        over.limit,
                        over.maximum,
                    )
                )
            )
        await context.abort(
            grpc.StatusCode.INTERNAL, f"the request to {method} does not parse: {request.reason}"
        )

    if handler.unary_unary:
        inner = handler.unary_unary

        async def unary_unary(request, context):
            if isinstance(request, _Unparsable | _TooLarge):
                await refuse(request, context)
            return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(unary_unary, deserialize, serialize)

    inner_stream = handler.unary_stream
    if inspect.isasyncgenfunction(inner_stream):

        async def unary_stream(request, context):
            if isinstance(request, _Unparsable | _TooLarge):
                await refuse(request, context)
            async for item in inner_stream(request, context):
                yield item

    else:  # a handler that writes with context.write (e.g. health's Watch)

        async def unary_stream(request, context):
            if isinstance(request, _Unparsable | _TooLarge):
                await refuse(request, context)
            await inner_stream(request, context)

    return grpc.unary_stream_rpc_method_handler(unary_stream, deserialize, serialize)


def _bytes_as_they_are(serialize):
    """The handler's response serializer, except that a response already serialized (bytes)
    is sent as it is: a watch event goes to every watcher serialized once."""
    if serialize is None:
        return None

    def serialize_unless_bytes(response: object) -> bytes:
        return response if isinstance(response, bytes) else serialize(response)

    return serialize_unless_bytes
