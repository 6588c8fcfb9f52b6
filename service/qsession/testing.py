"""A real qsession server for tests, benchmarks and examples.

Two ways to run one, from the same configuration dict (the config file's shape: the
``[server]`` table as ``config["server"]``, ``[[backends]]`` as a list of dicts, ...):

- :func:`start_server`: in this process, on a background thread with its own event loop, on
  the port the config's ``server.listen`` names (port 0: an ephemeral one). The handle it
  yields carries the :class:`~qsession.server.app.RunningServer`, so a test can look inside.
- :class:`ServerProcess`: ``qsession serve --config FILE`` as a child process on a free port,
  which can be killed (SIGKILL, as in a crash), terminated (SIGTERM, a graceful shutdown) and
  started again on the same data directory; its pid, CPU time and resident memory are read
  from ``/proc``.

Both talk to the server through an :class:`Endpoint`: its address, the token calls carry by
default (the first token of the config's first instance), channels and stubs. :func:`to_toml`
writes a configuration dict as a config file. Importing this module imports nothing beyond
the standard library; gRPC and the server are imported when a server starts.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qsession.proc import cpu_seconds

if TYPE_CHECKING:
    import grpc

    from qsession.server.app import RunningServer
    from qsession.v1.backend_pb2_grpc import BackendServiceStub
    from qsession.v1.job_pb2_grpc import JobServiceStub
    from qsession.v1.session_pb2_grpc import SessionServiceStub

STARTUP_TIMEOUT = 90.0
"""Seconds a server gets to report SERVING before starting it counts as failed."""


class ServerStartError(RuntimeError):
    """A test server did not start: it exited, or did not report SERVING in time. The
    message includes what it logged."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def to_toml(config: Mapping[str, Any]) -> str:
    """TOML text for a configuration dict: tables of scalars, arrays of scalars and nested
    tables (``plans.<name>``, a backend's ``ray_resources``), and arrays of such tables
    (``instances``, ``backends``). Strings, booleans, integers and floats only."""
    lines: list[str] = []

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    def table(header: str, entries: Mapping[str, Any]) -> None:
        lines.append(header)
        nested = {k: v for k, v in entries.items() if isinstance(v, Mapping)}
        lines.extend(f"{k} = {value(v)}" for k, v in entries.items() if k not in nested)
        for name, sub in nested.items():
            table(f"[{header.strip('[]')}.{name}]", sub)

    for key, entries in config.items():
        if isinstance(entries, list | tuple):
            for entry in entries:
                table(f"[[{key}]]", entry)
        else:
            table(f"[{key}]", entries)
    return "\n".join(lines) + "\n"


def first_token(config: Mapping[str, Any]) -> str:
    """The first token of the config's first ``[[instances]]`` entry ("" without one)."""
    instances = config.get("instances") or [{}]
    tokens = instances[0].get("tokens") or [""]
    return str(tokens[0])


class Endpoint:
    """Where a test server listens and how to talk to it over gRPC.

    Subclasses set ``address`` (``host:port``), ``token`` (the default for
    :meth:`metadata`), ``backend`` (the backend clients submit to by default) and
    ``_channels`` (the channels :meth:`channel` opened, closed with the server).
    """

    address: str
    token: str
    backend: str
    _channels: list[grpc.Channel]

    def channel(self) -> grpc.Channel:
        """A new insecure channel to the server (closed when the server stops)."""
        import grpc

        channel = grpc.insecure_channel(self.address)
        self._channels.append(channel)
        return channel

    def metadata(self, token: str | None = None) -> tuple[tuple[str, str], ...]:
        """Call metadata authenticating as ``token`` (default: :attr:`token`)."""
        return (("authorization", f"Bearer {token or self.token}"),)

    def stubs(
        self, channel: grpc.Channel | None = None
    ) -> tuple[BackendServiceStub, SessionServiceStub, JobServiceStub]:
        """(BackendService, SessionService, JobService) stubs on ``channel`` (default: a new
        one)."""
        from qsession.v1 import backend_pb2_grpc, job_pb2_grpc, session_pb2_grpc

        channel = channel or self.channel()
        return (
            backend_pb2_grpc.BackendServiceStub(channel),
            session_pb2_grpc.SessionServiceStub(channel),
            job_pb2_grpc.JobServiceStub(channel),
        )

    def close_channels(self) -> None:
        """Close the channels :meth:`channel` opened."""
        for channel in self._channels:
            channel.close()
        self._channels.clear()


# ----------------------------------------------------------------------- in this process


@dataclass
class ServerHandle(Endpoint):
    """A server running in this process (see :func:`start_server`).

    Attributes:
        running: the started server (its runtime, bound port, dashboard).
        loop: the event loop it runs on, in its own thread.
    """

    address: str
    token: str = ""
    backend: str = "ideal_24"
    running: RunningServer | None = None
    loop: asyncio.AbstractEventLoop | None = None
    _channels: list[grpc.Channel] = field(default_factory=list)


@contextmanager
def start_server(
    config: Mapping[str, Any], *, token: str | None = None, startup_timeout: float = 120.0
) -> Iterator[ServerHandle]:
    """Run a server for ``config`` in a background thread with its own event loop; on exit
    close the handle's channels, stop it (5 s grace for running jobs) and end the thread.

    Args:
        config: the configuration dict (checked as a config file is).
        token: the handle's default token (default: :func:`first_token`).
        startup_timeout: seconds the server gets to start.

    Raises:
        qsession.config.ConfigError: the configuration is invalid.
        qsession.server.app.StartupError: the server cannot start as configured.
    """
    from qsession.config import parse_config
    from qsession.server.app import start_server as start

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="qsession-test-server", daemon=True)
    thread.start()
    try:
        running = asyncio.run_coroutine_threadsafe(
            start(parse_config(dict(config)), save_dev_account=False), loop
        ).result(timeout=startup_timeout)
    except BaseException:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        raise
    handle = ServerHandle(
        address=f"127.0.0.1:{running.port}",
        token=first_token(config) if token is None else token,
        running=running,
        loop=loop,
    )
    try:
        yield handle
    finally:
        handle.close_channels()
        asyncio.run_coroutine_threadsafe(running.stop(grace=5.0), loop).result(timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


# ------------------------------------------------------------------------ a child process


class ServerProcess(Endpoint):
    """One server configuration, run as ``qsession serve`` in a child process that can be
    killed and restarted on the same data directory. As a context manager it is started on
    entry and killed (SIGKILL) on exit if it still runs.

    Args:
        workdir: where the config file (``qsession.toml``), the server's log
            (``server.log``) and its ``QSESSION_HOME`` (``home``) go.
        config: the configuration dict; ``server.listen`` is replaced by a free port on
            127.0.0.1, kept across restarts.
        backend: the backend clients submit to by default.
        token: the default token (default: :func:`first_token`).
        log_level: the server's ``--log-level``.
        open_files: the soft RLIMIT_NOFILE the server starts with (its hard limit unchanged),
            as under ``ulimit -Sn``; None: this process's.
        log_to_file: write the server's stdout and stderr to ``server.log`` (else they go to
            this process's).
    """

    def __init__(
        self,
        workdir: Path,
        config: Mapping[str, Any],
        backend: str = "ideal_24",
        log_level: str = "INFO",
        open_files: int | None = None,
        *,
        token: str | None = None,
        log_to_file: bool = True,
    ):
        self.workdir = workdir
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.config: dict[str, Any] = {
            **config,
            "server": {**config["server"], "listen": self.address},
        }
        self.config_path = workdir / "qsession.toml"
        self.config_path.write_text(to_toml(self.config))
        self.log_path = workdir / "server.log"
        self.log_level = log_level
        self.open_files = open_files
        self.log_to_file = log_to_file
        self.process: subprocess.Popen[bytes] | None = None
        self.token = first_token(config) if token is None else token
        self.backend = backend
        self._channels = []

    @property
    def pid(self) -> int:
        """The server process's id (of the latest start)."""
        assert self.process is not None, "the server was never started"
        return self.process.pid

    def start(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Start the server and wait until its health service reports SERVING.

        Raises:
            ServerStartError: it exited, or was not SERVING within ``timeout`` seconds.
        """
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        log = self.log_path.open("ab") if self.log_to_file else None
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "qsession.cli",
                "serve",
                "--config",
                str(self.config_path),
                "--log-level",
                self.log_level,
            ],
            stdout=log,
            stderr=None if log is None else subprocess.STDOUT,
            env={**os.environ, "QSESSION_HOME": str(self.workdir / "home")},
            preexec_fn=None if self.open_files is None else self._limit_open_files,
        )
        if log is not None:
            log.close()
        channel = grpc.insecure_channel(self.address)
        health = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise ServerStartError(
                        f"the server exited with {self.process.returncode}: {self.log()}"
                    )
                try:
                    status = health.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                    if status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.1)
        finally:
            channel.close()
        raise ServerStartError(f"the server did not start within {timeout} s: {self.log()}")

    def _limit_open_files(self) -> None:
        """In the child, before exec: set the soft limit of open files."""
        assert self.open_files is not None
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, hard))

    def kill(self) -> None:
        """SIGKILL: the server dies at once, as in a crash or power loss."""
        assert self.process is not None, "the server was never started"
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.close_channels()

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM: a graceful shutdown. Returns the exit code."""
        assert self.process is not None, "the server was never started"
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self.close_channels()
        return code

    def log(self) -> str:
        """Everything the server wrote to ``server.log`` so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process itself (not its worker or sandbox
        children, which are separate processes), from /proc/<pid>/stat."""
        seconds = cpu_seconds(self.pid)
        if seconds is None:
            raise OSError(f"/proc/{self.pid}/stat cannot be read")
        return seconds

    def rss_bytes(self) -> int:
        """The server process's resident memory (VmRSS), in bytes."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise KeyError("VmRSS")

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()
        self.close_channels()
