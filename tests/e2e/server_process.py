"""A qsession server in its own process (`qsession serve --config FILE`), for tests that kill it.

``ServerProcess`` writes the TOML config, picks a free port, starts the console script, waits
until health says SERVING, and can stop it with SIGKILL or SIGTERM and start it again on the
same data directory.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from qsession.v1 import backend_pb2_grpc, job_pb2_grpc, session_pb2_grpc
from tests.conftest import PREMIUM_TOKEN

STARTUP_TIMEOUT = 90.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def to_toml(config: dict[str, Any]) -> str:
    """TOML text for a config of tables of scalars and arrays of such tables (no nesting deeper
    than ``plans.<name>``)."""
    lines: list[str] = []

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    def table(header: str, entries: dict[str, Any]) -> None:
        lines.append(header)
        nested = {k: v for k, v in entries.items() if isinstance(v, dict)}
        lines.extend(f"{k} = {value(v)}" for k, v in entries.items() if k not in nested)
        for name, sub in nested.items():
            table(f"[{header.strip('[]')}.{name}]", sub)

    for key, entries in config.items():
        if isinstance(entries, list):
            for entry in entries:
                table(f"[[{key}]]", entry)
        else:
            table(f"[{key}]", entries)
    return "\n".join(lines) + "\n"


class ServerProcess:
    """One server configuration, run as a child process that can be killed and restarted.

    Args:
        workdir: where the config file and the server's log go.
        config: the config dict (see ``tests.conftest.base_config``); ``server.listen`` is
            replaced by a free port, kept across restarts.
        backend: the backend ``RawClient`` submits to by default.
        log_level: the server's ``--log-level``.
        open_files: the soft RLIMIT_NOFILE the server starts with (its hard limit unchanged),
            as under ``ulimit -Sn``; None: this process's.
    """

    def __init__(
        self,
        workdir: Path,
        config: dict[str, Any],
        backend: str = "ideal_24",
        log_level: str = "INFO",
        open_files: int | None = None,
    ):
        self.workdir = workdir
        self.port = free_port()
        self.config = {**config, "server": {**config["server"], "listen": f"127.0.0.1:{self.port}"}}
        self.config_path = workdir / "qsession.toml"
        self.config_path.write_text(to_toml(self.config))
        self.log_path = workdir / "server.log"
        self.log_level = log_level
        self.open_files = open_files
        self.process: subprocess.Popen | None = None
        self.token = PREMIUM_TOKEN
        self.backend = backend
        self._channels: list[grpc.Channel] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Start the server and wait until it reports SERVING."""
        log = self.log_path.open("ab")
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
            stderr=subprocess.STDOUT,
            env={**os.environ, "QSESSION_HOME": str(self.workdir / "home")},
            preexec_fn=None if self.open_files is None else self._limit_open_files,
        )
        log.close()
        channel = grpc.insecure_channel(self.address)
        health = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(
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
        raise AssertionError(f"the server did not start within {timeout} s: {self.log()}")

    def _limit_open_files(self) -> None:
        """In the child, before exec: set the soft limit of open files."""
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, hard))

    def kill(self) -> None:
        """SIGKILL: the server dies at once, as in a crash or power loss."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self._close_channels()

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM: a graceful shutdown. Returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self._close_channels()
        return code

    def log(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def channel(self) -> grpc.Channel:
        channel = grpc.insecure_channel(self.address)
        self._channels.append(channel)
        return channel

    def stubs(self):
        """(BackendService, SessionService, JobService) stubs on a new channel."""
        channel = self.channel()
        return (
            backend_pb2_grpc.BackendServiceStub(channel),
            session_pb2_grpc.SessionServiceStub(channel),
            job_pb2_grpc.JobServiceStub(channel),
        )

    def metadata(self, token: str | None = None) -> tuple[tuple[str, str], ...]:
        """Call metadata authenticating as ``token`` (default: the premium instance's)."""
        return (("authorization", f"Bearer {token or self.token}"),)

    def _close_channels(self) -> None:
        for channel in self._channels:
            channel.close()
        self._channels.clear()

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()
        self._close_channels()
