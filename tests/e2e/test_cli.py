"""The ``qsession`` client commands, run as subprocesses against a live server, with their
``--json`` output parsed; the account comes from a saved account (``RuntimeService()``'s
lookup), as a user's would."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from qsession import RuntimeService, SamplerV2, Session
from tests.circuits import bell
from tests.conftest import base_config, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    config = base_config(
        tmp_path_factory.mktemp("cli"),
        backends=[
            {"name": "ideal_24", "profile": "ideal_24"},
            {"name": "slow", "profile": "ideal_24", "min_job_duration": "30s"},
        ],
    )
    with start_server(config) as handle:
        yield handle


@pytest.fixture(scope="module")
def env(server, tmp_path_factory) -> dict[str, str]:
    """An environment whose default saved account is the server's premium instance."""
    home = tmp_path_factory.mktemp("home")
    (home / "accounts.json").write_text(
        json.dumps(
            {"lab": {"url": server.address, "token": server.token, "is_default_account": True}}
        )
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("QSESSION_")}
    return environment | {"QSESSION_HOME": str(home)}


def qsession(env, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qsession.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def workload(server):
    """A session with two jobs and one job-mode job tagged "cli"."""
    service = RuntimeService(url=server.address, token=server.token)
    backend = service.backend("ideal_24")
    with Session(backend=backend) as session:
        sampler = SamplerV2(mode=session)
        in_session = [sampler.run([bell()], shots=50) for _ in range(2)]
        for job in in_session:
            job.result()
    sampler = SamplerV2(mode=backend)
    sampler.options.environment.job_tags = ["cli"]
    alone = sampler.run([bell()], shots=50)
    alone.result()
    return session.session_id, [j.job_id() for j in in_session], alone.job_id()


def test_jobs_and_sessions_list_the_instance_work_as_json(env, workload):
    session_id, session_jobs, alone = workload
    listed = qsession(env, "jobs", "--json")
    assert listed.returncode == 0, listed.stderr
    jobs = json.loads(listed.stdout)
    assert [job["id"] for job in jobs][:3] == [alone, *reversed(session_jobs)]
    assert all(job["status"] == "DONE" for job in jobs[:3])
    assert jobs[0]["tags"] == ["cli"] and jobs[1]["session_id"] == session_id

    tagged = json.loads(qsession(env, "jobs", "--json", "--tag", "cli").stdout)
    assert [job["id"] for job in tagged] == [alone]

    sessions = json.loads(qsession(env, "sessions", "--json").stdout)
    assert sessions[0]["id"] == session_id and sessions[0]["mode"] == "dedicated"

    table = qsession(env, "jobs")
    assert table.returncode == 0 and alone in table.stdout and "STATUS" in table.stdout


def test_job_shows_details_metrics_and_logs(env, workload):
    _, _, alone = workload
    shown = qsession(env, "job", alone, "--json")
    assert shown.returncode == 0, shown.stderr
    job = json.loads(shown.stdout)
    assert job["id"] == alone and job["status"] == "DONE"
    assert job["metrics"]["usage"]["quantum_seconds"] >= 0
    assert any("DONE" in line for line in job["logs"])
    missing = qsession(env, "job", "no-such-job")
    assert missing.returncode == 1 and "qsession: error:" in missing.stderr


def test_watch_follows_a_job_that_cancel_stops(server, env):
    service = RuntimeService(url=server.address, token=server.token)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "qsession.cli", "watch", "--json", "--tag", "watched",
         "--timeout", "60"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        import time

        time.sleep(3)  # the watch starts "from now"
        sampler = SamplerV2(mode=service.backend("slow"))
        sampler.options.environment.job_tags = ["watched"]
        job = sampler.run([bell()], shots=10)
        deadline = time.monotonic() + 30
        while job.status() != "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        cancelled = qsession(env, "cancel", job.job_id(), "--json")
        assert cancelled.returncode == 0, cancelled.stderr
        assert json.loads(cancelled.stdout)["id"] == job.job_id()
        events = []
        for line in watcher.stdout:  # one JSON object per line, as they happen
            events.append(json.loads(line))
            if events[-1]["status"] == "CANCELLED":
                break
    finally:
        watcher.kill()
        watcher.communicate()
    statuses = [e["status"] for e in events]
    # a cancel while RUNNING is a change too (cancel requested), then the job ends CANCELLED
    assert sorted(set(statuses), key=statuses.index) == ["QUEUED", "RUNNING", "CANCELLED"]
    assert {e["job_id"] for e in events} == {job.job_id()}


def test_text_a_user_wrote_reaches_the_terminal_with_its_control_characters_escaped(server, env):
    """A tag holding an escape sequence (one that would clear the screen) is printed in the
    table and in ``job`` as ``\\x1b[2J``, never as the raw sequence."""
    service = RuntimeService(url=server.address, token=server.token)
    sampler = SamplerV2(mode=service.backend("ideal_24"))
    sampler.options.environment.job_tags = ["evil\x1b[2Jtag"]
    job = sampler.run([bell()], shots=10)
    job.result()
    for args in (("jobs", "--tag", "evil\x1b[2Jtag"), ("job", job.job_id())):
        shown = qsession(env, *args)
        assert shown.returncode == 0, shown.stderr
        assert "evil\\x1b[2Jtag" in shown.stdout and "\x1b" not in shown.stdout
    service.close()


def test_ibm_env_prints_the_exports_of_ibms_client_recipe(env):
    shown = qsession(env, "ibm-env", "--url", "http://127.0.0.1:8081/", "--token", "t k")
    assert shown.returncode == 0, shown.stderr
    exports = dict(line.removeprefix("export ").split("=", 1) for line in shown.stdout.splitlines())
    assert exports == {
        "QISKIT_IBM_URL": "http://127.0.0.1:8081/experimental/api/v1",
        "IAM_URL": "http://127.0.0.1:8081",
        "QISKIT_IBM_TOKEN": "'t k'",
        "QISKIT_IBM_INSTANCE": "crn:v1:qsession:local:quantum-computing:local:a/qsession:local::",
        "QISKIT_FUNCTIONS_EXPERIMENTAL": "1",
    }
