"""One gRPC channel per service, its stubs, and calls that raise the SDK's exceptions.

gRPC channels and stubs are thread-safe, so one ``Connection`` serves every thread.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc

from qsession.client.errors import IBMApiError, ResourceNotFoundError, from_rpc_error
from qsession.v1 import backend_pb2_grpc, instance_pb2_grpc, job_pb2_grpc, session_pb2_grpc

UNARY_TIMEOUT = 120.0
"""Seconds a unary call may take before it fails with DEADLINE_EXCEEDED."""

DOWNLOAD_TIMEOUT = 600.0
"""Seconds a finite stream (a job result's chunks) may take in all."""

_TLS_SCHEMES = ("https://", "grpcs://")
_PLAIN_SCHEMES = ("http://", "grpc://")
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
]

R = TypeVar("R")


def parse_url(url: str) -> tuple[str, bool]:
    """``(host:port, use_tls)`` for ``host:port``, ``https://host:port`` or ``grpcs://host:port``."""
    for scheme in _TLS_SCHEMES:
        if url.startswith(scheme):
            return url[len(scheme) :].rstrip("/"), True
    for scheme in _PLAIN_SCHEMES:
        if url.startswith(scheme):
            return url[len(scheme) :].rstrip("/"), False
    return url.rstrip("/"), False


class Connection:
    """A channel to one qsession server, authenticated as one instance.

    Args:
        url: The server address (see :func:`parse_url`).
        token: The instance's bearer token, sent as ``authorization: Bearer <token>``.
        tls: Force TLS on (``True``) or off (``False``); ``None`` follows the URL's scheme, or
            is on when ``ca_cert`` is given.
        ca_cert: A PEM file of root certificates to trust (e.g. a self-signed server's
            certificate); default ``$QSESSION_CA_CERT``, else the system's roots.
    """

    def __init__(
        self,
        url: str,
        token: str,
        tls: bool | None = None,
        ca_cert: str | os.PathLike | None = None,
    ):
        self.url = url
        target, scheme_tls = parse_url(url)
        ca_cert = ca_cert or os.environ.get("QSESSION_CA_CERT") or None
        use_tls = tls if tls is not None else (scheme_tls or ca_cert is not None)
        if use_tls:
            roots = Path(ca_cert).read_bytes() if ca_cert else None
            credentials = grpc.ssl_channel_credentials(root_certificates=roots)
            self._channel = grpc.secure_channel(target, credentials, options=_CHANNEL_OPTIONS)
        else:
            self._channel = grpc.insecure_channel(target, options=_CHANNEL_OPTIONS)
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.backends = backend_pb2_grpc.BackendServiceStub(self._channel)
        self.sessions = session_pb2_grpc.SessionServiceStub(self._channel)
        self.jobs = job_pb2_grpc.JobServiceStub(self._channel)
        self.instances = instance_pb2_grpc.InstanceServiceStub(self._channel)

    def call(
        self,
        method: Callable[..., R],
        request: Any,
        *,
        not_found: type[ResourceNotFoundError] = ResourceNotFoundError,
        timeout: float | None = UNARY_TIMEOUT,
    ) -> R:
        """Make a unary call.

        Raises:
            QSessionError: the subclass for the server's status (see ``errors``); an
                unreachable server raises :class:`IBMApiError` naming the URL.
        """
        try:
            return method(request, metadata=self.metadata, timeout=timeout)
        except grpc.RpcError as exc:
            raise self.error(exc, not_found) from None

    def stream(
        self, method: Callable[..., Any], request: Any, *, timeout: float | None = None
    ) -> Any:
        """Start a server-streaming call; iterate it, handing ``grpc.RpcError`` to :meth:`error`."""
        return method(request, metadata=self.metadata, timeout=timeout)

    def iterate(
        self,
        method: Callable[..., Any],
        request: Any,
        *,
        not_found: type[ResourceNotFoundError] = ResourceNotFoundError,
        timeout: float | None = DOWNLOAD_TIMEOUT,
    ) -> Iterator[Any]:
        """The messages of a finite server stream, with errors mapped as in :meth:`call`."""
        try:
            yield from self.stream(method, request, timeout=timeout)
        except grpc.RpcError as exc:
            raise self.error(exc, not_found) from None

    def error(
        self, exc: grpc.RpcError, not_found: type[ResourceNotFoundError] = ResourceNotFoundError
    ) -> Exception:
        """The SDK exception for a failed call."""
        if exc.code() == grpc.StatusCode.UNAVAILABLE:
            return IBMApiError(
                f"cannot reach the qsession server at {self.url}: {exc.details()} "
                "(is it running? `make serve` starts a local one)",
                code=exc.code(),
            )
        return from_rpc_error(exc, not_found)

    def close(self) -> None:
        """Close the channel; calls in flight are cancelled."""
        self._channel.close()
