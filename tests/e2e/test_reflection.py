"""Issue 16: the contract describes itself. Reflection serves descriptors built with source
info, so `grpcurl describe` against a live server shows the proto comments, the documentation
a client in any language reads."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def grpcurl() -> str:
    """The pinned grpcurl, installed by scripts/go_tools.sh (skip without a Go toolchain)."""
    if shutil.which("go") is None:
        pytest.skip("go not found on PATH: grpcurl is installed with go install")
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "go_tools.sh")],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    return str(Path(done.stdout.strip().splitlines()[-1]) / "grpcurl")


def describe(grpcurl: str, server, symbol: str) -> str:
    done = subprocess.run(
        [grpcurl, "-plaintext", server.address, "describe", symbol],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_grpcurl_describe_shows_a_services_comment(grpcurl, server):
    text = describe(grpcurl, server, "qsession.v1.TranspilerService")
    assert "Qiskit's preset pass manager" in text
    assert "rpc Transpile ( .qsession.v1.TranspileRequest )" in text


def test_grpcurl_describe_shows_field_and_enum_value_comments(grpcurl, server):
    assert "highest physical" in describe(grpcurl, server, "qsession.v1.PauliTerm")
    assert "not an ISA circuit" in describe(grpcurl, server, "qsession.v1.ErrorReason")
    assert "until_final" in describe(grpcurl, server, "qsession.v1.WatchJobsRequest")


def test_grpcurl_lists_every_service(grpcurl, server):
    done = subprocess.run(
        [grpcurl, "-plaintext", server.address, "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) >= {
        "qsession.v1.BackendService",
        "qsession.v1.JobService",
        "qsession.v1.SessionService",
        "qsession.v1.InstanceService",
        "qsession.v1.TranspilerService",
        "grpc.health.v1.Health",
    }
    assert "rpc Check" in describe(grpcurl, server, "grpc.health.v1.Health")
