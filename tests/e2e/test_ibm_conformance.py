"""IBM's own integration tests as our conformance suite: the ``test/integration/`` files of
qiskit-ibm-runtime's released sdist (the version pinned in pyproject.toml), unmodified,
through the unmodified client against a live ``qsession serve`` over the IBM REST API.

The sdist is downloaded from PyPI at test time (its tests are never copied into this
repository) and its ``test/`` tree run with the installed client (see ``ibm_suite``: the
files, in the order they run in one pytest process, and the server's backends).
``test_sdk_conformance`` runs the same files through qsession's own SDK.

Every test must pass or skip itself (for a device feature no emulated backend has), except
the IBM Cloud-only cases in CLOUD_ONLY, which are deselected by name, each with its reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qsession.config import crn_of
from qsession.testing import free_port
from tests.conftest import PREMIUM_TOKEN, base_config
from tests.e2e.ibm_suite import FILES, SERVER_BACKENDS, print_counts, run_suite, unpack_suite
from tests.e2e.server_process import ServerProcess

CLOUD_ONLY = {
    "test_session.py::TestIntegrationSession::test_session_instance_logic": (
        "makes a service with no instance, which the client resolves through IBM Cloud's "
        "IAM host (iam.<domain of the API URL>) and Global Search; a self-hosted server has "
        "neither, and the README's recipe names the instance"
    ),
    "test_backend.py::TestIntegrationBackend::test_least_busy": (
        "its second half makes a service with no instance, resolved by IBM Cloud's Global "
        "Search as above"
    ),
}


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Path:
    """The sdist's test tree (and its pytest configuration), unpacked from PyPI."""
    return unpack_suite(tmp_path_factory.mktemp("ibm_sdist"), tmp_path_factory.mktemp("ibm_tests"))


def test_ibms_integration_tests_pass_through_the_unmodified_client(suite, tmp_path):
    port = free_port()
    (tmp_path / "server").mkdir()
    config = base_config(
        tmp_path / "server",
        backends=SERVER_BACKENDS,
        ibm_api={"listen": f"127.0.0.1:{port}"},
    )
    home = tmp_path / "home"
    home.mkdir()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QISKIT_IBM", "QSESSION"))}
    env |= {
        "HOME": str(home),  # no saved IBM account is read
        "QISKIT_IBM_URL": f"{base}/experimental/api/v1",
        "IAM_URL": base,
        "QISKIT_IBM_TOKEN": PREMIUM_TOKEN,
        "QISKIT_IBM_INSTANCE": crn_of("lab"),
        "QISKIT_FUNCTIONS_EXPERIMENTAL": "1",
        "QISKIT_IBM_QPU": "fake_torino",
    }
    report = tmp_path / "junit.xml"
    with ServerProcess(tmp_path / "server", config):
        run = run_suite(suite, FILES, list(CLOUD_ONLY), env, report)
    print_counts("IBM integration tests", report, FILES)
    print(f"  deselected as IBM Cloud-only: {len(CLOUD_ONLY)}")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
