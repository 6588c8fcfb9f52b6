"""Queries: jobs, sessions, results and backends as an instance sees them.

Unfinished jobs and every session are read from the scheduler's memory; finished jobs and
results from the store, by key (never a scan of the history). Another instance's job or
session answers exactly like a missing one. The façade passes the read barrier before it
asks (``Ledger.flush(read=True)``), so what is read here is committed.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from qsession.config import Config
from qsession.lifecycle.clock import Clock
from qsession.lifecycle.errors import FailedPrecondition, InvalidArgument, NotFound
from qsession.lifecycle.model import Job, JobStatus, Session
from qsession.lifecycle.scheduler import Scheduler
from qsession.runtime import convert, records
from qsession.runtime.dispatch import Dispatch, Qpu
from qsession.runtime.ledger import Ledger
from qsession.store import Store
from qsession.store.sqlite import JobFilter
from qsession.v1 import backend_pb2, job_pb2, session_pb2
from qsession.wire.backends import encode_target

UNFINISHED = {JobStatus.QUEUED.value, JobStatus.RUNNING.value}


class Queries:
    """Reads of the lifecycle's state (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        store: Store,
        clock: Clock,
        scheduler: Scheduler,
        dispatch: Dispatch,
        ledger: Ledger,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.scheduler = scheduler
        self.dispatch = dispatch
        self.ledger = ledger

    # ---------------------------------------------------------------------------- messages

    def job_message(self, job: Job) -> job_pb2.Job:
        """The Job message of a lifecycle job."""
        inputs = self.ledger.inputs_of(job.id)
        reason = self.scheduler.waiting_reason(job)
        return convert.job_message(
            self.dispatch.placed(job), inputs.options, inputs.num_pubs, reason
        )

    def session_message(self, session: Session) -> session_pb2.Session:
        """The Session message of a lifecycle session, now."""
        pending = self.scheduler.pending_jobs(session.id)
        return convert.session_message(session, self.clock.now(), pending)

    # ---------------------------------------------------------------------------- backends

    def qpu(self, name: str, field: str) -> Qpu:
        """The QPU of a configured backend; InvalidArgument if unnamed, NotFound if unknown."""
        if not name:
            raise InvalidArgument(
                f"{field}: required; ListBackends gives the names",
                field=field,
                reason="FIELD_REQUIRED",
            )
        qpu = self.dispatch.qpus.get(name)
        if qpu is None:
            raise NotFound(
                f"{field}: backend {name!r} does not exist; use one of "
                f"{sorted(self.dispatch.qpus)}",
                field=field,
                reason="BACKEND_NOT_FOUND",
            )
        return qpu

    def backend_message(self, name: str) -> backend_pb2.Backend:
        """The Backend message of a configured backend (NotFound otherwise). A backend whose
        worker is not ready (a Ray actor waiting for a node) is not operational, and its
        status message says why; its jobs wait."""
        qpu = self.qpu(name, "name")
        ready = qpu.worker.ready
        message = backend_pb2.Backend(
            name=name,
            operational=ready,
            status_message="active" if ready else qpu.worker.waiting_for,
            pending_jobs=self.scheduler.queued(name),
            simulator=False,
            noisy=qpu.config.noise,
            max_shots=self.config.limits.max_shots_per_pub,
            max_pubs=self.config.limits.max_pubs_per_job,
            profile=qpu.config.profile,
        )
        encode_target(qpu.profile.target, message)
        return message

    # ---------------------------------------------------------------- sessions and jobs

    def session(self, instance: str, session_id: str, field: str = "id") -> Session:
        """The instance's session; another instance's answers exactly like a missing one
        (NotFound naming ``field``, with a message that depends only on the id)."""
        try:
            session = self.scheduler.session(session_id)
        except NotFound:
            session = None
        if session is None or session.instance != instance:
            raise NotFound(
                f"{field}: session {session_id!r} does not exist",
                field=field,
                reason="SESSION_NOT_FOUND",
            )
        return session

    def sessions(self, instance: str) -> list[Session]:
        """The instance's sessions, newest first."""
        return sorted(
            self.scheduler.sessions_of(instance), key=lambda s: (s.created, s.id), reverse=True
        )

    def job(self, instance: str, job_id: str, field: str = "id") -> Job:
        """The instance's job (from the scheduler while it is unfinished, else from the store);
        another instance's answers exactly like a missing one (NotFound naming ``field``)."""
        job: Job | None
        try:
            job = self.scheduler.job(job_id)
        except NotFound:
            record = self.store.job(job_id)
            job = None if record is None else records.job_from_record(record)
        if job is None or job.instance != instance:
            raise _job_not_found(field, job_id)
        return job

    async def jobs_named(self, instance: str, job_ids: Sequence[str], field: str) -> list[Job]:
        """The instance's jobs ``job_ids`` (each named by a request at ``field[i]``):
        unfinished ones from memory, the others read from the store in one pass off the loop.

        Raises:
            NotFound: the first id (in request order) that is not a job of ``instance``.
        """
        found: dict[str, Job] = {}
        for job_id in job_ids:
            try:
                found[job_id] = self.scheduler.job(job_id)
            except NotFound:
                pass
        stored = [job_id for job_id in job_ids if job_id not in found]
        if stored:
            records_by_id = await asyncio.to_thread(self.store.jobs_by_id, stored)
            for job_id, record in records_by_id.items():
                found[job_id] = records.job_from_record(record)
        for i, job_id in enumerate(job_ids):
            job = found.get(job_id)
            if job is None or job.instance != instance:
                raise _job_not_found(f"{field}[{i}]", job_id)
        return [found[job_id] for job_id in job_ids]

    def job_for_request(self, instance: str, request_id: str, stored: bool = True) -> Job | None:
        """The job a retried CreateJob already created, if ``request_id`` was seen; only
        among the unfinished jobs in memory unless ``stored`` (the check just before submit
        reads the store too; the early one saves admission work for a retry in progress)."""
        if not request_id:
            return None
        job = self.scheduler.job_for_request(instance, request_id)
        if job is None and stored:
            record = self.store.job_for_request(instance, request_id)
            job = None if record is None else records.job_from_record(record)
        return job

    def job_inputs(self, instance: str, job_id: str) -> job_pb2.JobInputs:
        """The PUBs a job of ``instance`` was submitted with, as its request carried them."""
        self.job(instance, job_id)
        request = job_pb2.CreateJobRequest.FromString(self.store.job_request(job_id))
        inputs = job_pb2.JobInputs(
            sampler_pubs=request.sampler_pubs, estimator_pubs=request.estimator_pubs
        )
        if request.HasField("quantum_program"):
            inputs.quantum_program.CopyFrom(request.quantum_program)
        return inputs

    def result(self, instance: str, job_id: str) -> tuple[bytes, str]:
        """A DONE job's serialized JobResult and SHA-256, read from the store."""
        job = self.job(instance, job_id)
        if job.status != JobStatus.DONE:
            reason = f": {job.error}" if job.error else ""
            raise FailedPrecondition(
                f"job {job_id} is {job.status.value}{reason}; results exist only for DONE jobs "
                "(send GetJobResult with wait = true, or follow WatchJobs until DONE)",
                field="id",
                reason="JOB_NOT_DONE",
            )
        stored = self.store.get_result(job_id)
        if stored is None:
            raise FailedPrecondition(
                f"job {job_id} has no stored result", field="id", reason="RESULT_MISSING"
            )
        return stored

    async def jobs(
        self,
        instance: str,
        where: JobFilter,
        start_seq: int | None,
        limit: int,
        oldest_first: bool = False,
    ) -> list[tuple[int, job_pb2.Job]]:
        """A page of the instance's jobs that match ``where``, newest first (``oldest_first``:
        in submission order), read from the store by key: ``(seq, message)`` pairs; the next
        page starts after the last seq, in that order."""
        if where.states and set(where.states) <= UNFINISHED:
            return self._unfinished_jobs(instance, where, start_seq, limit, oldest_first)
        rows = await asyncio.to_thread(
            self.store.list_jobs, instance, where, start_seq, limit, oldest_first
        )
        return [(row["seq"], _row_message(row)) for row in rows]

    async def count_jobs(self, instance: str, where: JobFilter) -> int:
        """How many of the instance's jobs match ``where`` (read from the store)."""
        return await asyncio.to_thread(self.store.count_jobs, instance, where)

    def _unfinished_jobs(
        self,
        instance: str,
        where: JobFilter,
        start_seq: int | None,
        limit: int,
        oldest_first: bool,
    ) -> list[tuple[int, job_pb2.Job]]:
        """``jobs`` for QUEUED and RUNNING jobs only: from the scheduler's memory, which holds
        every unfinished job, rather than a scan of the whole history."""
        in_order = self.scheduler.jobs() if oldest_first else reversed(list(self.scheduler.jobs()))

        def after_start(seq: int) -> bool:
            if start_seq is None:
                return True
            return seq > start_seq if oldest_first else seq < start_seq

        jobs = [
            job
            for job in in_order
            if job.instance == instance
            and after_start(job.seq)
            and where.matches(dataclasses.asdict(job))
        ]
        return [(job.seq, self.job_message(job)) for job in jobs[:limit]]


def _job_not_found(field: str, job_id: str) -> NotFound:
    """An unknown job, or another instance's: the same answer, depending only on the id."""
    return NotFound(f"{field}: job {job_id!r} does not exist", field=field, reason="JOB_NOT_FOUND")


def _row_message(row: dict[str, object]) -> job_pb2.Job:
    inputs = records.inputs_from_record(row)
    return convert.job_message(records.job_from_record(row), inputs.options, inputs.num_pubs)
