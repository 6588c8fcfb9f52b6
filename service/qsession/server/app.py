"""Wiring: build the grpc.aio server (auth, services, health, reflection, limits) and run it.

Connections and file descriptors: grpc.aio has no per-connection hook, so the server (1) raises
its soft limit of open files to the hard limit at start, since one idle TCP connection costs
one descriptor and the common soft limit of 1,024 ran out at ~1,000 connections (then every
RPC failed); (2) caps connections with ``grpc.max_allowed_incoming_connections`` at that limit
less FD_RESERVE descriptors kept for the server itself (the store, the workers and sandboxes)
and less the HTTP front ends' share (``[limits] max_http_connections``, counted and timed out
by ``connections.HttpConnections``), so a connection flood on either is refused at the door
rather than starving the server; (3) closes a
connection that has not completed its handshake within HANDSHAKE_TIMEOUT_MS (gRPC's default is
two minutes); (4) caps the streams of one connection with ``grpc.max_concurrent_streams`` at
what one instance may have in flight (``max_streams_per_instance`` plus
``max_concurrent_requests_per_instance``), and at least MIN_STREAMS_PER_CONNECTION. That cap is
a backstop: gRPC answers a stream over it with a bare REFUSED_STREAM (UNAVAILABLE), so it sits
above the per-instance caps, counted in the auth interceptor, which answer RESOURCE_EXHAUSTED
naming the limit; (5) keeps each stream's HTTP/2 receive window at gRPC's initial 64 KiB
(``grpc.http2.bdp_probe`` off). A request is read only once its call is admitted (see
``auth.Reads``); until then its bytes wait with the client, and the window is what a waiting
or refused call can make the server hold. With the probe on, gRPC grows the windows to the
link's bandwidth-delay product, and 72 refused 60 MB calls held 270 MB. The cost is upload
speed over a link with a long round trip (64 KiB per round trip); on loopback a 60 MB request
took the same 0.16 s with the probe on and off.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import resource
import signal
import socket
import sqlite3
import ssl
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from qsession.config import DEV_INSTANCE, Config, Limits, crn_of
from qsession.dashboard import Dashboard, start_dashboard
from qsession.runtime import EVENTS_RETAINED, Runtime
from qsession.server.auth import AuthInterceptor, Instance, open_streams, token_hash
from qsession.server.connections import HttpConnections
from qsession.server.descriptors import reflection_pool
from qsession.server.dev_account import dev_token
from qsession.server.dev_account import save_dev_account as save_dev_account_file
from qsession.server.metrics import ServerMetrics
from qsession.server.parsing import ByteBound, ParseErrorInterceptor
from qsession.server.servicers import (
    BackendServicer,
    InstanceServicer,
    JobServicer,
    SessionServicer,
    TranspilerServicer,
)
from qsession.store import MissingLog, Store

if TYPE_CHECKING:
    from qsession.ibm_api.app import IbmApi
from qsession.v1 import (
    backend_pb2,
    backend_pb2_grpc,
    instance_pb2,
    instance_pb2_grpc,
    job_pb2,
    job_pb2_grpc,
    session_pb2,
    session_pb2_grpc,
    transpiler_pb2,
    transpiler_pb2_grpc,
)

log = logging.getLogger("qsession.server")

SERVICE_NAMES = (
    backend_pb2.DESCRIPTOR.services_by_name["BackendService"].full_name,
    session_pb2.DESCRIPTOR.services_by_name["SessionService"].full_name,
    job_pb2.DESCRIPTOR.services_by_name["JobService"].full_name,
    instance_pb2.DESCRIPTOR.services_by_name["InstanceService"].full_name,
    transpiler_pb2.DESCRIPTOR.services_by_name["TranspilerService"].full_name,
)
FD_RESERVE = 256  # open files kept for the server itself, not for connections
HANDSHAKE_TIMEOUT_MS = 20_000  # a connection must complete its handshake this soon
MIN_STREAMS_PER_CONNECTION = 1024
GIL_SWITCH_INTERVAL = 0.001  # seconds; see start_server
IO_THREADS = min(32, (os.cpu_count() or 2) + 4)  # the default pool's size, as asyncio sizes it
WATCH_ID_BYTES = 40  # one job id (a UUID, 36 characters) as an entry of WatchJobs' job_ids
WATCH_FILTER_BYTES = 64 * 1024  # the rest of a WatchJobs request: session, tags, revision


def _instances_by_token_hash(config: Config) -> tuple[dict[str, Instance], str | None]:
    """Every accepted token's SHA-256 -> its instance; and the dev token when the default
    local instance is used (None otherwise)."""
    if config.uses_default_instance:
        token, digest = dev_token(config.data_dir)
        return {digest: Instance(name=DEV_INSTANCE, plan=config.plans["premium"])}, token
    by_hash = {
        token_hash(token): Instance(name=i.name, plan=config.plans[i.plan])
        for i in config.instances
        for token in i.tokens
    }
    return by_hash, None


MMAP_THRESHOLD = 1 << 20  # bytes: glibc serves larger blocks from mmap, returned when freed


def return_large_blocks_to_the_system() -> None:
    """Fix glibc's mmap threshold at MMAP_THRESHOLD (Linux with glibc; elsewhere nothing).

    By default glibc raises the threshold to the size of each large block freed, up to 32 MB,
    so that after one 22 MB request the next are carved from the heap, whose freed pages the
    process keeps: twelve refused 22 MB circuits left the server 420 MB larger. With the
    threshold fixed, every request-sized buffer is its own mapping, unmapped when freed.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)
    if not libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD):
        log.warning("could not fix glibc's mmap threshold; memory may grow after large requests")


def raise_open_files_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (log both); return the soft
    limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard
    if hard == resource.RLIM_INFINITY:  # Linux caps it at fs.nr_open, macOS at OPEN_MAX
        wanted = _nr_open() or 10_240
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        log.info("open files: soft limit %s, hard limit %s", soft, _limit_text(hard))
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError) as exc:
        log.warning(
            "open files: cannot raise the soft limit %d to the hard limit %s (%s): "
            "connections beyond ~%d will be refused",
            soft,
            _limit_text(hard),
            exc,
            soft - FD_RESERVE,
        )
        return soft
    log.info(
        "open files: soft limit raised from %d to %d (hard limit %s)",
        soft,
        wanted,
        _limit_text(hard),
    )
    return wanted


def _nr_open() -> int | None:
    """Linux's ceiling for RLIMIT_NOFILE (None elsewhere)."""
    try:
        with open("/proc/sys/fs/nr_open") as ceiling:
            return int(ceiling.read())
    except (OSError, ValueError):
        return None


def _limit_text(value: int) -> str:
    return "unlimited" if value == resource.RLIM_INFINITY else str(value)


def max_connections(open_files: int) -> int:
    """Connections the server accepts at once with ``open_files`` descriptors: all but
    FD_RESERVE (at least half of them)."""
    return max(open_files - FD_RESERVE, open_files // 2)


def streams_per_connection(limits: Limits) -> int:
    """The streams one connection may have open: what one instance may have in flight, and
    at least MIN_STREAMS_PER_CONNECTION (see the module docstring)."""
    per_instance = limits.max_streams_per_instance + limits.max_concurrent_requests_per_instance
    return max(per_instance, MIN_STREAMS_PER_CONNECTION)


class StartupError(Exception):
    """The server cannot start as configured: a port in use, a data directory it cannot use,
    an unreadable or invalid TLS file. The message says which and how to fix it."""


def request_bounds(limits: Limits) -> dict[str, ByteBound]:
    """The methods whose requests have a byte bound below max_request_bytes, refused before
    they are parsed (see ``parsing``): WatchJobs, by the job ids it may name."""
    return {
        "/qsession.v1.JobService/WatchJobs": ByteBound(
            limits.max_watch_job_ids * WATCH_ID_BYTES + WATCH_FILTER_BYTES,
            "job_ids",
            "max_watch_job_ids",
            limits.max_watch_job_ids,
            "job ids",
        )
    }


def _check_startup(config: Config) -> tuple[bytes, bytes] | None:
    """Check what can stop the server from starting before anything starts: the TLS files
    (read and parsed as a certificate chain and key) and the listen address (free to bind).

    Returns:
        The TLS key and certificate bytes, or ``None`` without TLS.

    Raises:
        StartupError: naming the key and the fix.
    """
    tls = None
    if config.tls_cert and config.tls_key:
        try:
            tls = (config.tls_key.read_bytes(), config.tls_cert.read_bytes())
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                config.tls_cert, config.tls_key
            )
        except (OSError, ssl.SSLError) as exc:
            raise StartupError(
                f"server.tls_cert / server.tls_key ({config.tls_cert}, {config.tls_key}): "
                f"not a readable PEM certificate and matching key: {exc}"
            ) from None
    host, _, port = config.listen.rpartition(":")
    if port.isdigit() and int(port) != 0:
        family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host.strip("[]") or "0.0.0.0", int(port)))
            except OSError as exc:
                raise StartupError(
                    f"server.listen = {config.listen!r}: cannot listen there ({exc.strerror}); "
                    "stop what uses the port or choose another"
                ) from None
    return tls


def _open_store(config: Config) -> Store:
    """The store in ``config.data_dir``.

    Raises:
        StartupError: the data directory cannot be created, read or written.
    """
    try:
        return Store(
            config.data_dir / "qsession.db",
            retain_events=EVENTS_RETAINED,
            durability=config.durability,
        )
    except MissingLog as exc:
        raise StartupError(f"server.data_dir = {str(config.data_dir)!r}: {exc}") from None
    except (OSError, sqlite3.Error) as exc:
        raise StartupError(
            f"server.data_dir = {str(config.data_dir)!r}: cannot keep the database there "
            f"({exc}); use a directory this user can create, read and write"
        ) from None


@dataclass
class RunningServer:
    """A started server: its bound port, runtime and the grpc server itself."""

    server: grpc.aio.Server
    runtime: Runtime
    port: int
    health: health.aio.HealthServicer
    metrics: ServerMetrics | None = None
    dashboard: Dashboard | None = None  # the Workloads page, when [dashboard] listen is set
    ibm_api: IbmApi | None = None  # IBM's REST API, when [ibm_api] listen is set

    async def stop(self, grace: float | None = None) -> None:
        """Report NOT_SERVING, let running jobs finish within ``grace`` seconds (default: the
        config's shutdown_grace), stop serving, then close the store."""
        if self.dashboard is not None:
            await self.dashboard.stop()
        if self.ibm_api is not None:
            await self.ibm_api.stop()
        for name in (*SERVICE_NAMES, ""):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.runtime.stop(grace)
        await self.server.stop(grace=1.0)
        self.runtime.close()


async def start_server(config: Config, save_dev_account: bool | None = None) -> RunningServer:
    """Build and start the server described by ``config``; return once it is listening."""
    open_files = raise_open_files_limit()
    return_large_blocks_to_the_system()
    # The event loop shares the GIL with admission threads that parse circuits for hundreds
    # of ms. Each of the loop's many short steps may wait for the GIL one switch interval per
    # busy thread. Measured on 2 cores, another instance's small CreateJob during a flood of
    # 50 x 1 MB ones: p99 260-500 ms with Python's default of 5 ms, 80-120 ms with 1 ms, and
    # the flood itself no slower.
    sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL))
    # Running jobs hold a default-pool thread each (the round trip to their backend's worker):
    # size the pool so that they never take the threads of store reads (admission has its own).
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(len(config.backends) + IO_THREADS, thread_name_prefix="qsession-io")
    )
    instances, dev = _instances_by_token_hash(config)
    tls = _check_startup(config)
    store = _open_store(config)
    runtime = Runtime(config, store)
    limits = config.limits
    # One budget of connections for the process: the HTTP front ends' share, gRPC the rest,
    # and FD_RESERVE descriptors kept for the server itself
    connections = max_connections(open_files)
    http = HttpConnections(
        min(limits.max_http_connections, connections // 2)
        if config.dashboard_listen or config.ibm_api_listen
        else 0
    )
    connections -= http.limit
    options = [
        ("grpc.max_receive_message_length", limits.max_request_bytes),
        ("grpc.max_send_message_length", 4 * 1024 * 1024),
        ("grpc.so_reuseport", 0),
        ("grpc.max_allowed_incoming_connections", connections),
        ("grpc.server_handshake_timeout_ms", HANDSHAKE_TIMEOUT_MS),
        ("grpc.max_concurrent_streams", streams_per_connection(limits)),
        ("grpc.http2.bdp_probe", 0),
    ]
    metrics = ServerMetrics(runtime)  # outermost interceptor: refused calls count too
    streams = open_streams(limits)  # gRPC's and the page's, one budget per instance
    auth = AuthInterceptor(instances, limits, streams)
    runtime.share_fan_out_when(auth.calls.others_active)
    server = grpc.aio.server(
        interceptors=[
            metrics.interceptor(),
            auth,  # reads a request once admitted,
            ParseErrorInterceptor(request_bounds(limits)),  # which this one parses
        ],
        options=options,
    )
    backend_pb2_grpc.add_BackendServiceServicer_to_server(BackendServicer(runtime), server)
    session_pb2_grpc.add_SessionServiceServicer_to_server(SessionServicer(runtime), server)
    job_pb2_grpc.add_JobServiceServicer_to_server(JobServicer(runtime), server)
    instance_pb2_grpc.add_InstanceServiceServicer_to_server(InstanceServicer(runtime), server)
    transpiler_pb2_grpc.add_TranspilerServiceServicer_to_server(TranspilerServicer(runtime), server)
    health_servicer = health.aio.HealthServicer()
    # grpcio's servicer starts with "" SERVING; ours is SERVING once every front end listens.
    for name in (*SERVICE_NAMES, ""):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (
            *SERVICE_NAMES,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
        pool=reflection_pool(),
    )
    try:
        if tls is not None:
            port = server.add_secure_port(config.listen, grpc.ssl_server_credentials([tls]))
        else:
            port = server.add_insecure_port(config.listen)
    except RuntimeError:
        port = 0
    if port == 0:
        await runtime.stop(0)
        runtime.close()
        raise StartupError(f"server.listen = {config.listen!r}: cannot listen there")
    await server.start()
    try:
        await runtime.start()
    except BaseException:  # e.g. no Ray cluster at ray_address: stop listening, then report
        await server.stop(None)
        raise
    dashboard = None
    if config.dashboard_listen:
        dashboard = await start_dashboard(
            runtime,
            metrics,
            instances,
            config.dashboard_listen,
            auth.failures,  # one failed-sign-in throttle for gRPC and the page
            streams,
            http,
            config.dashboard_secure_cookie,
        )
    ibm_api = None
    if config.ibm_api_listen:
        ibm_api = await _start_ibm_api(config, runtime, instances, auth.failures, http)
    # SERVING once every front end listens: a client that waits for it may use any of them.
    for name in (*SERVICE_NAMES, ""):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    runtime.on_health(lambda serving: _report_health(health_servicer, serving))
    if dev is not None and save_dev_account is not False:
        save_dev_account_file(f"{config.listen.rsplit(':', 1)[0]}:{port}", dev)
    log.info(
        "qsession listening on %s (port %d), backends %s",
        config.listen,
        port,
        runtime.backend_names(),
    )
    log.info(
        "at most %d connections; %d circuit admissions at once, %d per instance",
        connections,
        *runtime.admission_slots(),
    )
    return RunningServer(
        server=server,
        runtime=runtime,
        port=port,
        health=health_servicer,
        metrics=metrics,
        dashboard=dashboard,
        ibm_api=ibm_api,
    )


async def _start_ibm_api(config, runtime, instances, failures, http) -> IbmApi:
    """IBM's REST API: each instance token is an API key of the instance, named by its CRN."""
    from qsession.ibm_api.app import Account, start_ibm_api  # imports qiskit-ibm-runtime
    from qsession.ibm_api.tokens import Tokens, load_key

    crns = {i.name: i.service_crn for i in config.instances}
    accounts = {
        digest: Account(instance, crns.get(instance.name) or crn_of(instance.name))
        for digest, instance in instances.items()
    }
    return await start_ibm_api(
        runtime,
        accounts,
        Tokens(load_key(config.data_dir)),
        failures,
        http,
        config.ibm_api_listen,
        config.limits,
    )


def _report_health(health_servicer: health.aio.HealthServicer, serving: bool) -> None:
    """SERVING, or NOT_SERVING while the store refuses writes (see Runtime.storage_fault)."""
    status = (
        health_pb2.HealthCheckResponse.SERVING
        if serving
        else health_pb2.HealthCheckResponse.NOT_SERVING
    )
    for name in (*SERVICE_NAMES, ""):
        asyncio.ensure_future(health_servicer.set(name, status))


async def serve(config: Config) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    running = await start_server(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down: draining running jobs for up to %g s", config.shutdown_grace)
    await running.stop()
    log.info("stopped")
