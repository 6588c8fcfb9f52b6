"""Shared fixtures: a real qsession server on an ephemeral port, spoken to over gRPC.

``server`` is one server for the whole run (premium instance "lab", open instance "student",
backends ideal_24 and fake_torino). ``start_server(config)`` starts a dedicated one with its own
configuration (short timers for lifecycle tests) and stops it afterwards.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from qsession.v1 import backend_pb2_grpc, job_pb2_grpc, session_pb2_grpc

PREMIUM_TOKEN = "tok-lab"
OPEN_TOKEN = "tok-student"


def base_config(data_dir: Path, **overrides: Any) -> dict[str, Any]:
    """A config dict: two instances, ideal_24 and fake_torino, listening on an ephemeral port."""
    config: dict[str, Any] = {
        "server": {"listen": "127.0.0.1:0", "data_dir": str(data_dir)},
        "instances": [
            {"name": "lab", "plan": "premium", "tokens": [PREMIUM_TOKEN]},
            {"name": "student", "plan": "open", "tokens": [OPEN_TOKEN]},
        ],
        "backends": [
            {"name": "ideal_24", "profile": "ideal_24"},
            {"name": "fake_torino", "profile": "fake_torino"},
        ],
    }
    config.update(overrides)
    return config


@dataclass
class ServerHandle:
    """A running test server: where it listens and how to talk to it."""

    address: str
    token: str = PREMIUM_TOKEN
    open_token: str = OPEN_TOKEN
    backend: str = "ideal_24"
    running: Any = None
    loop: asyncio.AbstractEventLoop | None = None
    _channels: list[grpc.Channel] = field(default_factory=list)

    def channel(self) -> grpc.Channel:
        """A new insecure channel to the server (closed when the server stops)."""
        channel = grpc.insecure_channel(self.address)
        self._channels.append(channel)
        return channel

    def metadata(self, token: str | None = None) -> tuple[tuple[str, str], ...]:
        """Call metadata authenticating as ``token`` (default: the premium instance)."""
        return (("authorization", f"Bearer {token or self.token}"),)

    def stubs(self, channel: grpc.Channel | None = None):
        """(BackendService, SessionService, JobService) stubs on one channel."""
        channel = channel or self.channel()
        return (
            backend_pb2_grpc.BackendServiceStub(channel),
            session_pb2_grpc.SessionServiceStub(channel),
            job_pb2_grpc.JobServiceStub(channel),
        )


@contextmanager
def start_server(config: dict[str, Any]) -> Iterator[ServerHandle]:
    """Run a server for ``config`` in a background thread with its own event loop."""
    from qsession.config import parse_config
    from qsession.server.app import start_server as _start

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="qsession-test-server", daemon=True)
    thread.start()
    try:
        running = asyncio.run_coroutine_threadsafe(
            _start(parse_config(config), save_dev_account=False), loop
        ).result(timeout=120)
    except BaseException:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        raise
    handle = ServerHandle(address=f"127.0.0.1:{running.port}", running=running, loop=loop)
    try:
        yield handle
    finally:
        for channel in handle._channels:
            channel.close()
        asyncio.run_coroutine_threadsafe(running.stop(grace=5.0), loop).result(timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    """One real server shared by the tests that need no special configuration."""
    with start_server(base_config(tmp_path_factory.mktemp("qsession"))) as handle:
        yield handle
