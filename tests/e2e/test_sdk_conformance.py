"""IBM's own integration tests through qsession's SDK: the files ``test_ibm_conformance``
runs through IBM's client over HTTP, run a second time with the one-line import change a
user makes (``qiskit_ibm_runtime`` -> ``qsession``) against a live server over gRPC.

The sdist is downloaded at test time (``ibm_suite``) and gets a root ``conftest.py`` of our
own (``ibm_sdk_shim/conftest_template.py``) that maps IBM's public names to qsession's; the
tests themselves are run unmodified. ``test_account``'s service tests run too. Every test must
pass or skip itself, except those in PRIVATE (they reach IBM's private internals, which an
import change cannot map) and CLOUD_ONLY (they need IBM Cloud's IAM and resource services),
deselected by name, each with its reason.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import PREMIUM_TOKEN, base_config
from tests.e2e.ibm_suite import FILES, SERVER_BACKENDS, print_counts, run_suite, unpack_suite
from tests.e2e.server_process import ServerProcess

SHIM = Path(__file__).parent / "ibm_sdk_shim" / "conftest_template.py"
ACCOUNT = "test_account"
PRIVATE = {
    "test_session.py::TestIntegrationSession::test_session_from_id": (
        "patches service._get_api_client(), IBM's REST client"
    ),
    "test_backend.py::TestIntegrationBackend::test_least_busy": (
        "reads backend._instance (and then makes a service with no instance: IBM Cloud's "
        "Global Search picks one)"
    ),
    "test_backend.py::TestIBMBackend::test_backend_deepcopy": (
        "reads backend._instance and backend._api_client._session.base_url, IBM's REST session"
    ),
    "test_account.py::TestQuantumPlatform::test_jobs_before_backend": (
        "reads service._all_instances, IBM's cache of IBM Cloud instances"
    ),
    "test_account.py::TestIntegrationAccount::test_resolve_crn_for_valid_service_instance_name": (
        "reads service._account.instance, IBM's account object"
    ),
}
CLOUD_ONLY = {
    "test_session.py::TestIntegrationSession::test_session_instance_logic": (
        "resolves an instance name to a CRN with IBM Cloud's Resource Controller"
    ),
    "test_account.py::TestQuantumPlatform::test_initializing_service_no_instance": (
        "expects IBM Cloud's instance choice (free and trial plans, regions) to be logged"
    ),
    "test_account.py::TestQuantumPlatform::test_passing_name_as_instance": (
        "resolves an instance name to a CRN with IBM Cloud's Resource Controller"
    ),
    "test_account.py::TestQuantumPlatform::test_account_plans_preference": (
        "IBM Cloud's plans_preference over the account's instances"
    ),
    "test_account.py::TestQuantumPlatform::test_account_region_preference": ("IBM Cloud regions"),
    "test_account.py::TestQuantumPlatform::test_account_preferences_tags": (
        "IBM Cloud's Global Search for instance tags"
    ),
    "test_account.py::TestQuantumPlatform::test_instances_archived": (
        "IBM Cloud's Global Catalog (patched to fail)"
    ),
}


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Path:
    """The sdist's test tree, with the shim as its root conftest."""
    root = unpack_suite(
        tmp_path_factory.mktemp("ibm_sdist"), tmp_path_factory.mktemp("ibm_sdk_tests")
    )
    shutil.copy(SHIM, root / "conftest.py")
    return root


def test_ibms_integration_tests_pass_through_our_sdk(suite, tmp_path):
    (tmp_path / "server").mkdir()
    config = base_config(tmp_path / "server", backends=SERVER_BACKENDS)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QISKIT_IBM", "QSESSION"))}
    report = tmp_path / "junit.xml"
    files = [*FILES, ACCOUNT]
    deselect = [*PRIVATE, *CLOUD_ONLY]
    with ServerProcess(tmp_path / "server", config) as server:
        env |= {
            "HOME": str(home),  # no saved account is read
            "QSESSION_HOME": str(home),
            "QISKIT_IBM_URL": server.address,
            "QISKIT_IBM_TOKEN": PREMIUM_TOKEN,
            "QISKIT_IBM_INSTANCE": "lab",
            "QISKIT_IBM_QPU": "fake_torino",
        }
        run = run_suite(suite, files, deselect, env, report)
    print_counts("IBM integration tests through qsession's SDK", report, files)
    print(
        f"  deselected: {len(PRIVATE)} reaching IBM's private internals, {len(CLOUD_ONLY)} "
        "IBM Cloud-only"
    )
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
