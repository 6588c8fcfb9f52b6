"""A minimal raw-gRPC client for end-to-end tests: submit, wait on WatchJobs, fetch results."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from qiskit.primitives import PrimitiveResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub

from qsession import RuntimeService
from qsession.v1 import job_pb2
from qsession.wire import decode_result, encode_estimator_pub, encode_sampler_pub

TERMINAL = {job_pb2.Job.STATE_DONE, job_pb2.Job.STATE_ERROR, job_pb2.Job.STATE_CANCELLED}


class RawClient:
    """Submits jobs with the generated stubs and the wire module, as any gRPC client would."""

    def __init__(self, handle, token: str | None = None):
        self.handle = handle
        self.metadata = handle.metadata(token)
        self.backends, self.sessions, self.jobs = handle.stubs()

    def create_job(
        self,
        pubs: Sequence,
        program: str = "sampler",
        backend: str | None = None,
        session_id: str = "",
        tags: Sequence[str] = (),
        **options,
    ) -> job_pb2.Job:
        request = job_pb2.CreateJobRequest(
            backend=backend if backend is not None else ("" if session_id else self.handle.backend),
            session_id=session_id,
            tags=list(tags),
            options=job_pb2.JobOptions(**options),
        )
        if program == "sampler":
            request.program = job_pb2.PROGRAM_SAMPLER
            request.sampler_pubs.extend(encode_sampler_pub(SamplerPub.coerce(p)) for p in pubs)
        else:
            request.program = job_pb2.PROGRAM_ESTIMATOR
            request.estimator_pubs.extend(
                encode_estimator_pub(EstimatorPub.coerce(p)) for p in pubs
            )
        return self.jobs.CreateJob(request, metadata=self.metadata, timeout=60).job

    def wait(self, job_id: str, timeout: float = 120) -> job_pb2.Job:
        """Follow WatchJobs until the job is DONE, ERROR or CANCELLED."""
        stream = self.jobs.WatchJobs(
            job_pb2.WatchJobsRequest(job_ids=[job_id]), metadata=self.metadata, timeout=timeout
        )
        try:
            job = self.jobs.GetJob(job_pb2.GetJobRequest(id=job_id), metadata=self.metadata).job
            if job.state in TERMINAL:
                return job
            for event in stream:
                if event.job.state in TERMINAL:
                    return event.job
        finally:
            stream.cancel()
        raise AssertionError(f"job {job_id} did not finish")

    def result(self, job_id: str) -> PrimitiveResult:
        """Stream GetJobResult, check its SHA-256 and decode it."""
        chunks = list(
            self.jobs.GetJobResult(
                job_pb2.GetJobResultRequest(id=job_id), metadata=self.metadata, timeout=120
            )
        )
        data = b"".join(c.chunk for c in chunks)
        assert len(data) == chunks[0].total_size
        assert hashlib.sha256(data).hexdigest() == chunks[0].sha256
        return decode_result(job_pb2.JobResult.FromString(data))

    def run(self, pubs: Sequence, program: str = "sampler", **kwargs) -> PrimitiveResult:
        job = self.create_job(pubs, program, **kwargs)
        finished = self.wait(job.id)
        assert finished.state == job_pb2.Job.STATE_DONE, finished.error_message
        return self.result(job.id)


@pytest.fixture
def client(server) -> RawClient:
    """A raw client of the shared server, as the premium instance."""
    return RawClient(server)


@pytest.fixture(scope="module")
def service(server) -> RuntimeService:
    """The SDK on the shared server, as the premium instance (modules with a server of their
    own define their own ``service``)."""
    return RuntimeService(url=server.address, token=server.token)


@pytest.fixture(scope="module")
def torino(service):
    """The shared server's noiseless fake_torino."""
    return service.backend("fake_torino")


@pytest.fixture(scope="module")
def ideal(service):
    """The shared server's ideal_24."""
    return service.backend("ideal_24")


def error_info_metadata(error: grpc.RpcError) -> dict[str, str]:
    """The ErrorInfo metadata of a failed call (empty when it has none)."""
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return dict(info.metadata)
    return {}
