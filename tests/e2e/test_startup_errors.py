"""Start-up faults an operator meets: each is one line on stderr and exit code 2.

A port already in use, a data directory the server cannot use and a TLS file that is not a
certificate are found before anything starts; `qsession serve` says which key and how to fix
it, without a traceback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from qsession.testing import free_port, to_toml
from tests.conftest import base_config


def serve(config: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "qsession.toml"
    path.write_text(to_toml(config))
    return subprocess.run(
        [sys.executable, "-m", "qsession.cli", "serve", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "QSESSION_HOME": str(tmp_path)},
    )


def assert_one_line_refusal(run: subprocess.CompletedProcess, *names: str) -> None:
    assert run.returncode == 2, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("qsession: ")]
    assert len(lines) == 1, run.stderr
    assert "Traceback" not in run.stderr
    for name in names:
        assert name in lines[0], lines[0]


def test_a_port_in_use_is_one_line_naming_the_listen_key(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = base_config(tmp_path / "data")
        config["server"]["listen"] = f"127.0.0.1:{port}"
        run = serve(config, tmp_path)
    assert_one_line_refusal(run, "server.listen", str(port), "cannot listen")


def test_a_data_directory_that_cannot_hold_the_database_is_one_line(tmp_path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the data directory should be")
    config = base_config(blocked / "data")
    config["server"]["listen"] = f"127.0.0.1:{free_port()}"
    run = serve(config, tmp_path)
    assert_one_line_refusal(run, "server.data_dir", "not-a-directory")


@pytest.mark.parametrize("content", ["not a certificate\n", ""])
def test_a_bad_tls_file_is_one_line_naming_the_tls_keys(tmp_path, content):
    (tmp_path / "server.crt").write_text(content)
    (tmp_path / "server.key").write_text(content)
    config = base_config(tmp_path / "data")
    config["server"].update(
        listen=f"127.0.0.1:{free_port()}",
        tls_cert=str(tmp_path / "server.crt"),
        tls_key=str(tmp_path / "server.key"),
    )
    run = serve(config, tmp_path)
    assert_one_line_refusal(run, "server.tls_cert", "PEM")
