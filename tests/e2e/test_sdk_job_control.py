"""Waiting on, cancelling and failing jobs: result() waits on the event stream, timeouts and
failures raise qiskit-ibm-runtime's exceptions with the server's reason."""

from __future__ import annotations

import time

import pytest
from qiskit import QuantumCircuit
from qiskit.providers import JobError, JobTimeoutError

from qsession import (
    RuntimeInvalidStateError,
    RuntimeJobFailureError,
    RuntimeJobTimeoutError,
    RuntimeService,
    SamplerV2,
)
from tests.conftest import base_config, start_server

JOB_TIME = 1.2


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    """ideal_24 on a server that holds each job RUNNING for at least JOB_TIME seconds."""
    config = base_config(
        tmp_path_factory.mktemp("control"),
        backends=[{"name": "ideal_24", "profile": "ideal_24", "min_job_duration": f"{JOB_TIME}s"}],
    )
    with start_server(config) as handle:
        yield RuntimeService(url=handle.address, token=handle.token).backend("ideal_24")


def one() -> QuantumCircuit:
    circuit = QuantumCircuit(1)
    circuit.x(0)
    circuit.measure_all()
    return circuit


def wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_result_waits_for_a_queued_job_and_returns_its_data(backend):
    sampler = SamplerV2(mode=backend)
    first = sampler.run([one()], shots=8)
    second = sampler.run([one()], shots=8)
    assert second.status() == "QUEUED"
    assert second.result()[0].data.meas.get_counts() == {"1": 8}
    assert first.status() == "DONE"
    assert first.metrics()["timestamps"]["finished"] <= second.metrics()["timestamps"]["running"]


def test_cancelling_a_queued_job_cancels_it_and_result_raises(backend):
    sampler = SamplerV2(mode=backend)
    running = sampler.run([one()], shots=8)
    queued = sampler.run([one()], shots=8)
    queued.cancel()
    assert queued.status() == "CANCELLED" and queued.cancelled()
    with pytest.raises(RuntimeInvalidStateError, match="cancelled"):
        queued.result()
    assert running.result()[0].data.meas.num_shots == 8


def test_cancelling_a_finished_job_raises_invalid_state(backend):
    job = SamplerV2(mode=backend).run([one()], shots=8)
    job.result()
    with pytest.raises(RuntimeInvalidStateError):
        job.cancel()


def test_a_job_over_its_max_execution_time_fails_with_the_servers_reason(backend):
    sampler = SamplerV2(mode=backend, options={"max_execution_time": 1})
    job = sampler.run([one()], shots=8)
    with pytest.raises(RuntimeJobFailureError, match="max_execution_time") as info:
        job.result()
    assert isinstance(info.value, JobError)
    assert job.status() == "ERROR" and job.errored()
    assert "max_execution_time" in job.error_message()


def test_result_with_a_timeout_raises_a_timeout_error_and_can_be_retried(backend):
    job = SamplerV2(mode=backend).run([one()], shots=8)
    with pytest.raises(RuntimeJobTimeoutError) as info:
        job.result(timeout=0.2)
    assert isinstance(info.value, JobTimeoutError)
    assert job.result()[0].data.meas.num_shots == 8


def test_usage_is_zero_until_the_job_finishes(backend):
    job = SamplerV2(mode=backend).run([one()], shots=8)
    wait_until(lambda: job.status() == "RUNNING")
    assert job.usage() == 0
    job.result()
    assert job.usage() >= JOB_TIME * 0.9


def test_the_result_is_downloaded_once_and_each_call_returns_a_new_object(backend, monkeypatch):
    job = SamplerV2(mode=backend).run([one()], shots=8)
    first = job.result()

    def no_second_download(*args, **kwargs):
        raise AssertionError("the result was downloaded again")

    monkeypatch.setattr(job._operations.jobs, "result", no_second_download)
    second = job.result()
    assert second is not first and second.metadata is not first.metadata
    assert second[0].data.meas == first[0].data.meas
