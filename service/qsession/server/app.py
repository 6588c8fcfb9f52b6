"""Wiring: build the grpc.aio server (auth, services, health, reflection, limits) and run it."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from qsession.server.auth import AuthInterceptor, Instance
from qsession.server.config import Config, InstanceConfig
from qsession.server.runtime import Runtime
from qsession.server.servicers import BackendServicer, JobServicer, SessionServicer
from qsession.store import Store
from qsession.v1 import backend_pb2, backend_pb2_grpc, job_pb2, job_pb2_grpc, session_pb2, session_pb2_grpc

log = logging.getLogger("qsession.server")

SERVICE_NAMES = (
    backend_pb2.DESCRIPTOR.services_by_name["BackendService"].full_name,
    session_pb2.DESCRIPTOR.services_by_name["SessionService"].full_name,
    job_pb2.DESCRIPTOR.services_by_name["JobService"].full_name,
)
DEV_INSTANCE = "local"


def dev_account_path() -> Path:
    """Where `qsession serve` with the default config saves the local account for the SDK."""
    return Path(os.environ.get("QSESSION_HOME", Path.home() / ".qsession")) / "dev-account.json"


def _instances(config: Config) -> tuple[InstanceConfig, ...]:
    """The configured instances, or the local premium dev instance with a persisted token."""
    if not config.uses_default_instance:
        return config.instances
    token_file = config.data_dir / "dev-token"
    if token_file.exists():
        token = token_file.read_text().strip()
    else:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        token = f"qs-{secrets.token_urlsafe(24)}"
        token_file.write_text(token)
        token_file.chmod(0o600)
    return (InstanceConfig(name=DEV_INSTANCE, plan="premium", tokens=(token,)),)


def _save_dev_account(config: Config, instances: tuple[InstanceConfig, ...], port: int) -> None:
    host = config.listen.rsplit(":", 1)[0]
    path = dev_account_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"url": f"{host}:{port}", "token": instances[0].tokens[0]}))
    path.chmod(0o600)
    log.info("saved the local account for RuntimeService() to %s", path)


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
    instances = _instances(config)
    store = Store(config.data_dir / "qsession.db")
    runtime = Runtime(config, store)
    tokens = [
        (token, Instance(name=i.name, plan=config.plans[i.plan])) for i in instances for token in i.tokens
    ]
    options = [
        ("grpc.max_receive_message_length", config.limits.max_request_bytes),
        ("grpc.max_send_message_length", 4 * 1024 * 1024),
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.aio.server(interceptors=[AuthInterceptor(tokens)], options=options)
    backend_pb2_grpc.add_BackendServiceServicer_to_server(BackendServicer(runtime), server)
    session_pb2_grpc.add_SessionServiceServicer_to_server(SessionServicer(runtime), server)
    job_pb2_grpc.add_JobServiceServicer_to_server(JobServicer(runtime), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server,
    )
    if config.tls_cert and config.tls_key:
        credentials = grpc.ssl_server_credentials([(config.tls_key.read_bytes(), config.tls_cert.read_bytes())])
        port = server.add_secure_port(config.listen, credentials)
    else:
        port = server.add_insecure_port(config.listen)
    if port == 0:
        raise OSError(f"cannot listen on {config.listen}")
    await server.start()
    await runtime.start()
    for name in (*SERVICE_NAMES, ""):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    if save_dev_account if save_dev_account is not None else config.uses_default_instance:
        _save_dev_account(config, instances, port)
    log.info("qsession listening on %s (port %d), backends %s", config.listen, port, list(runtime.qpus))
    return RunningServer(server=server, runtime=runtime, port=port, health=health_servicer)


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
