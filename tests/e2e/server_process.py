"""A qsession server in its own process (`qsession serve --config FILE`), for tests that kill it.

``ServerProcess`` is :class:`qsession.testing.ServerProcess` authenticating as the premium
instance (``tests.conftest.PREMIUM_TOKEN``) by default: it writes the TOML config, picks a free
port, starts the console script, waits until health says SERVING, and can stop it with SIGKILL
or SIGTERM and start it again on the same data directory.
"""

from __future__ import annotations

from typing import Any

from qsession import testing
from tests.conftest import PREMIUM_TOKEN


class ServerProcess(testing.ServerProcess):
    """One server configuration, run as a child process that can be killed and restarted:
    :class:`qsession.testing.ServerProcess` (same arguments) with the premium token."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, token=PREMIUM_TOKEN, **kwargs)
