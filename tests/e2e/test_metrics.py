"""``GET /metrics``: the Prometheus text format, parsed by prometheus_client's own parser, with
values that match the jobs and sessions this test runs on a server of its own."""

from __future__ import annotations

import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from qsession import RuntimeService, SamplerV2, Session
from qsession.client.service import HELD_RESULT_STREAMS
from tests.circuits import bell
from tests.conftest import base_config, start_server

JOBS = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    config = base_config(tmp_path_factory.mktemp("metrics"), dashboard={"listen": "127.0.0.1:0"})
    with start_server(config) as handle:
        yield handle


def scrape(handle) -> dict[str, dict[tuple, float]]:
    """Every sample of /metrics: name -> {sorted label pairs: value}."""
    url = f"http://127.0.0.1:{handle.running.dashboard.port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


def test_metrics_count_the_jobs_sessions_and_rpcs_run(server):
    before = scrape(server)
    assert value(before, "qsession_jobs_total", backend="ideal_24", state="DONE") == 0
    service = RuntimeService(url=server.address, token=server.token)
    backend = service.backend("ideal_24")
    with Session(backend=backend) as session:
        sampler = SamplerV2(mode=session)
        for _ in range(JOBS):
            sampler.run([bell()], shots=100).result()
        active = scrape(server)
        assert value(active, "qsession_sessions", mode="dedicated", state="active") == 1
    sampler_job_mode = SamplerV2(mode=backend)
    last = sampler_job_mode.run([bell()], shots=10)
    last.result()
    # result() may come before the job's DONE is stored; a read answers once it is
    service.job(last.job_id())

    after = scrape(server)
    total = JOBS + 1
    for state in ("QUEUED", "RUNNING", "DONE"):
        assert value(after, "qsession_jobs_total", backend="ideal_24", state=state) == total
    assert value(after, "qsession_jobs_unfinished", backend="ideal_24", state="QUEUED") == 0
    assert value(after, "qsession_jobs_unfinished", backend="ideal_24", state="RUNNING") == 0
    assert value(after, "qsession_backend_queue_length", backend="ideal_24") == 0
    assert value(after, "qsession_job_queue_wait_seconds_count", backend="ideal_24") == total
    assert (
        value(after, "qsession_job_execution_seconds_count", backend="ideal_24", state="DONE")
        == total
    )
    assert value(after, "qsession_job_execution_seconds_sum", backend="ideal_24", state="DONE") > 0
    assert value(after, "qsession_sessions", mode="dedicated", state="active") == 0
    # leaving the with-block closes the session; it ends once drained
    assert value(after, "qsession_sessions_closed_total", mode="dedicated", reason="closed") == 1
    revision = server.running.runtime.revision
    assert value(after, "qsession_event_log_revision") == revision
    # usage against allocation per configured instance: the lab's jobs' modelled QPU time
    used = value(after, "qsession_instance_usage_seconds", instance="lab")
    assert used == pytest.approx(service.usage()["usage_consumed_seconds"], abs=1)
    assert used >= total * 3.0  # each job's 3 s overhead at least
    assert value(after, "qsession_instance_usage_seconds", instance="student") == 0
    assert value(after, "qsession_instance_allocation_seconds", instance="student") == 600
    assert value(after, "qsession_instance_limit_reached", instance="student") == 0
    assert value(after, "qsession_watchers") >= 0
    # the SDK submits each job and receives its result with one RunJob call
    submitted = value(
        after, "qsession_rpc_requests_total", method="/qsession.v1.JobService/RunJob", code="OK"
    )
    assert submitted == total
    assert (
        value(
            after,
            "qsession_rpc_duration_seconds_count",
            method="/qsession.v1.JobService/RunJob",
            code="OK",
        )
        == total
    )


def test_metrics_count_refused_calls_by_code(server):
    service = RuntimeService(url=server.address, token="not-a-token", retry_timeout=0)
    with pytest.raises(Exception):  # noqa: B017 - which SDK error is beside the point here
        service.backends()
    # A call is counted when its handler returns on the server, which may be just after the
    # client has its answer: scrape until it shows, for a few seconds at most.
    deadline = time.monotonic() + 5
    while True:
        samples = scrape(server)
        refused = [
            labels
            for labels, count in samples["qsession_rpc_requests_total"].items()
            if dict(labels)["code"] == "UNAUTHENTICATED" and count >= 1
        ]
        if refused or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert refused, samples["qsession_rpc_requests_total"]


def test_the_sdk_submits_every_job_with_run_job_however_many_results_it_reads(server):
    """result() returns once the result is in and leaves the stream's end (the server's
    status) to be read in the background; each stream's place is given back then, so jobs
    read one after another never run out of places (HELD_RESULT_STREAMS) and fall back to
    CreateJob."""
    run_job = "/qsession.v1.JobService/RunJob"
    create_job = "/qsession.v1.JobService/CreateJob"
    before = scrape(server)
    service = RuntimeService(url=server.address, token=server.token)
    sampler = SamplerV2(mode=service.backend("ideal_24"))
    jobs = 3 * HELD_RESULT_STREAMS
    for _ in range(jobs):
        job = sampler.run([bell()], shots=10)
        assert job.result()[0].data.meas.num_shots == 10
    service.job(job.job_id())  # a read: every change so far is stored
    after = scrape(server)
    for method, sent in ((run_job, jobs), (create_job, 0)):
        count = value(after, "qsession_rpc_requests_total", method=method, code="OK")
        assert (
            count - value(before, "qsession_rpc_requests_total", method=method, code="OK") == sent
        )
