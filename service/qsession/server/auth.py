"""Bearer-token authentication: every qsession.v1 RPC runs as the instance its token maps to.

Only SHA-256 hashes of tokens are kept in memory or logged. Health and reflection need no token.

Every qsession.v1 call passes through ``AuthInterceptor``, which, in order:

1. refuses at once, without looking its token up, a call from a peer address that failed to
   authenticate ``auth_failures_per_minute`` times within the current minute (see
   ``AuthFailures``), until that minute has passed: a valid token is refused too, or the limit
   would not limit guessing. The exception is a token that already authenticated from that
   same address (the last TRUSTED_PER_PEER of them): a guess passes only if it equals a token
   proven there, so guessing stays limited, while the clients that share an address with a
   misbehaving one (behind a NAT or a proxy) keep working instead of being locked out by it;
2. authenticates the token; a failure is counted against the peer and logged at WARNING, at
   most once per peer every LOG_INTERVAL seconds, with how many failures (and calls refused
   while throttled) were not logged;
3. counts the call against its instance's ``max_concurrent_requests_per_instance`` (unary
   calls) or ``max_streams_per_instance`` (server streams) and refuses the one over the limit
   with RESOURCE_EXHAUSTED naming it (see ``inflight.InFlight``);
4. reads the call's request, in the instance's turn (see ``Reads``), and only then, so that
   the bytes of a call that is refused are never read, let alone parsed;
5. runs the call with ``current_instance()`` set.

A throttled peer gets UNAUTHENTICATED, not RESOURCE_EXHAUSTED: its call is not authenticated,
and clients do not retry UNAUTHENTICATED (the SDK resumes a watch cut off with
RESOURCE_EXHAUSTED, which would keep a throttled client knocking). The message and the
ErrorInfo (``limit``, ``max``, ``retry_after_seconds``) tell the two refusals apart.

A peer is an IP address (an IPv6 one by its /64, what one host usually has): a client that
opens new connections gets new ports, so ports do not count. Clients behind one NAT or proxy
share its address, and so share its failure budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import hashlib
import ipaddress
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

import grpc

from qsession.buckets import TokenBuckets
from qsession.config import Limits
from qsession.lifecycle.errors import LimitExceeded
from qsession.lifecycle.model import Plan
from qsession.server.errors import status_of, to_status
from qsession.server.inflight import InFlight

QSESSION_PREFIX = "/qsession.v1."
WINDOW = 60.0  # seconds: auth_failures_per_minute counts failures in a window this long
LOG_INTERVAL = 10.0  # seconds: at most one WARNING per peer this often
MAX_PEERS = 10_000  # peers remembered (least recently seen forgotten first)
TRUSTED_PER_PEER = 8  # tokens remembered per peer as having authenticated from it
TOKEN_PREFIX = 12  # hex digits of a token's SHA-256 in WARNING lines
READS_AT_ONCE = 2  # requests of one instance received at once (see Reads)

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


@functools.lru_cache(maxsize=64)
def token_hash(token: str) -> str:
    """The hex SHA-256 of a token: the only form in which tokens are kept or logged. The
    last few are remembered, as every call of a client carries the same token."""
    return hashlib.sha256(token.encode()).hexdigest()


@functools.lru_cache(maxsize=1024)
def peer_key(peer: str) -> str:
    """The address whose failures count together, from ``context.peer()`` (remembered for
    the last peers: a connection's calls all come from one).

    ``ipv4:10.0.0.7:51234`` -> ``10.0.0.7``; ``ipv6:%5B2001:db8::7%5D:51234`` ->
    ``2001:db8::/64`` (an IPv4-mapped one -> the IPv4 address); anything else (a Unix
    socket) as given.
    """
    scheme, _, rest = peer.partition(":")
    if scheme not in ("ipv4", "ipv6"):
        return peer
    host = unquote(rest).rsplit(":", 1)[0].strip("[]")
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])  # without an IPv6 zone
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def http_peer_key(remote: str | None) -> str:
    """``peer_key`` of an HTTP request's remote address (aiohttp's ``request.remote``), so that
    the HTTP front ends' failures count with gRPC's for the same address."""
    remote = remote or "unknown"
    return peer_key(f"ipv6:[{remote}]:0" if ":" in remote else f"ipv4:{remote}:0")


@dataclass
class _Peer:
    """One peer's failures in its current window, what was not logged yet, and the hashes of
    the tokens that authenticated from it (most recent last)."""

    window_start: float
    trusted: list[str] = field(default_factory=list)
    failures: int = 0
    logged_at: float = -math.inf
    suppressed_failures: int = 0  # failures not logged since the last WARNING
    suppressed_refusals: int = 0  # calls refused while throttled, not logged since then
    report_pending: bool = False  # a timer will log the suppressed counts


class AuthFailures:
    """Failed authentications per peer: the throttle and the rate-limited WARNING lines.

    A peer's window starts at its first failure and lasts WINDOW seconds; once it holds
    ``per_minute`` failures, the peer's calls are refused until the window ends. At most one
    WARNING per peer is written every LOG_INTERVAL seconds: the failures and refusals in
    between are counted and reported by the next line, which a timer writes when the interval
    is over if no new failure does. A throttled peer's calls are refused unless their token is
    one that authenticated from that peer before (``trusted``). At most MAX_PEERS peers are
    remembered, the least recently seen forgotten first.

    Args:
        per_minute: ``[limits] auth_failures_per_minute``.
        clock: monotonic seconds (a test may pass its own).
    """

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.per_minute = per_minute
        self._clock = clock
        self._peers: OrderedDict[str, _Peer] = OrderedDict()

    def retry_after(self, key: str) -> float | None:
        """Seconds until peer ``key`` may authenticate again, if it is throttled now."""
        record = self._peers.get(key)
        if record is None or record.failures < self.per_minute:
            return None
        left = record.window_start + WINDOW - self._clock()
        return left if left > 0 else None

    def trusted(self, key: str, digest: str | None) -> bool:
        """Whether the token with SHA-256 ``digest`` authenticated from peer ``key`` before."""
        record = self._peers.get(key)
        return digest is not None and record is not None and digest in record.trusted

    def succeeded(self, key: str, digest: str) -> None:
        """Remember that the token with SHA-256 ``digest`` authenticated from peer ``key``."""
        record = self._peers.get(key)
        if record is not None and record.trusted and record.trusted[-1] == digest:
            self._peers.move_to_end(key)  # the usual case: the same client again
            return
        record = self._record(key)
        if digest in record.trusted:
            record.trusted.remove(digest)
        record.trusted.append(digest)
        del record.trusted[:-TRUSTED_PER_PEER]

    def failed(self, key: str, peer: str, method: str, credentials: str) -> None:
        """Count a failed authentication of peer ``key``; log it unless a line for the peer
        went out less than LOG_INTERVAL ago."""
        record = self._record(key)
        now = self._clock()
        if record.failures == 0 or now >= record.window_start + WINDOW:
            record.window_start, record.failures = now, 0  # a window starts at its first failure
        record.failures += 1
        if self._may_log(record):
            self._log(key, record, f"authentication failed from {peer} on {method}: {credentials}")
        else:
            record.suppressed_failures += 1
            self._report_later(key, record)

    def refused(self, key: str, peer: str, method: str) -> None:
        """Count a call refused because peer ``key`` is throttled; log it as ``failed`` does."""
        record = self._peers.get(key)
        if record is None:  # forgotten in between: nothing to count against
            return
        if self._may_log(record):
            self._log(key, record, f"refused a call from throttled {peer} on {method}")
        else:
            record.suppressed_refusals += 1
            self._report_later(key, record)

    def refusal(self, key: str, retry_after: float) -> grpc.Status:
        """The UNAUTHENTICATED answer to a throttled peer."""
        wait = math.ceil(retry_after)
        return to_status(
            grpc.StatusCode.UNAUTHENTICATED,
            f"too many failed authentications from {key}: auth_failures_per_minute is "
            f"{self.per_minute}; for {wait} s more, calls from this address are refused "
            "without checking their token, unless it is one that authenticated from here before",
            None,
            {
                "limit": "auth_failures_per_minute",
                "max": str(self.per_minute),
                "retry_after_seconds": str(wait),
            },
            reason="AUTH_THROTTLED",
        )

    def _record(self, key: str) -> _Peer:
        """Peer ``key``'s record (a new one if it has none), as the most recently seen."""
        record = self._peers.get(key)
        if record is None:
            record = self._peers[key] = _Peer(window_start=self._clock())
            while len(self._peers) > MAX_PEERS:
                self._peers.popitem(last=False)
        self._peers.move_to_end(key)
        return record

    def _may_log(self, record: _Peer) -> bool:
        return self._clock() - record.logged_at >= LOG_INTERVAL

    def _report_later(self, key: str, record: _Peer) -> None:
        """Have a timer log the suppressed counts once LOG_INTERVAL has passed."""
        if record.report_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # driven outside a loop (a test): the next line reports them
            return
        record.report_pending = True
        delay = record.logged_at + LOG_INTERVAL - self._clock()
        loop.call_later(max(0.0, delay), self._report_now, key, record)

    def _report_now(self, key: str, record: _Peer) -> None:
        record.report_pending = False
        if record.suppressed_failures or record.suppressed_refusals:
            self._log(key, record, f"authentication failures from {key}")

    def _log(self, key: str, record: _Peer, event: str) -> None:
        """One WARNING: ``event``, the peer's state and the counts not logged before it."""
        if record.failures >= self.per_minute:
            left = max(0.0, record.window_start + WINDOW - self._clock())
            state = (
                f"{key} reached auth_failures_per_minute = {self.per_minute} and is throttled "
                f"for {left:.0f} s more"
            )
        else:
            state = (
                f"{key} has used {record.failures} of its auth_failures_per_minute = "
                f"{self.per_minute}"
            )
        suppressed = [
            f"{count} {what}"
            for count, what in (
                (record.suppressed_failures, "failed authentications"),
                (record.suppressed_refusals, "calls refused unchecked"),
            )
            if count
        ]
        log.warning(
            "%s; %s; not logged since the last report: %s",
            event,
            state,
            " and ".join(suppressed) or "none",
        )
        record.logged_at = self._clock()
        record.suppressed_failures = record.suppressed_refusals = 0


def open_streams(limits: Limits) -> InFlight:
    """The count of each instance's open streams (gRPC watches and result waits, and the
    page's event streams), capped by ``max_streams_per_instance``."""
    return InFlight("max_streams_per_instance", limits.max_streams_per_instance, "open streams")


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Authenticates, throttles and counts every qsession.v1 call (see the module docstring).

    Args:
        instances: hex SHA-256 of each accepted token -> the instance it authenticates.
        limits: the ``[limits]`` whose per-instance and per-peer keys apply.
        streams: the open-stream count, shared with the page (default: its own).
    """

    def __init__(
        self,
        instances: Mapping[str, Instance],
        limits: Limits | None = None,
        streams: InFlight | None = None,
    ):
        limits = limits or Limits()
        self._instances = dict(instances)
        self.failures = AuthFailures(limits.auth_failures_per_minute)
        self.calls = InFlight(
            "max_concurrent_requests_per_instance",
            limits.max_concurrent_requests_per_instance,
            "unary calls",
        )
        self.streams = streams or open_streams(limits)
        self.reads = Reads(limits)
        self.reads.contended = self.calls.others_active

    async def _admit(
        self,
        context: grpc.aio.ServicerContext,
        details,
        digest: str | None,
        credentials: str,
    ) -> Instance:
        """The call's instance (its token's SHA-256 ``digest``, described for a log line by
        ``credentials``); or the call ends with UNAUTHENTICATED (a throttled peer and a token
        not trusted from it, or a bad token)."""
        peer = context.peer()
        key = peer_key(peer)
        wait = self.failures.retry_after(key)
        if wait is not None and not self.failures.trusted(key, digest):
            self.failures.refused(key, peer, details.method)
            log.debug("refused a call from throttled %s unchecked (token sha256 %s)", peer, digest)
            await context.abort_with_status(self.failures.refusal(key, wait))
        instance = None if digest is None else self._instances.get(digest)
        if instance is None:
            if digest is not None:
                log.debug("rejected an unknown token (sha256 %s)", digest)
            self.failures.failed(key, peer, details.method, credentials)
            await context.abort_with_status(_TOKEN_MISSING if digest is None else _TOKEN_INVALID)
        self.failures.succeeded(key, digest)
        return instance

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], object],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        if handler is None or not details.method.startswith(QSESSION_PREFIX):
            return handler
        return self._guard(handler, details)

    def _guard(self, handler: grpc.RpcMethodHandler, details) -> grpc.RpcMethodHandler:
        """The same handler, run only for an admitted call, counted in flight, with
        ``current_instance()`` set.

        The handler is served in gRPC's request-streaming form, so that gRPC reads no request
        before the handler asks for it: the call is admitted first (peer throttle, token,
        in-flight count) and its one request read after, in its instance's turn (``Reads``). The
        bytes of a call that is refused are never read, let alone parsed; the client sees a
        unary call as before."""
        digest, credentials = _credentials(details.invocation_metadata)
        parse, serialize = handler.request_deserializer, handler.response_serializer
        read = [0]  # the bytes of the call's request, once read

        def deserialize(data: bytes):
            read[0] = len(data)
            return parse(data)

        def size() -> int:
            return read[0]

        if handler.unary_unary:
            inner = handler.unary_unary

            async def unary_unary(requests, context):
                instance = await self._admit(context, details, digest, credentials)
                await _enter(self.calls, instance, context)
                try:
                    request = await self.reads.one(context, instance.name, size)
                    _current.set(instance)
                    return await inner(request, context)
                finally:
                    self.calls.leave(instance.name)

            return grpc.stream_unary_rpc_method_handler(unary_unary, deserialize, serialize)
        inner_stream = handler.unary_stream

        async def unary_stream(requests, context):
            instance = await self._admit(context, details, digest, credentials)
            await _enter(self.streams, instance, context)
            try:
                request = await self.reads.one(context, instance.name, size)
                _current.set(instance)
                async for item in inner_stream(request, context):
                    yield item
            finally:
                self.streams.leave(instance.name)

        return grpc.stream_stream_rpc_method_handler(unary_stream, deserialize, serialize)


class Reads:
    """When a call's request is read.

    - At most ``per_instance`` requests of one instance are received at once. gRPC holds a
      request's bytes until all have arrived, so this bounds an instance's bytes in flight at
      ``per_instance`` x ``max_request_bytes`` (plus the HTTP/2 flow-control window of each
      waiting call, 64 KiB: the server does not grow it), whatever its number of connections
      and calls. A call is read only once authenticated, so an address that is no instance's
      has nothing read at all; the turns are per instance rather than per address because
      one address may carry many tenants (a NAT, a proxy, loopback).
    - While other instances are calling (``contended``), each instance reads at most
      ``bytes_per_second`` of requests, on average (a token bucket holding one
      ``max_request_bytes``: one request of any allowed size starts at once). Receiving and
      parsing a request costs the server's loop time in proportion to its bytes, so without
      it one tenant's stream of large requests would slow every other's calls. An instance
      alone on the server reads at full speed, and owes nothing for it afterwards.

    A call that must wait waits unread: its bytes stay with its client.

    Attributes:
        contended: whether instances other than the given one are calling now (the
            interceptor sets it from its call counts); by default, always.
    """

    def __init__(
        self,
        limits: Limits,
        per_instance: int = READS_AT_ONCE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.rate = limits.request_bytes_per_second_per_instance
        self._sleep = sleep
        self._turns = _Turns(per_instance)
        self._bytes = TokenBuckets(self.rate, limits.max_request_bytes, clock)
        self.contended: Callable[[str], bool] = lambda instance: True

    async def one(self, context: grpc.aio.ServicerContext, instance: str, size):
        """The call's one request, read in its instance's turn once the instance's byte budget
        allows (``size()``: the bytes of the request just read); a call that sent none ends
        with INVALID_ARGUMENT.

        The request is read with ``context.read()``, not the handler's request iterator: an
        iterator left unfinished keeps its last message in a reference cycle until the
        garbage collector runs, which let refused 4 MB requests pile up by the hundred."""
        async with self._turns.turn(instance):
            paced = self.contended(instance)
            while paced and (owed := -self._bytes.level(instance)) > 0:
                await self._sleep(owed / self.rate)
            request = await context.read()
            if paced:
                self._bytes.spend(instance, size())
        if request is grpc.aio.EOF:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "the call sent no request message; a unary call sends exactly one",
            )
        return request


class _Turns:
    """At most ``per_key`` holders of a turn per key at once; a key's gate is kept only while
    a call holds or waits for one of its turns."""

    def __init__(self, per_key: int):
        self.per_key = per_key
        self._gates: dict[str, list] = {}  # key -> [semaphore, calls holding or waiting]

    @contextlib.asynccontextmanager
    async def turn(self, key: str):
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = [asyncio.Semaphore(self.per_key), 0]
        gate[1] += 1
        try:
            async with gate[0]:
                yield
        finally:
            gate[1] -= 1
            if gate[1] == 0:
                del self._gates[key]


_TOKEN_HELP = (
    "send metadata 'authorization: Bearer <token>' with a token from the server's "
    "[[instances]] configuration"
)
_TOKEN_MISSING = to_status(
    grpc.StatusCode.UNAUTHENTICATED,
    f"missing or invalid token: no bearer token; {_TOKEN_HELP}",
    None,
    reason="TOKEN_MISSING",
)
_TOKEN_INVALID = to_status(
    grpc.StatusCode.UNAUTHENTICATED,
    f"missing or invalid token: the token is not one this server accepts; {_TOKEN_HELP}",
    None,
    reason="TOKEN_INVALID",
)


def _credentials(metadata: Iterable[tuple[str, str | bytes]] | None) -> tuple[str | None, str]:
    """The SHA-256 of the call's bearer token (None without one), and how to name the
    credentials in a log line: the hash's first TOKEN_PREFIX digits, never the token."""
    for key, value in metadata or ():
        if key != "authorization":
            continue
        if not (isinstance(value, str) and value.startswith("Bearer ")):
            return None, "'authorization' metadata without 'Bearer <token>'"
        digest = token_hash(value[len("Bearer ") :].strip())
        return digest, f"unknown token (sha256 {digest[:TOKEN_PREFIX]}…)"
    return None, "no 'authorization' metadata"


async def _enter(counter: InFlight, instance: Instance, context: grpc.aio.ServicerContext) -> None:
    """Count the call in ``counter``, or end it with RESOURCE_EXHAUSTED naming the limit."""
    try:
        counter.enter(instance.name)
    except LimitExceeded as over:
        await context.abort_with_status(status_of(over))
