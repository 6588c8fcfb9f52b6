"""IBM's integration tests, as both conformance runs use them: qiskit-ibm-runtime's released
sdist (the version pinned in pyproject.toml) downloaded from PyPI at test time, its ``test/``
tree unpacked (never copied into this repository), the files both runs execute, and their
per-file counts from a JUnit report."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ElementTree
from collections import Counter
from pathlib import Path

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
"""The files run, in this order (a test of ``test_ibm_job`` lists jobs the earlier files
finished)."""
SERVER_BACKENDS = [
    {"name": "test_eagle", "profile": "fake_brisbane", "min_job_duration": "5s"},
    {"name": "fake_torino", "profile": "fake_torino"},
    {"name": "ideal_24", "profile": "ideal_24"},
    {"name": "fake_fez", "profile": "fake_fez"},
]
"""The backends the suite's fixtures look for: ``test_eagle`` (IBM's staging device, here the
fake_brisbane profile) listed first, with jobs of at least 5 s, as a QPU's take, so that jobs
are seen QUEUED and RUNNING and ``result(timeout=...)`` can time out; and fake_torino (the
suite's ``QISKIT_IBM_QPU``), ideal_24 and fake_fez."""
SUITE_TIMEOUT = 1200  # seconds for the whole suite


def unpack_suite(where: Path, root: Path) -> Path:
    """Download the sdist into ``where`` and copy its ``test/`` tree and its pytest
    configuration (``pyproject.toml``: the suite's markers) into ``root``; returns ``root``."""
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
    shutil.copytree(source / "test", root / "test")
    shutil.copy(source / "pyproject.toml", root / "pyproject.toml")
    return root


def counts(report: Path, files: list[str]) -> dict[str, Counter]:
    """Passed, failed and skipped tests per file of a JUnit report."""
    per_file: dict[str, Counter] = {name: Counter() for name in files}
    for case in ElementTree.parse(report).iter("testcase"):
        classname = case.get("classname", "")
        module = classname.split(".")[2] if classname.count(".") >= 2 else classname
        outcome = "passed"
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        elif case.find("skipped") is not None:
            outcome = "skipped"
        per_file.setdefault(module, Counter())[outcome] += 1
    return per_file


def print_counts(title: str, report: Path, files: list[str]) -> None:
    """Print the per-file counts of a JUnit report under ``title``."""
    print(f"{title} per file (passed, failed, skipped):")
    for name, c in counts(report, files).items():
        print(f"  {name}: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped")


def run_suite(
    suite: Path, files: list[str], deselect: list[str], env: dict[str, str], report: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``files`` (names under ``test/integration/``) of the unpacked suite with pytest in
    a child process, but the ``deselect``ed test ids (relative to ``test/integration/``),
    with ``env``; a JUnit report to ``report``."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *(f"test/integration/{name}.py" for name in files),
            *(f"--deselect=test/integration/{test}" for test in deselect),
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
