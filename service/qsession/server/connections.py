"""What the HTTP front ends (the Workloads page, the IBM REST API) share: the process's
connection budget, how they are served, and how the runtime's errors become HTTP statuses.

gRPC caps its own connections (``grpc.max_allowed_incoming_connections``, see ``app``); an
HTTP server on the same process has no such cap, so idle connections could take every file
descriptor, and then a worker that must restart, the store, or a sandbox fails with "Too many
open files". ``HttpConnections`` is the budget HTTP front ends share, and the server sizes
gRPC's cap so that both, plus the descriptors kept for the server itself, fit the limit:

- at most ``limit`` HTTP connections are open at once;
- a connection that has not sent a complete request within FIRST_REQUEST_TIMEOUT seconds of
  opening is closed (a connection that never speaks, or speaks a byte at a time);
- when the budget is full, a new connection takes the place of the oldest one that has not
  sent a request yet; with none, the new one is closed at once. A connection serving a
  request (an event stream, say) is never closed to make room;
- what was refused or closed is logged at most once per LOG_INTERVAL, with counts.

Idle keep-alive connections are closed by the HTTP server itself (``KEEPALIVE_TIMEOUT``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from aiohttp import web

from qsession.lifecycle.errors import (
    FailedPrecondition,
    InvalidArgument,
    LifecycleError,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unavailable,
)

log = logging.getLogger("qsession.server")

FIRST_REQUEST_TIMEOUT = 10.0  # seconds a new connection has to send its first request
KEEPALIVE_TIMEOUT = 15.0  # seconds an idle keep-alive connection stays open
LOG_INTERVAL = 10.0  # seconds between log lines about refused connections
HTTP_STATUS = {
    InvalidArgument: 400,
    NotFound: 404,
    FailedPrecondition: 409,
    PermissionDenied: 403,
    ResourceExhausted: 429,
    Unavailable: 503,
}
STORAGE_REASONS = frozenset({"STORAGE_FULL", "STORAGE_UNAVAILABLE"})


def http_status(error: LifecycleError) -> int:
    """The HTTP front ends' one mapping of the runtime's errors to a status: a store that
    refuses writes is 503, whatever the class."""
    if error.reason in STORAGE_REASONS:
        return 503
    return next((code for cls, code in HTTP_STATUS.items() if isinstance(error, cls)), 400)


class HttpConnections:
    """The open HTTP connections of the process's HTTP front ends (see the module docstring).

    Args:
        limit: the most open at once.
        clock: monotonic seconds.
    """

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self._clock = clock
        self._open: set[_Counted] = set()
        self._silent: OrderedDict[_Counted, None] = OrderedDict()  # no request yet, oldest first
        self._dropped = {"made room for a newer one": 0, "refused (all serving)": 0, "timed out": 0}
        self._logged_at = -LOG_INTERVAL

    def protocol_factory(self, factory: Callable[[], asyncio.Protocol]):
        """``factory`` (an HTTP server's protocol factory) with its connections counted."""
        return lambda: _Counted(factory(), self)

    @property
    def open(self) -> int:
        return len(self._open)

    def spoke(self, transport: asyncio.BaseTransport | None) -> None:
        """A complete request arrived on ``transport`` (called by the front end's handler)."""
        protocol = _Counted.of(transport)
        if protocol is not None:
            protocol.spoke()

    def _admit(self, protocol: _Counted) -> bool:
        if len(self._open) >= self.limit:
            if not self._silent:
                self._count("refused (all serving)")
                return False
            oldest, _ = self._silent.popitem(last=False)
            self._count("made room for a newer one")
            oldest.close()
        self._open.add(protocol)
        self._silent[protocol] = None
        return True

    def _spoke(self, protocol: _Counted) -> None:
        self._silent.pop(protocol, None)

    def _closed(self, protocol: _Counted) -> None:
        self._open.discard(protocol)
        self._silent.pop(protocol, None)

    def _timed_out(self, protocol: _Counted) -> None:
        self._count("timed out")
        protocol.close()

    def _count(self, what: str) -> None:
        self._dropped[what] += 1
        now = self._clock()
        if now - self._logged_at >= LOG_INTERVAL:
            self._logged_at = now
            counts = ", ".join(f"{n} {what}" for what, n in self._dropped.items() if n)
            log.warning(
                "HTTP connections: %d open of %d; since the last report, closed: %s",
                len(self._open),
                self.limit,
                counts,
            )
            self._dropped = dict.fromkeys(self._dropped, 0)


class _Counted(asyncio.Protocol):
    """An HTTP server's protocol for one connection, counted in an ``HttpConnections``."""

    _by_transport: dict[asyncio.BaseTransport, _Counted] = {}

    def __init__(self, inner: asyncio.Protocol, budget: HttpConnections):
        self._inner = inner
        self._budget = budget
        self._transport: asyncio.BaseTransport | None = None
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def of(cls, transport: asyncio.BaseTransport | None) -> _Counted | None:
        return None if transport is None else cls._by_transport.get(transport)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        if not self._budget._admit(self):
            transport.abort()
            return
        _Counted._by_transport[transport] = self
        self._timer = asyncio.get_running_loop().call_later(
            FIRST_REQUEST_TIMEOUT, self._budget._timed_out, self
        )
        self._inner.connection_made(transport)

    def spoke(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._budget._spoke(self)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._transport is not None and _Counted._by_transport.pop(self._transport, None):
            self._budget._closed(self)
            self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)  # type: ignore[attr-defined]

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()  # type: ignore[attr-defined]

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class HttpSite:
    """An aiohttp application served on the loop with its connections counted in an
    ``HttpConnections`` budget (aiohttp's own sites have no cap on connections)."""

    def __init__(self, runner: web.AppRunner, server: asyncio.Server) -> None:
        self.runner = runner
        self.server = server
        self.port: int = server.sockets[0].getsockname()[1]

    @classmethod
    async def start(
        cls, app: web.Application, listen: str, connections: HttpConnections, **options
    ) -> HttpSite:
        """Serve ``app`` on ``listen`` (``host:port``; port 0: any free one). ``options``
        go to aiohttp's ``AppRunner``; idle keep-alive connections close after
        KEEPALIVE_TIMEOUT."""
        host, _, port = listen.rpartition(":")
        runner = web.AppRunner(app, access_log=None, keepalive_timeout=KEEPALIVE_TIMEOUT, **options)
        await runner.setup()
        assert runner.server is not None
        server = await asyncio.get_running_loop().create_server(
            connections.protocol_factory(runner.server),
            host.strip("[]") or None,
            int(port),
            reuse_address=True,
            backlog=1024,
        )
        return cls(runner, server)

    async def stop(self) -> None:
        """No new connections; the open ones end with the runner."""
        self.server.close()
        await self.runner.cleanup()
