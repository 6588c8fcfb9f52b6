"""IBM's own integration tests as our conformance suite: the ``test/integration/`` files of
qiskit-ibm-runtime's released sdist (the version pinned in pyproject.toml), unmodified,
through the unmodified client against a live ``qsession serve`` over the IBM REST API.

The sdist is downloaded from PyPI at test time (its tests are never copied into this
repository) and its ``test/`` tree run with the installed client. The server has the backends
the suite's fixtures look for: ``test_eagle`` (IBM's staging device, here the fake_brisbane
profile) listed first, with jobs of at least 5 s, as a QPU's take, so that jobs are seen
QUEUED and RUNNING and ``result(timeout=...)`` can time out; and fake_torino (the suite's
``QISKIT_IBM_QPU``), ideal_24 and fake_fez. The files run in one pytest process in the order
below: a test of ``test_ibm_job`` lists jobs finished by the earlier files.

Every test must pass or skip itself (for a device feature no emulated backend has), except
the IBM Cloud-only cases in CLOUD_ONLY, which are deselected by name, each with its reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ElementTree
from collections import Counter
from pathlib import Path

import pytest

from qsession.config import crn_of
from qsession.testing import free_port
from tests.conftest import PREMIUM_TOKEN, base_config
from tests.e2e.server_process import ServerProcess

CLIENT = "qiskit-ibm-runtime==0.51.0"
FILES = [
    "test_session",
    "test_sampler_v2",
    "test_estimator_v2",
    "test_job",
    "test_ibm_job",
    "test_ibm_job_attributes",
    "test_retrieve_job",
    "test_results",
    "test_backend",
    "test_backend_serialization",
]
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
SUITE_TIMEOUT = 1200  # seconds for the whole suite


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Path:
    """The sdist's test tree (and its pytest configuration), unpacked from PyPI."""
    where = tmp_path_factory.mktemp("ibm_sdist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--quiet",
            "--dest",
            str(where),
            CLIENT,
        ],
        check=True,
        timeout=300,
    )
    (archive,) = where.glob("*.tar.gz")
    with tarfile.open(archive) as sdist:
        sdist.extractall(where, filter="data")
    (source,) = (p for p in where.iterdir() if p.is_dir())
    root = tmp_path_factory.mktemp("ibm_tests")
    shutil.copytree(source / "test", root / "test")
    shutil.copy(source / "pyproject.toml", root / "pyproject.toml")  # the suite's markers
    return root


def test_ibms_integration_tests_pass_through_the_unmodified_client(suite, tmp_path):
    port = free_port()
    (tmp_path / "server").mkdir()
    config = base_config(
        tmp_path / "server",
        backends=[
            {"name": "test_eagle", "profile": "fake_brisbane", "min_job_duration": "5s"},
            {"name": "fake_torino", "profile": "fake_torino"},
            {"name": "ideal_24", "profile": "ideal_24"},
            {"name": "fake_fez", "profile": "fake_fez"},
        ],
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
    deselect = [f"--deselect=test/integration/{name}" for name in CLOUD_ONLY]
    files = [f"test/integration/{name}.py" for name in FILES]
    with ServerProcess(tmp_path / "server", config):
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                *files,
                *deselect,
                "--import-mode=prepend",
                "-p",
                "no:cacheprovider",
                "-q",
                "-rfE",
                f"--junitxml={report}",
            ],
            cwd=suite,
            env=env,
            capture_output=True,
            text=True,
            timeout=SUITE_TIMEOUT,
        )
    counts = _counts(report)
    print("IBM integration tests per file (passed, failed, skipped):")
    for name in FILES:
        c = counts[name]
        print(f"  {name}: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped")
    print(f"  deselected as IBM Cloud-only: {len(CLOUD_ONLY)}")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]


def _counts(report: Path) -> dict[str, Counter]:
    counts: dict[str, Counter] = {name: Counter() for name in FILES}
    for case in ElementTree.parse(report).iter("testcase"):
        module = case.get("classname", "").split(".")[2] if case.get("classname") else ""
        outcome = "passed"
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        elif case.find("skipped") is not None:
            outcome = "skipped"
        counts.setdefault(module, Counter())[outcome] += 1
    return counts
