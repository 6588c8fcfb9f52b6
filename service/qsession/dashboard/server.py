"""The dashboard's HTTP server: the page, its JSON API, live events and ``/metrics``.

It is an aiohttp application on the gRPC server's own asyncio loop. The Runtime belongs to
that loop and is not thread-safe, so serving from the loop lets every handler call the
Runtime directly, exactly as the gRPC servicers do; the standard library's HTTP servers are
threaded and cannot stream Server-Sent Events from a loop.

Sign-in: ``POST /api/login`` with an instance token (the gRPC tokens) answers with a cookie
holding a random server-side session id (HttpOnly, SameSite=Strict); the token itself is never
kept, logged or put in a URL. Failed sign-ins are throttled per peer as gRPC's are
(``auth.AuthFailures``, the same object gRPC's calls count in: failures on either throttle
both). Every ``/api`` call runs as the signed-in instance; a state-changing call must also
carry the header ``X-Qsession: 1``, which a cross-site form cannot send.

Live updates: ``GET /api/events`` is a Server-Sent Events stream fed by the Runtime's event
log (``Runtime.subscribe``, as WatchJobs is): ``job`` and ``session`` events of the instance,
and a content-free ``backends`` nudge when any backend's queue or holder changes. The page
re-reads what it shows when an event arrives; it never polls.

``GET /metrics`` (Prometheus text) needs no sign-in: it holds no ids, tokens or instance
names, only totals per backend, state and RPC method.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from aiohttp import web

from qsession.dashboard import views
from qsession.lifecycle.errors import (
    InvalidArgument,
    LifecycleError,
)
from qsession.runtime import Runtime
from qsession.server.auth import AuthFailures, Instance, http_peer_key, token_hash
from qsession.server.connections import HttpConnections, HttpSite, http_status
from qsession.server.inflight import InFlight
from qsession.server.metrics import CONTENT_TYPE, ServerMetrics
from qsession.v1 import job_pb2, session_pb2

log = logging.getLogger("qsession.dashboard")

STATIC_DIR = Path(__file__).parent / "static"
COOKIE = "qsession_dashboard"
SIGN_IN_LIFETIME = 12 * 3600.0  # seconds a sign-in lasts
MAX_SIGN_INS = 1_000  # remembered sign-ins per instance (its oldest are forgotten first)
KEEP_ALIVE = 15.0  # seconds between SSE comments on a quiet stream
WRITE_TIMEOUT = 10.0  # seconds a browser may leave an event unread before its stream closes
BACKENDS_INTERVAL = 1.0  # seconds between two "backends" nudges on one stream, at least
CSRF_HEADER = "X-Qsession"
# The signed-in instance of a request (a typed key where aiohttp has them).
INSTANCE = web.RequestKey("instance", Instance) if hasattr(web, "RequestKey") else "instance"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class SignIns:
    """Signed-in browsers: random session id -> (instance, expiry). Only in memory: a
    restart signs everyone out. Each instance keeps at most MAX_SIGN_INS of its own (its
    oldest are forgotten first), so one instance's sign-ins never sign another's out."""

    def __init__(self) -> None:
        self._by_id: dict[str, tuple[Instance, float]] = {}
        self._by_instance: dict[str, OrderedDict[str, None]] = {}  # oldest first

    def create(self, instance: Instance) -> str:
        session_id = secrets.token_urlsafe(32)
        self._by_id[session_id] = (instance, time.monotonic() + SIGN_IN_LIFETIME)
        own = self._by_instance.setdefault(instance.name, OrderedDict())
        own[session_id] = None
        while len(own) > MAX_SIGN_INS:
            oldest, _ = own.popitem(last=False)
            del self._by_id[oldest]
        return session_id

    def instance(self, session_id: str | None) -> Instance | None:
        entry = self._by_id.get(session_id or "")
        if entry is None:
            return None
        if entry[1] < time.monotonic():
            self.end(session_id)
            return None
        return entry[0]

    def end(self, session_id: str | None) -> None:
        entry = self._by_id.pop(session_id or "", None)
        if entry is not None:
            own = self._by_instance[entry[0].name]
            own.pop(session_id, None)
            if not own:
                del self._by_instance[entry[0].name]


class Dashboard:
    """A running dashboard: its bound port and how to stop it."""

    def __init__(
        self,
        runtime: Runtime,
        metrics: ServerMetrics,
        instances: Mapping[str, Instance],
        failures: AuthFailures,
        streams: InFlight,
        connections: HttpConnections,
        secure_cookie: bool = False,
    ) -> None:
        self.runtime = runtime
        self.secure_cookie = secure_cookie  # [dashboard] secure_cookie: always Secure
        self.connections = connections  # the HTTP front ends' share of the process's
        self.metrics = metrics
        self.streams = streams  # shared with the gRPC streams: one budget per instance
        self.instances = dict(instances)  # token SHA-256 -> instance
        self.failures = failures  # shared with gRPC: failures on either count for both
        self.sign_ins = SignIns()
        self.port = 0
        self._streams: set[asyncio.Event] = set()  # wake-ups of the open event streams
        self._closing = False
        self._site: HttpSite | None = None
        self._hosts: frozenset[str] = frozenset()  # the Host names answered (empty: any)

    # ---------------------------------------------------------------------------- app

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/", self._index)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_post("/api/login", self._login)
        app.router.add_post("/api/logout", self._logout)
        app.router.add_get("/api/me", self._me)
        app.router.add_get("/api/workloads", self._workloads)
        app.router.add_get("/api/sessions/{id}", self._session)
        app.router.add_get("/api/jobs/{id}", self._job)
        app.router.add_post("/api/jobs/{id}/cancel", self._cancel)
        app.router.add_get("/api/backends", self._backends)
        app.router.add_get("/api/events", self._events)
        app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
        return app

    async def start(self, listen: str) -> None:
        host = listen.rpartition(":")[0]
        self._hosts = loopback_names(host.strip("[]"))
        # A browser that goes away cancels its handler: an event stream gives its place back
        # at once rather than at its next write.
        self._site = await HttpSite.start(
            self.application(),
            listen,
            self.connections,
            shutdown_timeout=1.0,
            handler_cancellation=True,
        )
        self.port = self._site.port

    async def stop(self) -> None:
        """End the event streams, then stop serving."""
        self._closing = True
        for wake in list(self._streams):
            wake.set()
        if self._site is not None:
            await self._site.stop()

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        """Security headers everywhere (errors of the router included); a page served on a
        loopback address answers only to loopback host names (no DNS rebinding); /api calls
        (but sign-in) need a signed-in browser, and state-changing ones the CSRF header;
        lifecycle errors become JSON errors."""
        self.connections.spoke(request.transport)
        if self._hosts and request.url.host not in self._hosts:
            return _error(421, f"this page answers to {sorted(self._hosts)} only")
        path = request.path
        if path.startswith("/api/") and path != "/api/login":
            instance = self.sign_ins.instance(request.cookies.get(COOKIE))
            if instance is None:
                return _error(401, "sign in with your instance token")
            request[INSTANCE] = instance
        if request.method == "POST" and request.headers.get(CSRF_HEADER) != "1":
            return _error(403, f"missing header {CSRF_HEADER}: 1")
        try:
            response = await handler(request)
        except LifecycleError as exc:
            response = _error(http_status(exc), exc.message)
        except web.HTTPException as exc:  # the router's 404 and 405
            if exc.status < 400:
                raise
            response = _error(exc.status, exc.reason)
        if not response.prepared:
            response.headers.update(SECURITY_HEADERS)
        return response

    # ------------------------------------------------------------------------ sign-in

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    async def _login(self, request: web.Request) -> web.Response:
        peer = request.remote or "unknown"
        key = http_peer_key(peer)
        try:
            token = str((await request.json()).get("token", ""))
        except (ValueError, AttributeError):
            return _error(400, 'send {"token": "..."} as JSON')
        digest = token_hash(token) if token else None
        wait = self.failures.retry_after(key)
        if wait is not None and not self.failures.trusted(key, digest):
            return _error(429, f"too many failed sign-ins; try again in {wait:.0f} s")
        instance = None if digest is None else self.instances.get(digest)
        if instance is None:
            self.failures.failed(key, peer, "dashboard sign-in", "bearer" if token else "none")
            return _error(401, "unknown token: use a token of your instance")
        self.failures.succeeded(key, digest)
        response = web.json_response({"instance": instance.name, "plan": instance.plan.name})
        response.set_cookie(
            COOKIE,
            self.sign_ins.create(instance),
            max_age=int(SIGN_IN_LIFETIME),
            httponly=True,
            samesite="Strict",
            path="/",
            secure=self.secure_cookie or _came_over_tls(request),
        )
        return response

    async def _logout(self, request: web.Request) -> web.Response:
        self.sign_ins.end(request.cookies.get(COOKIE))
        response = web.json_response({})
        response.del_cookie(COOKIE, path="/")
        return response

    async def _me(self, request: web.Request) -> web.Response:
        instance: Instance = request[INSTANCE]
        return web.json_response(
            {
                "instance": instance.name,
                "plan": instance.plan.name,
                "usage_seconds": self.runtime.instance_usage(instance.name),
                "backends": self.runtime.backend_names(),
            }
        )

    # -------------------------------------------------------------------------- pages

    async def _workloads(self, request: web.Request) -> web.Response:
        query = request.query
        status, mode, tag = query.get("status"), query.get("mode"), query.get("tag")
        where = views.WorkloadFilter(
            statuses=(status,) if status else (),
            modes=(mode,) if mode else (),
            backend=query.get("backend", ""),
            tags=(tag,) if tag else (),
            created_after=_time(query.get("since", ""), "since"),
            created_before=_time(query.get("until", ""), "until"),
        )
        offset = _integer(query.get("offset", "0"), "offset")
        size = _integer(query.get("page_size", "25"), "page_size")
        page = await views.list_workloads(self.runtime, request[INSTANCE].name, where, offset, size)
        return web.json_response(page)

    async def _session(self, request: web.Request) -> web.Response:
        page = await views.session_page(
            self.runtime, request[INSTANCE].name, request.match_info["id"]
        )
        return web.json_response(page)

    async def _job(self, request: web.Request) -> web.Response:
        page = await views.job_page(self.runtime, request[INSTANCE].name, request.match_info["id"])
        return web.json_response(page)

    async def _cancel(self, request: web.Request) -> web.Response:
        job = await self.runtime.cancel_job(request[INSTANCE].name, request.match_info["id"])
        return web.json_response(views.job_row(job))

    async def _backends(self, request: web.Request) -> web.Response:
        return web.json_response(views.backends(self.runtime, request[INSTANCE].name))

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    # ------------------------------------------------------------------------- events

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """Server-Sent Events: the instance's job and session changes as they commit, and
        ``backends`` nudges (anonymous QPU activity, at most one per BACKENDS_INTERVAL). A
        stream counts against the instance's ``max_streams_per_instance`` with its gRPC
        streams. A watcher that falls behind, or leaves a write unread for WRITE_TIMEOUT, is
        cut off; the browser's EventSource reconnects by itself and the page re-reads
        everything."""
        instance = request[INSTANCE].name
        self.streams.enter(instance)  # LimitExceeded -> 429, naming the limit
        try:
            return await self._stream_events(request, instance)
        finally:
            self.streams.leave(instance)

    async def _stream_events(self, request: web.Request, instance: str) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
                **SECURITY_HEADERS,
            }
        )
        await response.prepare(request)
        wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        backends_changed = False
        next_nudge = 0.0  # loop time before which no "backends" nudge is sent

        def nudge(_backend: str) -> None:
            nonlocal backends_changed
            if backends_changed:
                return  # one is on its way
            backends_changed = True
            loop.call_at(max(next_nudge, loop.time()), wake.set)

        subscriptions = [
            self.runtime.subscribe(instance, "job"),
            self.runtime.subscribe(instance, "session"),
        ]
        for subscription in subscriptions:
            subscription.notify = wake.set
        stop_nudging = self.runtime.on_qpu_activity(nudge)
        self._streams.add(wake)
        self.metrics.watchers += 1
        try:
            await response.write(b"retry: 2000\nevent: hello\ndata: {}\n\n")
            while not self._closing:
                chunks = []
                for subscription in subscriptions:
                    chunks.extend(_sse(event) for event in subscription.drain())
                if backends_changed and loop.time() >= next_nudge:
                    backends_changed = False
                    next_nudge = loop.time() + BACKENDS_INTERVAL
                    chunks.append(b"event: backends\ndata: {}\n\n")
                if chunks:
                    await asyncio.wait_for(response.write(b"".join(chunks)), WRITE_TIMEOUT)
                if any(s.overflowed for s in subscriptions):
                    break
                try:
                    await asyncio.wait_for(wake.wait(), KEEP_ALIVE)
                except TimeoutError:
                    await asyncio.wait_for(response.write(b": keep-alive\n\n"), WRITE_TIMEOUT)
                wake.clear()
        except (ConnectionResetError, asyncio.CancelledError):
            pass  # the browser went away, or the server stops
        except TimeoutError:
            log.info("closed an event stream of %s left unread %g s", instance, WRITE_TIMEOUT)
        finally:
            for subscription in subscriptions:
                subscription.close()
            stop_nudging()
            self._streams.discard(wake)
            self.metrics.watchers -= 1
        return response


def _sse(event) -> bytes:
    """One event-log event as an SSE message: what changed, not the whole record."""
    if event.kind == "job":
        job = views.job_row(job_pb2.Job.FromString(event.payload))
        data = {key: job[key] for key in ("id", "session_id", "status", "backend")}
    else:
        session = session_pb2.Session.FromString(event.payload)
        data = {"id": session.id, "backend": session.backend}
    data["revision"] = event.revision
    return f"event: {event.kind}\nid: {event.revision}\ndata: {json.dumps(data)}\n\n".encode()


def loopback_names(host: str) -> frozenset[str]:
    """The host names a page listening on ``host`` answers to: the loopback names when it
    listens on a loopback address (a page on another address answers to any name)."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    return frozenset({"localhost", "127.0.0.1", "::1", host}) if loopback else frozenset()


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=SECURITY_HEADERS)


def _integer(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidArgument(f"{name}: must be an integer, got {text!r}") from None


def _time(text: str, name: str) -> float | None:
    """Unix seconds from an ISO 8601 time or a number (local time when no zone is given)."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise InvalidArgument(f"{name}: an ISO 8601 time or unix seconds, got {text!r}") from None


def _came_over_tls(request: web.Request) -> bool:
    """Whether the browser reached us over TLS: directly, or through a TLS-terminating proxy
    that says so (``X-Forwarded-Proto: https`` or ``Forwarded: proto=https``). Trusting the
    header can only make the cookie stricter, never weaker."""
    if request.secure:
        return True
    if request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower() == "https":
        return True
    forwarded = request.headers.get("Forwarded", "").split(",")[0]
    return any(
        part.strip().lower() in ("proto=https", 'proto="https"') for part in forwarded.split(";")
    )


async def start_dashboard(
    runtime: Runtime,
    metrics: ServerMetrics,
    instances: Mapping[str, Instance],
    listen: str,
    failures: AuthFailures,
    streams: InFlight,
    connections: HttpConnections,
    secure_cookie: bool = False,
) -> Dashboard:
    """Serve the dashboard on ``listen`` (``host:port``; port 0: any free one); its event
    streams count against ``streams``, with the instance's gRPC streams, and its connections
    against ``connections``. ``secure_cookie``: the sign-in cookie is always ``Secure`` (else
    when the request came over TLS, directly or through a proxy that says so)."""
    dashboard = Dashboard(
        runtime, metrics, instances, failures, streams, connections, secure_cookie
    )
    await dashboard.start(listen)
    host = listen.rpartition(":")[0]
    log.info("dashboard on http://%s:%d/ (metrics at /metrics)", host, dashboard.port)
    return dashboard
