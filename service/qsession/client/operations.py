"""Typed operations on a qsession server: one small class per resource, over a :class:`Connection`.

Each method makes one RPC and returns its message. Unary calls go through
:meth:`Connection.call`, so the connection's retry policy applies to every one of them; a
NOT_FOUND becomes the SDK's exception for the resource (:class:`RuntimeJobNotFound`,
:class:`SessionNotFoundError`, :class:`BackendNotFoundError`). Jobs, sessions, backends and
watches receive an :class:`Operations` in their constructor rather than reaching for the
service's channel.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from google.protobuf import field_mask_pb2

from qsession.client.connection import DOWNLOAD_TIMEOUT, UNARY_TIMEOUT, Connection
from qsession.client.errors import BackendNotFoundError, RuntimeJobNotFound, SessionNotFoundError
from qsession.v1 import backend_pb2, instance_pb2, job_pb2, session_pb2


class JobOperations:
    """Jobs: create (CreateJob, RunJob), read (GetJob, ListJobs, GetJobResult), control
    (CancelJob, UpdateJob, DeleteJob) and follow (WatchJobs).

    Args:
        connection: The service's connection.
    """

    def __init__(self, connection: Connection):
        self.connection = connection

    def create(self, request: job_pb2.CreateJobRequest) -> job_pb2.CreateJobResponse:
        """CreateJob (retried when the request carries a ``request_id``)."""
        return self.connection.call(self.connection.jobs.CreateJob, request)

    def run(self, request: job_pb2.CreateJobRequest) -> Iterator[job_pb2.RunJobResponse]:
        """RunJob: the job's acknowledgement, then its result's chunks once it is DONE."""
        return self.connection.iterate(self.connection.jobs.RunJob, request, timeout=UNARY_TIMEOUT)

    def get(
        self, job_id: str, *, full: bool = False, deadline: float | None = None
    ) -> job_pb2.GetJobResponse:
        """GetJob (``full``: with the job's inputs), retried until ``deadline`` at the latest.

        Raises:
            RuntimeJobNotFound: no such job on this instance.
        """
        request = job_pb2.GetJobRequest(id=job_id)
        if full:
            request.view = job_pb2.JOB_VIEW_FULL
        return self.connection.call(
            self.connection.jobs.GetJob, request, not_found=RuntimeJobNotFound, deadline=deadline
        )

    def list(self, request: job_pb2.ListJobsRequest) -> job_pb2.ListJobsResponse:
        """ListJobs: one page."""
        return self.connection.call(self.connection.jobs.ListJobs, request)

    def newest_revision(self) -> int:
        """The newest event revision on the server: where a watch "from now" starts.

        Read from a one-job page of the running jobs, which the server answers from memory.
        """
        return self.list(
            job_pb2.ListJobsRequest(page_size=1, states=[job_pb2.Job.STATE_RUNNING])
        ).revision

    def result(
        self, job_id: str, *, wait: bool, timeout: float | None
    ) -> Iterator[job_pb2.GetJobResultResponse]:
        """GetJobResult's chunks. With ``wait`` the server sends them once the job is DONE (at
        most ``timeout`` seconds from now) and a failure is left to the caller; without it, a
        download that fails before its first chunk is retried like any read.

        Raises:
            RuntimeJobNotFound: (while iterating) no such job on this instance.
        """
        return self.connection.iterate(
            self.connection.jobs.GetJobResult,
            job_pb2.GetJobResultRequest(id=job_id, wait=wait),
            not_found=RuntimeJobNotFound,
            timeout=timeout if wait else DOWNLOAD_TIMEOUT,
            retry=not wait,
        )

    def cancel(self, job_id: str) -> job_pb2.Job:
        """CancelJob: the job after the request.

        Raises:
            RuntimeJobNotFound: no such job on this instance.
        """
        return self.connection.call(
            self.connection.jobs.CancelJob,
            job_pb2.CancelJobRequest(id=job_id),
            not_found=RuntimeJobNotFound,
        ).job

    def delete(self, job_id: str) -> None:
        """DeleteJob: the job (cancelled first if unfinished) and its result are gone.

        Raises:
            RuntimeJobNotFound: no such job on this instance.
        """
        self.connection.call(
            self.connection.jobs.DeleteJob,
            job_pb2.DeleteJobRequest(id=job_id),
            not_found=RuntimeJobNotFound,
        )

    def update_tags(self, job_id: str, tags: list[str]) -> job_pb2.Job:
        """UpdateJob of the job's tags: the job after the update.

        Raises:
            RuntimeJobNotFound: no such job on this instance.
        """
        return self.connection.call(
            self.connection.jobs.UpdateJob,
            job_pb2.UpdateJobRequest(
                job=job_pb2.Job(id=job_id, tags=tags),
                update_mask=field_mask_pb2.FieldMask(paths=["tags"]),
            ),
            not_found=RuntimeJobNotFound,
        ).job

    def watch(self, request: job_pb2.WatchJobsRequest, *, timeout: float | None) -> grpc.Call:
        """WatchJobs, not retried: :class:`~qsession.client.watch.JobEventStream` resumes it."""
        return self.connection.stream(self.connection.jobs.WatchJobs, request, timeout=timeout)


class SessionOperations:
    """Sessions and batches: CreateSession, GetSession, CloseSession, CancelSession.

    Args:
        connection: The service's connection.
    """

    def __init__(self, connection: Connection):
        self.connection = connection

    def create(
        self, backend: str, mode: session_pb2.Session.Mode, max_ttl: str
    ) -> session_pb2.Session:
        """CreateSession (retried only when the request never reached the server)."""
        return self.connection.call(
            self.connection.sessions.CreateSession,
            session_pb2.CreateSessionRequest(backend=backend, mode=mode, max_ttl=max_ttl),
        ).session

    def get(self, session_id: str | None) -> session_pb2.Session:
        """GetSession.

        Raises:
            SessionNotFoundError: no such session on this instance.
        """
        return self.connection.call(
            self.connection.sessions.GetSession,
            session_pb2.GetSessionRequest(id=session_id),
            not_found=SessionNotFoundError,
        ).session

    def close(self, session_id: str) -> None:
        """CloseSession: accept no new jobs.

        Raises:
            SessionNotFoundError: no such session on this instance.
        """
        self.connection.call(
            self.connection.sessions.CloseSession,
            session_pb2.CloseSessionRequest(id=session_id),
            not_found=SessionNotFoundError,
        )

    def cancel(self, session_id: str) -> None:
        """CancelSession: cancel its queued jobs and close it.

        Raises:
            SessionNotFoundError: no such session on this instance.
        """
        self.connection.call(
            self.connection.sessions.CancelSession,
            session_pb2.CancelSessionRequest(id=session_id),
            not_found=SessionNotFoundError,
        )


class BackendOperations:
    """Backends: GetBackend, ListBackends.

    Args:
        connection: The service's connection.
    """

    def __init__(self, connection: Connection):
        self.connection = connection

    def get(self, name: str) -> backend_pb2.Backend:
        """GetBackend.

        Raises:
            BackendNotFoundError: the server has no such backend.
        """
        return self.connection.call(
            self.connection.backends.GetBackend,
            backend_pb2.GetBackendRequest(name=name),
            not_found=BackendNotFoundError,
        ).backend

    def list(self) -> list[backend_pb2.Backend]:
        """ListBackends, in configuration order."""
        return list(
            self.connection.call(
                self.connection.backends.ListBackends, backend_pb2.ListBackendsRequest()
            ).backends
        )


class InstanceOperations:
    """The account's instance: GetInstance.

    Args:
        connection: The service's connection.
    """

    def __init__(self, connection: Connection):
        self.connection = connection

    def get(self) -> instance_pb2.Instance:
        """GetInstance."""
        return self.connection.call(
            self.connection.instances.GetInstance, instance_pb2.GetInstanceRequest()
        ).instance


class Operations:
    """Every typed operation of one service, over its one connection.

    Attributes:
        connection: The connection (its retry settings and state are read by the stream
            followers in ``job.py`` and ``watch.py``).
        jobs, sessions, backends, instance: The operations on each resource.
    """

    def __init__(self, connection: Connection):
        self.connection = connection
        self.jobs = JobOperations(connection)
        self.sessions = SessionOperations(connection)
        self.backends = BackendOperations(connection)
        self.instance = InstanceOperations(connection)
