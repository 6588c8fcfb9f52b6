"""The runtime façade: the commands and queries every front end calls, and nothing else.

One asyncio loop owns the lifecycle; nothing else mutates it. ``Runtime`` wires four rooms
and answers for them:

* ``admission`` — what a request must pass before the scheduler sees it (once);
* the lifecycle's ``Scheduler`` — sessions, jobs, the queue and timers (plain Python);
* ``dispatch`` — the QPUs, their workers and the coordinator that runs the queue;
* ``ledger`` — every change committed, then published; durability and storage faults;

plus ``queries`` and ``watch`` to read them. The façade's contract, the same for every front
end (gRPC, the Workloads page, and any protocol added later):

* every command refuses before anything changes while the store cannot write, and returns
  its resource (and, for a job, the revision it is as of) once stored;
* every query of jobs and sessions passes the read barrier: it shows only committed state
  (backends and an instance's usage are live figures of memory);
* errors are transport-free (``qsession.lifecycle.errors``, ``WireError``, ``InvalidPub``);
  each front end maps them to its protocol in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from qsession.config import Config, ConfigError
from qsession.execution.memo import Memo
from qsession.lifecycle.clock import Clock, SystemClock
from qsession.lifecycle.durations import parse_max_ttl
from qsession.lifecycle.errors import FailedPrecondition, InvalidArgument, LimitExceeded, NotFound
from qsession.lifecycle.events import Event, Subscription
from qsession.lifecycle.fair_share import FairShare
from qsession.lifecycle.model import Job, Plan, Session
from qsession.lifecycle.scheduler import Change, Scheduler, nothing_to_cancel
from qsession.lifecycle.sessions import job_backend
from qsession.runtime import limits, records
from qsession.runtime.activity import QpuActivity
from qsession.runtime.admission import Admission
from qsession.runtime.dispatch import Dispatch, make_qpus
from qsession.runtime.ledger import Ledger
from qsession.runtime.queries import Queries
from qsession.runtime.watch import JobUpdate, Progress, Watches
from qsession.store import Store
from qsession.store.sqlite import JobFilter, Snapshot
from qsession.v1 import backend_pb2, instance_pb2, job_pb2, session_pb2, transpiler_pb2
from qsession.wire import to_timestamp
from qsession.wire.states import MODE_NAMES, PROGRAM_NAMES
from qsession.workers import EngineUnavailable

Result = tuple[bytes, str, job_pb2.Job]
"""A DONE job's serialized JobResult, its SHA-256, and the job."""

DELETE_STOP_WAIT = 30.0
"""Seconds ``delete_job`` waits for a running job it cancelled to end (its worker is stopped
at once: in practice milliseconds)."""


@dataclass(frozen=True)
class UsageReport:
    """An instance's usage against its allocation (``Runtime.usage_report``).

    Attributes:
        consumed: modelled QPU seconds of its jobs over the window.
        allocation: the QPU seconds per window it is allocated.
        limit: ``allocation`` when it is a limit, else None.
        limit_reached: its limit stops its jobs from starting now.
        window_start, window_end: the window (unix seconds).
        total: modelled QPU seconds of all its jobs the server holds.
    """

    consumed: float
    allocation: float
    limit: float | None
    limit_reached: bool
    window_start: float
    window_end: float
    total: float


class Runtime:
    """The application layer (see the module docstring).

    Args:
        config: the server's configuration.
        store: the SQLite store; its state is restored at once.
        clock: the lifecycle's clock (tests inject a virtual one).

    Raises:
        ConfigError: the store holds jobs or sessions on backends the configuration no
            longer has, or the execution engine cannot be used.
    """

    def __init__(self, config: Config, store: Store, clock: Clock | None = None) -> None:
        self.config = config
        self._store = store
        self._clock = clock or SystemClock()
        snapshot = store.snapshot()
        engine, qpus = make_qpus(config)
        self._scheduler = Scheduler(
            self._clock,
            qpus,
            idle_timeout=config.idle_timeout,
            on_change=lambda change: self._ledger.on_change(change),
            max_attempts=config.max_attempts,
            fair_share=FairShare(
                window=config.scheduler_window,
                policy=config.scheduler_policy,
                allocations={i.name: i.allocation for i in config.instances},
                qpus=len(qpus),
            ),
        )
        self._ledger = Ledger(
            config,
            store,
            self._clock,
            snapshot,
            place=lambda job: self._dispatch.placed(job),
            job_message=lambda job: self._queries.job_message(job),
            session_message=lambda session: self._queries.session_message(session),
            wake=lambda: self._dispatch.wakeup.set(),
            unstored=lambda job_id, reason: self._scheduler.fail_unstored(job_id, reason),
            forget_sessions=lambda keep, before: self._scheduler.forget_sessions(keep, before),
        )
        self._dispatch = Dispatch(
            engine,
            qpus,
            self._scheduler,
            self._ledger,
            store,
            self._clock,
            default_time_limit=config.limits.max_execution_time,
            max_result_bytes=config.limits.max_result_bytes,
        )
        self._queries = Queries(
            config, store, self._clock, self._scheduler, self._dispatch, self._ledger
        )
        self._watches = Watches(self._ledger, self._queries, self._clock)
        self._restore(snapshot)  # first: a data dir that cannot be restored spawns no sandbox
        self._activity = QpuActivity(self._clock, list(qpus), self._scheduler, self.running_job)
        self._ledger.change_listeners.append(self._activity.on_change)
        self._admission = Admission.for_limits(config.limits, Memo())

    def _restore(self, snapshot: Snapshot) -> None:
        """Resume the scheduler from the store's jobs and sessions."""
        jobs = [records.job_from_record(r) for r in snapshot.jobs]
        sessions = [records.session_from_record(r) for r in snapshot.sessions]
        missing = {j.backend for j in jobs} | {s.backend for s in sessions}
        missing -= set(self._dispatch.qpus)
        if missing:
            raise ConfigError(
                f"{self.config.data_dir} holds jobs or sessions on backends {sorted(missing)} "
                "that the configuration no longer has: add them back to [[backends]], or start "
                "with another server.data_dir"
            )
        window = self._store.usage_since(self._clock.now() - self.config.scheduler_window)
        self._scheduler.restore(sessions, jobs, snapshot.usage, snapshot.last_seq, window)
        finished = [job.id for job in jobs if job.status.finished]
        for job_id in finished:
            self._ledger.inputs.pop(job_id, None)
        self._dispatch.forget(finished)

    # ----------------------------------------------------------------- start and shutdown

    async def start(self) -> None:
        """Wait for the circuit sandboxes to start and the engine to connect (the Ray engine
        joins its cluster); start the coordinator and the retention task.

        Raises:
            ConfigError: the engine cannot run jobs (e.g. no Ray cluster at ray_address).
        """
        await asyncio.to_thread(self._admission.wait_ready)
        try:
            await self._dispatch.start()
        except EngineUnavailable as exc:
            await self.stop(grace=0)  # workers, sandboxes and the store writer: none outlives us
            raise ConfigError(str(exc)) from None
        self._ledger.start()

    async def stop(self, grace: float | None = None) -> None:
        """Stop dispatching; give running jobs ``grace`` seconds (default: the config's
        shutdown_grace) to finish and be recorded; stop the sandboxes and write what is
        queued. A job still running after that stays RUNNING and runs again after a restart.
        """
        await self._ledger.stop()
        await self._dispatch.stop(self.config.shutdown_grace if grace is None else grace)
        await asyncio.to_thread(self._admission.stop)
        await self._ledger.close()

    def close(self) -> None:
        """Release the admission threads and close the store (after ``stop``, once the
        front ends stopped calling)."""
        self._admission.close()
        self._store.close()

    # --------------------------------------------------------------------------- commands

    async def create_session(
        self,
        instance: str,
        plan: Plan,
        backend: str,
        mode: int,
        max_ttl: str,
    ) -> session_pb2.Session:
        """Create a session or batch (``mode``: a ``Session.Mode`` value); once stored."""
        self._ledger.check_writable()
        session_mode = next((name for value, name in MODE_NAMES.items() if value == mode), None)
        if session_mode is None:
            raise InvalidArgument(
                "mode: set MODE_DEDICATED (a session) or MODE_BATCH (a batch)",
                field="mode",
                reason="FIELD_INVALID",
            )
        ttl = parse_max_ttl(max_ttl) if max_ttl.strip() else None
        self._queries.qpu(backend, "backend")
        self._check_open_sessions(instance)
        session = self._scheduler.create_session(
            str(uuid.uuid4()), instance, plan, backend, session_mode, ttl
        )
        await self._ledger.flush()
        return self._queries.session_message(session)

    async def close_session(self, instance: str, session_id: str) -> session_pb2.Session:
        """Close a session: no new jobs; it ends when its last job finishes. Once stored."""
        self._ledger.check_writable()
        self._queries.session(instance, session_id)
        self._scheduler.close_session(session_id)
        await self._ledger.flush()
        return self._queries.session_message(self._scheduler.session(session_id))

    async def cancel_session(self, instance: str, session_id: str) -> session_pb2.Session:
        """Cancel a session: its queued jobs are cancelled and it closes. Once stored."""
        self._ledger.check_writable()
        self._queries.session(instance, session_id)
        self._scheduler.cancel_session(session_id)
        await self._ledger.flush()
        return self._queries.session_message(self._scheduler.session(session_id))

    async def create_job(
        self, instance: str, request: job_pb2.CreateJobRequest
    ) -> tuple[job_pb2.Job, int]:
        """Admit, enqueue and store a job; a repeated ``request_id`` returns the first job.
        Returns once the job is stored: the job and the revision it is as of.

        The walk: ``Admission.admit`` (once) -> ``Scheduler.submit`` -> ``Dispatch.start_now``
        (an idle QPU sends the job to its worker at once) -> ``Ledger.durable``.
        """
        self._ledger.check_writable()
        existing = self._queries.job_for_request(instance, request.request_id, stored=False)
        if existing is not None:
            return await self._stored(existing)
        qpu = self._dispatch.qpus[self._job_backend(instance, request)]
        admitted = await self._admission.admit(instance, qpu, request)
        # From here to submit there is no await: request_id and queue checks cannot race.
        self._ledger.check_writable()  # the store may have started refusing writes meanwhile
        existing = self._queries.job_for_request(instance, request.request_id)
        if existing is not None:
            return await self._stored(existing)
        self._check_queue(instance)
        job = Job(
            id=str(uuid.uuid4()),
            instance=instance,
            backend=qpu.config.name,
            program=PROGRAM_NAMES[request.program],
            session_id=request.session_id or None,
            tags=list(request.tags),
            request_id=request.request_id or None,
            estimated_usage=admitted.qpu_seconds,
        )
        inputs = records.JobInputs(options=request.options, num_pubs=len(admitted.sizes))
        self._ledger.expect_job(job.id, inputs, request.SerializeToString())
        try:
            job = self._scheduler.submit(job)
        except Exception:
            self._ledger.drop_job(job.id)
            raise
        revision = self._ledger.assigned  # the job as returned is the job at this revision
        self._dispatch.start_now(job.backend)
        await self._ledger.durable(revision)  # acknowledged only once stored
        return self._queries.job_message(job), revision

    async def _stored(self, job: Job) -> tuple[job_pb2.Job, int]:
        """A job a retried request created before, once every change so far is stored."""
        revision = await self._ledger.flush()
        return self._queries.job_message(job), revision

    def _job_backend(self, instance: str, request: job_pb2.CreateJobRequest) -> str:
        if request.program not in PROGRAM_NAMES:
            raise InvalidArgument(
                "program: set PROGRAM_SAMPLER, PROGRAM_ESTIMATOR or PROGRAM_EXECUTOR",
                field="program",
                reason="FIELD_INVALID",
            )
        if request.session_id:
            session = self._queries.session(instance, request.session_id, field="session_id")
            return job_backend(session, request.backend)
        return self._queries.qpu(request.backend, "backend").config.name

    def _check_open_sessions(self, instance: str) -> None:
        limit = self.config.limits.max_open_sessions_per_instance
        open_now = self._scheduler.open_sessions_of(instance)
        if open_now >= limit:
            raise LimitExceeded(
                f"the instance has {open_now} sessions and batches not closed, the limit is "
                f"{limit}; close some (CloseSession) or let them end, then retry",
                None,
                "max_open_sessions_per_instance",
                limit,
            )

    def _check_queue(self, instance: str) -> None:
        limit = self.config.limits.max_queued_jobs_per_instance
        queued = self._scheduler.queued_of(instance)
        if queued >= limit:
            raise LimitExceeded(
                f"the instance has {queued} queued jobs, the limit is {limit}; "
                "wait for some to finish",
                None,
                "max_queued_jobs_per_instance",
                limit,
            )

    async def update_job_tags(self, instance: str, job_id: str, tags: list[str]) -> job_pb2.Job:
        """Replace the tags of a job of ``instance``; once stored."""
        self._ledger.check_writable()
        job = self._queries.job(instance, job_id)
        limits.check_tags(tags, "job.tags")
        if not job.status.finished:
            job = self._scheduler.update_tags(job_id, tags)
        else:  # a finished job lives in the store only: record the change here
            job.tags = list(tags)
            self._ledger.on_change(Change("job", job, self._clock.now()))
        await self._ledger.flush()
        return self._queries.job_message(job)

    async def cancel_job(self, instance: str, job_id: str) -> job_pb2.Job:
        """Cancel a job: a running one is stopped (its worker is killed). Once stored."""
        self._ledger.check_writable()
        job = self._queries.job(instance, job_id)
        if job.status.finished:  # perhaps no longer in the scheduler's memory
            raise nothing_to_cancel(job)
        job = self._scheduler.cancel_job(job_id)
        self._dispatch.cancel_running(job)
        await self._ledger.flush()
        return self._queries.job_message(job)

    async def delete_job(self, instance: str, job_id: str) -> None:
        """Delete a job of ``instance`` with its result (IBM's ``delete_job``). An unfinished
        job is cancelled first, as :meth:`cancel_job` cancels it: a queued one ends at once,
        a running one's worker is stopped and the job deleted once it has ended. Returns once
        deleted. Its watch events stay in the event log.

        Raises:
            NotFound: no such job of the instance.
            FailedPrecondition: (JOB_NOT_DONE) a running job had not ended
                :data:`DELETE_STOP_WAIT` seconds after its cancellation (it ends CANCELLED;
                delete it then).
        """
        self._ledger.check_writable()
        await self._ledger.flush()  # its final change is stored before its row goes
        job = self._queries.job(instance, job_id)
        if not job.status.finished:
            await self.cancel_job(instance, job_id)
            await self._stopped(instance, job_id)
            job = self._queries.job(instance, job_id)
        if not job.status.finished:
            raise FailedPrecondition(
                f"id: job {job_id} is {job.status.value}; its cancellation was requested, "
                "delete it once it has ended",
                field="id",
                reason="JOB_NOT_DONE",
            )
        self._scheduler.forget(job_id)
        self._ledger.forget_result(job_id)
        await asyncio.to_thread(self._ledger.store.delete_job, job_id)

    async def _stopped(self, instance: str, job_id: str) -> None:
        """Wait until a cancelled job's final state is committed, at most
        :data:`DELETE_STOP_WAIT` seconds."""
        with contextlib.suppress(TimeoutError):  # the caller finds the job still unfinished
            async with asyncio.timeout(DELETE_STOP_WAIT):
                async for _ in self._watches.until_final(instance, [job_id], None, id_field="id"):
                    pass

    async def transpile(
        self, instance: str, request: transpiler_pb2.TranspileRequest
    ) -> transpiler_pb2.TranspileResponse:
        """Transpile a client's circuit for a backend, in a sandbox, in the instance's turn."""
        return await self._admission.transpile(instance, self._dispatch.qpus, request)

    # ---------------------------------------------------------------------------- queries

    async def get_job(
        self, instance: str, job_id: str, with_inputs: bool = False
    ) -> tuple[job_pb2.Job, int]:
        """A job of ``instance`` (with its PUBs if ``with_inputs``) and the revision read at."""
        revision = await self._ledger.flush(read=True)
        message = self._queries.job_message(self._queries.job(instance, job_id))
        if with_inputs and not message.options.private:  # a private job's never leave
            inputs = await asyncio.to_thread(self._queries.job_inputs, instance, job_id)
            message.inputs.CopyFrom(inputs)
        return message, revision

    async def list_jobs(
        self,
        instance: str,
        where: JobFilter,
        start_seq: int | None,
        limit: int,
        *,
        oldest_first: bool = False,
    ) -> tuple[list[tuple[int, job_pb2.Job]], int]:
        """A page of the instance's jobs matching ``where``, newest first (``oldest_first``:
        in submission order), as ``(seq, job)`` pairs, and the revision read at. The page
        starts after ``start_seq`` in its order (the last seq of the previous page; None: the
        first page). Every stored change is listed: a job whose result its creator already
        has is DONE here."""
        revision = await self._ledger.flush(read=True)
        page = await self._queries.jobs(instance, where, start_seq, limit, oldest_first)
        return page, revision

    async def count_jobs(self, instance: str, where: JobFilter) -> int:
        """How many of the instance's jobs match ``where`` (IBM's ``count``); committed state,
        as ``list_jobs`` lists it."""
        await self._ledger.flush(read=True)
        return await self._queries.count_jobs(instance, where)

    async def get_session(self, instance: str, session_id: str) -> Session:
        """A session of ``instance``."""
        await self._ledger.flush(read=True)
        return self._queries.session(instance, session_id)

    async def list_sessions(self, instance: str) -> tuple[list[Session], int]:
        """The instance's sessions, newest first, and the revision read at."""
        await self._ledger.flush(read=True)
        return self._queries.sessions(instance), self._ledger.revision

    def session_message(self, session: Session) -> session_pb2.Session:
        """The Session message of a session a query returned, now."""
        return self._queries.session_message(session)

    async def job_result(self, instance: str, job_id: str, wait: bool = False) -> Result:
        """A DONE job's result; with ``wait``, once the job is final (committed).

        Raises:
            FailedPrecondition: (JOB_NOT_DONE) the job ended otherwise, or is not final
                and ``wait`` is false.
        """
        job = None
        if wait:
            async for update in self._watches.until_final(instance, [job_id], None, id_field="id"):
                if isinstance(update, JobUpdate):  # (no progress notifications were asked for)
                    job = update.job
        recent = None
        if job is not None and job.state == job_pb2.Job.STATE_DONE:
            recent = self._ledger.recent_result(job_id)  # its DONE is published: stored
        if recent is None:
            await self._ledger.flush(read=True)  # a DONE's result is committed with the DONE
            recent = await asyncio.to_thread(self._queries.result, instance, job_id)
        if job is None:
            job = self._queries.job_message(self._queries.job(instance, job_id))
        if job.options.private:
            await self._consume_result(job_id)
        return (*recent, job)

    async def _consume_result(self, job_id: str) -> None:
        """A private job's result was read: it is deleted (IBM's private jobs: read once)."""
        self._ledger.forget_result(job_id)
        await asyncio.to_thread(self._ledger.store.delete_result, job_id)

    async def created_job_result(self, instance: str, job_id: str) -> Result:
        """The result of a job the caller just created, as soon as the job is DONE in
        memory, while its DONE commits; a large result, or a job that failed, once committed.

        Only for the job's creator (RunJob): a job that runs again after a restart gives the
        same result (``dispatch.job_seed``). Everyone else uses ``job_result``.
        """
        try:
            job = self._scheduler.job(job_id)
        except NotFound:
            final = None  # finished, stored and forgotten
        else:
            final = (
                self._queries.job_message(job)
                if job.status.finished
                else await self._ledger.until_finished(job)
            )
        if final is not None and final.state == job_pb2.Job.STATE_DONE:
            recent = self._ledger.recent_result(job_id)
            if recent is not None and not final.options.private:  # a private one is read
                return (*recent, final)  # once, as job_result reads it
        return await self.job_result(instance, job_id, wait=True)

    def backend_names(self) -> list[str]:
        """The configured backends' names, in configuration order."""
        return list(self._dispatch.qpus)

    def backend(self, name: str) -> backend_pb2.Backend:
        """A backend, live: its status, queue and target (NotFound for an unknown name)."""
        return self._queries.backend_message(name)

    def backends(self) -> list[backend_pb2.Backend]:
        """Every backend, live."""
        return [self._queries.backend_message(name) for name in self._dispatch.qpus]

    def instance_usage(self, instance: str) -> float:
        """The QPU seconds of the instance's finished jobs."""
        return self._scheduler.instance_usage(instance)

    def instance_message(self, instance: str, plan: str) -> instance_pb2.Instance:
        """The Instance message: the instance's usage against its allocation, now."""
        usage = self.usage_report(instance)
        message = instance_pb2.Instance(
            name=instance,
            plan=plan,
            usage_seconds=usage.total,
            window_usage_seconds=usage.consumed,
            allocation_seconds=usage.allocation,
            limit_reached=usage.limit_reached,
            window_start=to_timestamp(usage.window_start),
            window_end=to_timestamp(usage.window_end),
        )
        if usage.limit is not None:
            message.limit_seconds = usage.limit
        return message

    def usage_reports(self) -> dict[str, UsageReport]:
        """Every configured instance's usage report, by name (the operator's view)."""
        return {name: self.usage_report(name) for name in self.config.instance_names}

    def usage_report(self, instance: str) -> UsageReport:
        """The instance's usage against its allocation over the fair-share window."""
        fair = self._scheduler.fair_share
        allocation = fair.allocation(instance)
        allocated = fair.allocated_seconds(instance)
        used = self._scheduler.window_usage(instance)
        now = self._clock.now()
        return UsageReport(
            consumed=used,
            allocation=allocated,
            limit=allocated if allocation.limit else None,
            limit_reached=fair.limit_reached(instance, now),
            window_start=now - fair.window,
            window_end=now,
            total=self._scheduler.instance_usage(instance),
        )

    def now(self) -> float:
        """The runtime clock's time, in seconds since the epoch."""
        return self._clock.now()

    @property
    def revision(self) -> int:
        """The newest committed revision."""
        return self._ledger.revision

    # ------------------------------------------------------------------------------ watch

    def watch_jobs(
        self,
        instance: str,
        after_revision: int | None = None,
        progress: bool = False,
        job_ids: Sequence[str] = (),
        session_id: str | None = None,
        tags: Sequence[str] = (),
        per_message: int = 1,
    ) -> AsyncIterator[list[Event] | Progress]:
        """The instance's committed job changes after ``after_revision`` (None: from now),
        of ``job_ids`` (at most ``max_watch_job_ids``, each the instance's: else
        LimitExceeded or NotFound before anything is sent), of a session, or with all of
        ``tags``, in batches sent ``per_message`` events to a message (see
        ``Watches.follow``); with ``progress``, progress notifications too."""
        return self._watches.jobs(
            instance,
            after_revision,
            progress,
            job_ids,
            per_message,
            session_id=session_id,
            tags=tuple(tags),
        )

    def watch_sessions(
        self, instance: str, after_revision: int | None = None, session_ids: Sequence[str] = ()
    ) -> AsyncIterator[list[Event] | Progress]:
        """The instance's committed session changes after ``after_revision`` (None: from
        now), of ``session_ids`` if any, in batches (see ``Watches.follow``)."""
        return self._watches.follow(
            instance, "session", after_revision, session_ids=tuple(session_ids)
        )

    def share_fan_out_when(self, contended: Callable[[str], bool]) -> None:
        """Pace each instance's watch messages (``watch_messages_per_second_per_instance``)
        only while ``contended(instance)``: other instances are calling (a front end knows)."""
        self._watches.budget.contended = contended

    def subscribe(
        self, instance: str, kind: str, after_revision: int | None = None, **filters: object
    ) -> Subscription:
        """A subscription to the instance's committed changes of ``kind`` for a caller that
        drains it itself (see ``EventLog.subscribe``); close it when done."""
        return self._ledger.subscribe(instance, after_revision, kind, **filters)

    def watch_until_final(
        self,
        instance: str,
        job_ids: Sequence[str],
        after_revision: int | None = None,
        progress: bool = False,
    ) -> AsyncIterator[JobUpdate | Progress]:
        """The changes of ``job_ids`` until each is DONE, ERROR or CANCELLED (see
        ``Watches.until_final``)."""
        return self._watches.until_final(instance, job_ids, after_revision, progress)

    # ---------------------------------------------------------------- QPUs and observers

    def running_job(self, backend: str) -> Job | None:
        """The job the backend's QPU runs now, if any (any instance's)."""
        running = self._dispatch.qpus[backend].running
        if running is None:
            return None
        try:
            return self._scheduler.job(running)
        except NotFound:  # it finished meanwhile
            return None

    def qpu_holder(self, backend: str) -> tuple[str, str] | None:
        """The (session id, instance) of the session holding the backend's QPU, if any."""
        return self._activity.holders.get(backend)

    def qpu_busy(
        self, backend: str, start: float, end: float, except_session: str
    ) -> list[tuple[float, float]]:
        """When in [start, end] the QPU ran anything but ``except_session``'s jobs
        (anonymous), including what runs now (see ``QpuActivity.busy``)."""
        return self._activity.busy(backend, start, end, except_session)

    def on_qpu_activity(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Tell ``listener`` the backend whose QPU activity changed; returns the call that
        stops telling it."""
        self._activity.listeners.add(listener)
        return lambda: self._activity.listeners.discard(listener)

    def on_change(self, listener: Callable[[Change], None]) -> None:
        """Tell ``listener`` every lifecycle change as it is recorded (O(1) work each; it
        must not call back into the runtime)."""
        self._ledger.change_listeners.append(listener)

    def on_health(self, listener: Callable[[bool], None]) -> None:
        """Tell ``listener`` whether the server can serve (False while the store refuses
        writes)."""
        self._ledger.health_listeners.append(listener)

    def live_jobs(self) -> list[Job]:
        """The jobs in memory now: every unfinished one (and some just finished)."""
        return list(self._scheduler.jobs())

    def live_sessions(self) -> list[Session]:
        """The sessions in memory now."""
        return list(self._scheduler.sessions())

    def queue_lengths(self) -> dict[str, tuple[int, bool]]:
        """Each backend's queued jobs and whether its worker is ready."""
        return {
            name: (self._scheduler.queued(name), qpu.worker.ready)
            for name, qpu in self._dispatch.qpus.items()
        }

    def admission_slots(self) -> tuple[int, int]:
        """(admissions at once in all, at once per instance)."""
        return self._admission.turns.slots, self._admission.turns.per_instance
