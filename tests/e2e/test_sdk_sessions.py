"""Sessions and batches as qiskit-ibm-runtime users know them: context managers, details(),
status() strings, close versus cancel, and a clear error when a session takes no more jobs."""

from __future__ import annotations

import time

import pytest
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from qsession import (
    Batch,
    IBMInputValueError,
    IBMNotAuthorizedError,
    RuntimeInvalidStateError,
    RuntimeService,
    SamplerV2,
    Session,
    SessionClosedError,
)
from tests.conftest import base_config, start_server

IBM_DETAIL_KEYS = {
    "id", "backend_name", "interactive_timeout", "max_time", "active_timeout", "state",
    "accepting_jobs", "last_job_started", "last_job_completed", "started_at", "closed_at",
    "activated_at", "mode", "usage_time", "timestamps",
}  # fmt: skip
JOB_TIME = 1.0


@pytest.fixture(scope="module")
def service(server) -> RuntimeService:
    return RuntimeService(url=server.address, token=server.token)


@pytest.fixture(scope="module")
def slow_service(tmp_path_factory):
    """A server whose jobs each hold the QPU for JOB_TIME seconds, to catch them queued."""
    config = base_config(
        tmp_path_factory.mktemp("slow"),
        backends=[{"name": "ideal_24", "profile": "ideal_24", "min_job_duration": f"{JOB_TIME}s"}],
    )
    with start_server(config) as handle:
        yield RuntimeService(url=handle.address, token=handle.token)


def circuit(backend) -> QuantumCircuit:
    qc = QuantumCircuit(1)
    qc.x(0)
    qc.measure_all()
    return generate_preset_pass_manager(backend=backend, optimization_level=1).run(qc)


def wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_primitives_built_inside_the_block_run_in_its_session(service):
    backend = service.backend("ideal_24")
    with Session(backend=backend) as session:
        job = SamplerV2().run([circuit(backend)], shots=10)
    assert job.session_id == session.session_id
    assert job.result()[0].data.meas.get_counts() == {"1": 10}


def test_leaving_the_block_closes_the_session_and_its_jobs_still_complete(slow_service):
    backend = slow_service.backend("ideal_24")
    with Session(backend=backend) as session:
        sampler = SamplerV2()
        jobs = [sampler.run([circuit(backend)], shots=10) for _ in range(2)]
    assert session.details()["accepting_jobs"] is False
    assert [job.result()[0].data.meas.get_counts() for job in jobs] == [{"1": 10}] * 2
    wait_until(lambda: session.status() == "Closed")


def test_submitting_after_close_raises_session_closed(service):
    backend = service.backend("ideal_24")
    session = Session(backend=backend)
    sampler = SamplerV2(mode=session)
    session.close()
    with pytest.raises(SessionClosedError, match="closed"):
        sampler.run([circuit(backend)])


def test_submitting_to_a_session_closed_elsewhere_raises_session_closed(service):
    backend = service.backend("ideal_24")
    session = Session(backend=backend)
    same = Session.from_id(session.session_id, service)
    session.close()
    with pytest.raises(SessionClosedError) as info:
        SamplerV2(mode=same).run([circuit(backend)])
    assert info.value.field == "session_id"


def test_nested_blocks_restore_the_outer_session(service):
    backend = service.backend("ideal_24")
    with Session(backend=backend) as outer:
        with Batch(backend=backend) as inner:
            assert SamplerV2().mode is inner
        assert SamplerV2().mode is outer


def test_a_primitive_without_mode_outside_a_session_raises_value_error():
    with pytest.raises(ValueError, match="backend or session"):
        SamplerV2()


def test_a_backend_mode_inside_a_block_joins_the_session_only_for_the_same_backend(service):
    backend = service.backend("ideal_24")
    with Session(backend=backend) as session:
        assert SamplerV2(mode=backend).mode is session
        with pytest.raises(ValueError, match="different from the session backend"):
            SamplerV2(mode=service.backend("fake_torino"))


def test_details_have_qiskit_ibm_runtimes_keys_and_plan_defaults(service):
    session = Session(backend=service.backend("ideal_24"))
    details = session.details()
    session.close()
    assert set(details) == IBM_DETAIL_KEYS
    assert details["id"] == session.session_id
    assert details["backend_name"] == "ideal_24"
    assert (details["interactive_timeout"], details["max_time"]) == (60, 8 * 3600)
    assert (details["state"], details["accepting_jobs"], details["mode"]) == (
        "open",
        True,
        "dedicated",
    )
    assert details["started_at"] is None and details["usage_time"] is None
    assert [t["status"] for t in details["timestamps"]] == ["open"]


def test_status_goes_pending_then_in_progress_then_not_accepting_then_closed(slow_service):
    backend = slow_service.backend("ideal_24")
    session = Session(backend=backend)
    assert session.status() == "Pending"
    job = SamplerV2(mode=session).run([circuit(backend)], shots=10)
    wait_until(lambda: job.status() == "RUNNING")
    assert session.status() == "In progress, accepting new jobs"
    session.close()
    assert session.status() == "In progress, not accepting new jobs"
    job.result()
    wait_until(lambda: session.status() == "Closed")
    details = session.details()
    assert details["started_at"] is not None and details["closed_at"] is not None
    assert details["usage_time"] >= JOB_TIME * 0.9


def test_max_time_accepts_a_duration_string_or_seconds(service):
    backend = service.backend("ideal_24")
    with (
        Session(backend=backend, max_time="25m") as minutes,
        Session(backend=backend, max_time=600) as seconds,
    ):
        assert minutes.details()["max_time"] == 1500
        assert seconds.details()["max_time"] == 600


@pytest.mark.parametrize("max_time", ["10s", "9h", "soon"])
def test_a_max_time_outside_the_plan_or_unparseable_is_an_input_value_error(service, max_time):
    with pytest.raises(IBMInputValueError) as info:
        Session(backend=service.backend("ideal_24"), max_time=max_time)
    assert isinstance(info.value, ValueError)


def test_the_open_plan_cannot_open_a_session_but_can_open_a_batch(server):
    service = RuntimeService(url=server.address, token=server.open_token)
    backend = service.backend("ideal_24")
    with pytest.raises(IBMNotAuthorizedError):
        Session(backend=backend)
    with Batch(backend=backend) as batch:
        job = SamplerV2().run([circuit(backend)], shots=10)
        details = batch.details()
    assert (details["mode"], details["interactive_timeout"]) == ("batch", 0)
    assert job.result()[0].data.meas.num_shots == 10


def test_from_id_rebuilds_the_session_and_refuses_the_other_mode(service):
    backend = service.backend("ideal_24")
    with Batch(backend=backend) as batch:
        again = Batch.from_id(batch.session_id, service)
        assert (again.session_id, again.backend(), again.service) == (
            batch.session_id,
            "ideal_24",
            service,
        )
        with pytest.raises(IBMInputValueError, match="batch"):
            Session.from_id(batch.session_id, service)


def test_usage_is_none_before_the_first_job_and_counts_after(service):
    backend = service.backend("ideal_24")
    with Session(backend=backend) as session:
        assert session.usage() is None
        SamplerV2().run([circuit(backend)], shots=10).result()
        assert session.usage() > 0


def test_cancel_cancels_queued_jobs_and_lets_the_running_one_finish(slow_service):
    backend = slow_service.backend("ideal_24")
    session = Session(backend=backend)
    sampler = SamplerV2(mode=session)
    first = sampler.run([circuit(backend)], shots=10)
    rest = [sampler.run([circuit(backend)], shots=10) for _ in range(2)]
    wait_until(lambda: first.status() == "RUNNING")
    session.cancel()
    assert first.result()[0].data.meas.num_shots == 10
    for job in rest:
        with pytest.raises(RuntimeInvalidStateError, match="cancelled"):
            job.result()
        assert job.status() == "CANCELLED"
    with pytest.raises(SessionClosedError):
        sampler.run([circuit(backend)])
