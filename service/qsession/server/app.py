"""Wiring: build the grpc.aio server (auth, services, health, reflection, limits) and run it."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from qsession.server.auth import AuthInterceptor, Instance, token_hash
from qsession.server.config import Config
from qsession.server.dev_account import dev_token
from qsession.server.dev_account import save_dev_account as save_dev_account_file
from qsession.server.parsing import ParseErrorInterceptor
from qsession.server.runtime import EVENTS_RETAINED, Runtime
from qsession.server.servicers import (
    BackendServicer,
    InstanceServicer,
    JobServicer,
    SessionServicer,
)
from qsession.store import Store
from qsession.v1 import (
    backend_pb2,
    backend_pb2_grpc,
    instance_pb2,
    instance_pb2_grpc,
    job_pb2,
    job_pb2_grpc,
    session_pb2,
    session_pb2_grpc,
)

log = logging.getLogger("qsession.server")

SERVICE_NAMES = (
    backend_pb2.DESCRIPTOR.services_by_name["BackendService"].full_name,
    session_pb2.DESCRIPTOR.services_by_name["SessionService"].full_name,
    job_pb2.DESCRIPTOR.services_by_name["JobService"].full_name,
    instance_pb2.DESCRIPTOR.services_by_name["InstanceService"].full_name,
)
DEV_INSTANCE = "local"


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


@dataclass
class RunningServer:
    """A started server: its bound port, runtime and the grpc server itself."""

    server: grpc.aio.Server
    runtime: Runtime
    port: int
    health: health.aio.HealthServicer

    async def stop(self, grace: float | None = None) -> None:
        """Report NOT_SERVING, let running jobs finish within ``grace`` seconds (default: the
        config's shutdown_grace), stop serving, then close the store."""
        for name in (*SERVICE_NAMES, ""):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.runtime.stop(self.runtime.config.shutdown_grace if grace is None else grace)
        await self.server.stop(grace=1.0)
        self.runtime.store.close()


async def start_server(config: Config, save_dev_account: bool | None = None) -> RunningServer:
    """Build and start the server described by ``config``; return once it is listening."""
    instances, dev = _instances_by_token_hash(config)
    store = Store(
        config.data_dir / "qsession.db", retain_events=EVENTS_RETAINED, durability=config.durability
    )
    runtime = Runtime(config, store)
    options = [
        ("grpc.max_receive_message_length", config.limits.max_request_bytes),
        ("grpc.max_send_message_length", 4 * 1024 * 1024),
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.aio.server(
        interceptors=[ParseErrorInterceptor(), AuthInterceptor(instances)], options=options
    )
    backend_pb2_grpc.add_BackendServiceServicer_to_server(BackendServicer(runtime), server)
    session_pb2_grpc.add_SessionServiceServicer_to_server(SessionServicer(runtime), server)
    job_pb2_grpc.add_JobServiceServicer_to_server(JobServicer(runtime), server)
    instance_pb2_grpc.add_InstanceServiceServicer_to_server(InstanceServicer(runtime), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (
            *SERVICE_NAMES,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    if config.tls_cert and config.tls_key:
        credentials = grpc.ssl_server_credentials(
            [(config.tls_key.read_bytes(), config.tls_cert.read_bytes())]
        )
        port = server.add_secure_port(config.listen, credentials)
    else:
        port = server.add_insecure_port(config.listen)
    if port == 0:
        raise OSError(f"cannot listen on {config.listen}")
    await server.start()
    await runtime.start()
    for name in (*SERVICE_NAMES, ""):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    runtime.health_listeners.append(lambda serving: _report_health(health_servicer, serving))
    if dev is not None and save_dev_account is not False:
        save_dev_account_file(f"{config.listen.rsplit(':', 1)[0]}:{port}", dev)
    log.info(
        "qsession listening on %s (port %d), backends %s", config.listen, port, list(runtime.qpus)
    )
    return RunningServer(server=server, runtime=runtime, port=port, health=health_servicer)


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
