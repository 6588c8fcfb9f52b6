"""A qsession server in its own process (`qsession serve --config FILE`), for tests that kill it.

``ServerProcess`` is :class:`qsession.testing.ServerProcess` authenticating as the premium
instance (``tests.conftest.PREMIUM_TOKEN``) by default: it writes the TOML config, picks a free
port, starts the console script, waits until health says SERVING, and can stop it with SIGKILL
or SIGTERM and start it again on the same data directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qsession import testing
from tests.conftest import PREMIUM_TOKEN


class ServerProcess(testing.ServerProcess):
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
        super().__init__(workdir, config, backend, log_level, open_files, token=PREMIUM_TOKEN)
