"""RuntimeService.jobs(): newest first, filtered like qiskit-ibm-runtime's, following pages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from qiskit import QuantumCircuit

from qsession import IBMInputValueError, RuntimeService, SamplerV2, Session
from qsession.client import service as service_module

COUNT = 5


@pytest.fixture(scope="module")
def service(server) -> RuntimeService:
    return RuntimeService(url=server.address, token=server.token)


@pytest.fixture(scope="module")
def tagged(service):
    """(tag, jobs in submission order): COUNT finished jobs carrying a unique tag."""
    tag = f"list-{uuid.uuid4()}"
    circuit = QuantumCircuit(1)
    circuit.measure_all()
    sampler = SamplerV2(
        mode=service.backend("ideal_24"), options={"environment": {"job_tags": [tag]}}
    )
    jobs = [sampler.run([circuit], shots=4) for _ in range(COUNT)]
    for job in jobs:
        job.result()
    return tag, jobs


def ids(jobs) -> list[str]:
    return [job.job_id() for job in jobs]


def test_jobs_are_listed_newest_first(service, tagged):
    tag, jobs = tagged
    assert ids(service.jobs(job_tags=[tag], limit=None)) == ids(reversed(jobs))


def test_limit_and_skip_select_a_window(service, tagged):
    tag, jobs = tagged
    newest_first = ids(reversed(jobs))
    assert ids(service.jobs(job_tags=[tag], limit=2)) == newest_first[:2]
    assert ids(service.jobs(job_tags=[tag], limit=2, skip=1)) == newest_first[1:3]


def test_listing_follows_pages_without_gaps_or_repeats(service, tagged, monkeypatch):
    tag, jobs = tagged
    monkeypatch.setattr(service_module, "_MAX_PAGE", 2)
    assert ids(service.jobs(job_tags=[tag], limit=None)) == ids(reversed(jobs))


def test_pending_splits_unfinished_from_finished_jobs(service, tagged):
    tag, _ = tagged
    assert len(service.jobs(job_tags=[tag], pending=False, limit=None)) == COUNT
    assert service.jobs(job_tags=[tag], pending=True, limit=None) == []


def test_tags_is_the_same_filter_as_job_tags(service, tagged):
    tag, _ = tagged
    assert ids(service.jobs(tags=[tag], limit=None)) == ids(
        service.jobs(job_tags=[tag], limit=None)
    )
    with pytest.raises(IBMInputValueError):
        service.jobs(tags=[tag], job_tags=[tag])


def test_backend_and_creation_time_filters(service, tagged):
    tag, _ = tagged
    assert service.jobs(job_tags=[tag], backend_name="fake_torino", limit=None) == []
    assert len(service.jobs(job_tags=[tag], backend_name="ideal_24", limit=None)) == COUNT
    future = datetime.now(UTC) + timedelta(days=1)
    assert service.jobs(job_tags=[tag], created_after=future, limit=None) == []
    assert len(service.jobs(job_tags=[tag], created_before=future, limit=None)) == COUNT


def test_session_id_filter_lists_only_that_sessions_jobs(service):
    backend = service.backend("ideal_24")
    circuit = QuantumCircuit(1)
    circuit.measure_all()
    with Session(backend=backend) as session:
        sampler = SamplerV2()
        inside = [sampler.run([circuit], shots=4) for _ in range(2)]
    assert set(ids(service.jobs(session_id=session.session_id, limit=None))) == set(ids(inside))
