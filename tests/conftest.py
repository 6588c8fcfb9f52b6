"""Shared fixtures: a real qsession server on an ephemeral port, spoken to over gRPC.

``server`` is one server for the whole run (premium instance "lab", open instance "student",
backends ideal_24 and fake_torino). ``start_server(config)`` starts a dedicated one with its own
configuration (short timers for lifecycle tests) and stops it afterwards. Both run in this
process through :func:`qsession.testing.start_server`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from qsession import testing

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
class ServerHandle(testing.ServerHandle):
    """A running test server, authenticating as the premium instance by default; the open
    instance's token is ``open_token``."""

    token: str = PREMIUM_TOKEN
    open_token: str = OPEN_TOKEN


@contextmanager
def start_server(config: dict[str, Any]) -> Iterator[ServerHandle]:
    """Run a server for ``config`` in a background thread with its own event loop."""
    with testing.start_server(config) as server:
        handle = ServerHandle(address=server.address, running=server.running, loop=server.loop)
        try:
            yield handle
        finally:
            handle.close_channels()


@contextmanager
def noisy_backend(data_dir: Path, profile: str) -> Iterator[Any]:
    """A live server whose one backend is ``profile`` with its noise model: yields that
    backend through the SDK, closes the service and stops the server after."""
    from qsession import RuntimeService

    config = base_config(data_dir, backends=[{"name": profile, "profile": profile, "noise": True}])
    with start_server(config) as handle:
        service = RuntimeService(url=handle.address, token=handle.token)
        try:
            yield service.backend(profile)
        finally:
            service.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    """One real server shared by the tests that need no special configuration."""
    with start_server(base_config(tmp_path_factory.mktemp("qsession"))) as handle:
        yield handle
