"""RuntimeService.jobs(): newest first (or oldest first), filtered like qiskit-ibm-runtime's,
following pages; ListJobs serves the order and the program filter."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from qiskit import QuantumCircuit

from qsession import IBMInputValueError, RuntimeService, SamplerV2, Session
from qsession.client import service as service_module
from qsession.v1 import job_pb2
from tests.conftest import base_config, start_server

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


def test_oldest_first_follows_pages_without_gaps_or_repeats(service, tagged, monkeypatch):
    tag, jobs = tagged
    monkeypatch.setattr(service_module, "_MAX_PAGE", 2)
    assert ids(service.jobs(job_tags=[tag], limit=None, descending=False)) == ids(jobs)


def listing_requests(service, monkeypatch) -> list[job_pb2.ListJobsRequest]:
    """The ListJobs requests the service makes from now on."""
    requests: list[job_pb2.ListJobsRequest] = []
    list_page = service._operations.jobs.list

    def recording(request):
        requests.append(job_pb2.ListJobsRequest.FromString(request.SerializeToString()))
        return list_page(request)

    monkeypatch.setattr(service._operations.jobs, "list", recording)
    return requests


def test_oldest_first_and_program_are_served_a_page_at_a_time(service, tagged, monkeypatch):
    tag, jobs = tagged
    requests = listing_requests(service, monkeypatch)
    window = service.jobs(job_tags=[tag], limit=2, skip=1, descending=False, program_id="sampler")
    assert ids(window) == ids(jobs)[1:3]
    (request,) = requests  # one page of skip + limit jobs, not every matching job
    assert (request.page_size, request.order_by, request.program) == (
        3,
        "create_time asc",
        job_pb2.PROGRAM_SAMPLER,
    )


def test_the_program_filter_selects_on_the_server(service, tagged):
    tag, jobs = tagged  # all Sampler jobs
    assert ids(service.jobs(job_tags=[tag], program_id="sampler", limit=None)) == ids(
        reversed(jobs)
    )
    assert service.jobs(job_tags=[tag], program_id="estimator", limit=None) == []
    with pytest.raises(IBMInputValueError, match="program_id"):
        service.jobs(program_id="qaoa")


def refusal(client, request: job_pb2.ListJobsRequest) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as refused:
        client.jobs.ListJobs(request, metadata=client.metadata)
    return refused.value.code(), refused.value.details()


def test_list_jobs_refuses_an_unknown_order_or_program(client):
    code, details = refusal(client, job_pb2.ListJobsRequest(order_by="backend desc"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("order_by:")
    code, details = refusal(client, job_pb2.ListJobsRequest(program=7))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("program:")


def test_a_page_token_continues_only_the_order_it_was_issued_for(client, tagged):
    tag, jobs = tagged
    first = client.jobs.ListJobs(
        job_pb2.ListJobsRequest(tags=[tag], page_size=2, order_by=" create_time   asc "),
        metadata=client.metadata,
    )
    assert [job.id for job in first.jobs] == ids(jobs)[:2]
    code, details = refusal(
        client, job_pb2.ListJobsRequest(tags=[tag], page_token=first.next_page_token)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "other order_by" in details
    second = client.jobs.ListJobs(
        job_pb2.ListJobsRequest(
            tags=[tag], page_size=2, order_by="create_time", page_token=first.next_page_token
        ),
        metadata=client.metadata,
    )
    assert [job.id for job in second.jobs] == ids(jobs)[2:4]


def test_unfinished_jobs_are_listed_in_either_order_a_page_at_a_time(tmp_path, monkeypatch):
    """QUEUED and RUNNING jobs are listed from the server's memory, in the same orders."""
    config = base_config(
        tmp_path, backends=[{"name": "slow", "profile": "ideal_24", "min_job_duration": "60s"}]
    )
    monkeypatch.setattr(service_module, "_MAX_PAGE", 1)
    with start_server(config) as handle:
        slow = RuntimeService(url=handle.address, token=handle.token)
        circuit = QuantumCircuit(1)
        circuit.measure_all()
        sampler = SamplerV2(mode=slow.backend("slow"))
        jobs = [sampler.run([circuit], shots=4) for _ in range(3)]  # one RUNNING, two QUEUED
        assert ids(slow.jobs(pending=True, limit=None)) == ids(reversed(jobs))
        assert ids(slow.jobs(pending=True, limit=None, descending=False)) == ids(jobs)
        assert ids(slow.jobs(pending=True, limit=1, skip=1, descending=False)) == ids(jobs)[1:2]
        for job in jobs:
            slow.delete_job(job.job_id())
