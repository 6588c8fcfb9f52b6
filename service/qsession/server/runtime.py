"""The runtime: drives the lifecycle, persists and publishes its changes, runs jobs on the QPUs.

One asyncio loop owns the scheduler; nothing else mutates it. A single coordinator task wakes
on every change and at the scheduler's next deadline, fires due timers (``poll``) and hands each
idle QPU the job the scheduler picks (``next_job``). Executions run in each backend's worker
process or, with ``[execution] engine = "ray"``, each backend's Ray actor (``qsession.workers``),
one at a time per backend, so a backend behaves as an exclusive QPU and the loop never
simulates. A QPU gets a job only while its worker is ready (a Ray actor waits for a node that
offers its resources; meanwhile its jobs wait). A job is stopped by killing its worker: when the
user cancels it, when it reaches its ``max_execution_time``, or at shutdown. A worker that dies
on its own (or with its node) makes the job run again (``Scheduler.retry``).

Every change the scheduler reports is committed to SQLite together with its watch event, and
only then published to subscribers (commit, then publish). The one thing told before its commit
is the stream that created a job (``RunJob``), which gets the job's result as soon as the job
is DONE in memory (``until_finished``): a job runs with a seed derived from its id
(``job_seed``), so if the server stops before that DONE is stored, the job runs again and gives
the same result.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import heapq
import logging
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import grpc

from qsession.config import BackendConfig, Config, ConfigError
from qsession.execution import mitigation
from qsession.execution.executor import Executor
from qsession.execution.memo import Memo
from qsession.execution.profiles import DeviceProfile, load_profile
from qsession.lifecycle.clock import Clock, SystemClock
from qsession.lifecycle.durations import parse_max_ttl
from qsession.lifecycle.errors import FailedPrecondition, InvalidArgument, NotFound
from qsession.lifecycle.events import EventKeys, EventLog, Subscription
from qsession.lifecycle.model import Job, JobStatus, Placement, Plan, Session
from qsession.lifecycle.scheduler import Change, Scheduler, nothing_to_cancel
from qsession.server import admission, convert, records
from qsession.server.circuit_cache import CircuitCache
from qsession.server.circuit_sandbox import CircuitSandbox, CircuitWidth
from qsession.server.errors import LimitExceeded, RpcError
from qsession.server.fairness import admission_of
from qsession.server.records import JobInputs
from qsession.store import Store
from qsession.store.sqlite import ChangeRow, JobFilter, ResultRow, StoredEvent
from qsession.store.writer import Writer
from qsession.v1 import backend_pb2, job_pb2, session_pb2
from qsession.wire import circuit_digest, decode_job_pubs
from qsession.wire.backends import encode_target
from qsession.wire.pubs import check_parameter_values
from qsession.workers import EngineUnavailable, JobFailed, Worker, WorkerLost, engine_for

log = logging.getLogger("qsession.runtime")

CIRCUIT_PARSE_TIMEOUT = 60.0
CIRCUIT_SANDBOXES = 2
EVENTS_RETAINED = 10_000
UNFINISHED = {JobStatus.QUEUED.value, JobStatus.RUNNING.value}
PRUNE_INTERVAL = 60.0  # seconds between retention passes
INLINE_ADMISSION_BYTES = 64 * 1024
"""The largest CreateJob admitted on the event loop (see ``Runtime._inline_widths``)."""
RECENT_RESULT_BYTES = 64 * 1024
RECENT_RESULTS_BYTES = 16 * 1024 * 1024
"""Results up to RECENT_RESULT_BYTES are also kept in memory, the newest up to
RECENT_RESULTS_BYTES in all, so that the client waiting for one gets it without a read of
the store (see ``Runtime.recent_result``)."""


def job_seed(job_id: str) -> int:
    """The simulator seed of a job that sets no ``seed_simulator``: drawn from its random id,
    so each job's shots are random, and the same on every attempt of the job (a job that runs
    again after a restart gives the result its first run may already have delivered)."""
    return int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:8], "big") >> 1


@dataclass
class Qpu:
    """An emulated QPU: its configuration, device profile, the executor that validates PUBs at
    admission, the worker that runs its jobs (a local process or a Ray actor), and the job it
    runs (and whether the user cancelled it)."""

    config: BackendConfig
    profile: DeviceProfile
    executor: Executor
    worker: Worker
    running: str | None = None
    execution: asyncio.Task | None = None  # the task running its job, while one runs
    cancelled: bool = False  # its running job was cancelled by the user


@dataclass(frozen=True)
class _Unpublished:
    """A change handed to the writer, to publish once it is committed."""

    event: StoredEvent
    keys: EventKeys
    new_job: bool
    finished: bool
    id: str


class Runtime:
    """The server's state and the one place that mutates it (see the module docstring)."""

    def __init__(self, config: Config, store: Store, clock: Clock | None = None):
        self.config = config
        self.store = store
        self.clock = clock or SystemClock()
        # Admission parses a circuit sent again (by its SHA-256, or whole) and checks it
        # against the device once, as a worker does (see execution.memo).
        self.memo = Memo()
        try:
            self.engine = engine_for(config.engine, config.ray_address)
        except EngineUnavailable as exc:
            raise ConfigError(str(exc)) from None
        self.qpus = {
            b.name: Qpu(
                b,
                profile := load_profile(b.profile),
                Executor(profile, noise=False, memo=self.memo),  # validation only
                self.engine.worker(b.name, b.profile, b.noise, b.ray_resources),
            )
            for b in config.backends
        }
        # Unfinished jobs' latest attempt and where it runs or ran (the scheduler does not
        # know): put on the job's messages and records by _placed.
        self._placements: dict[str, tuple[int, Placement]] = {}
        self.scheduler = Scheduler(
            self.clock,
            self.qpus,
            idle_timeout=config.idle_timeout,
            on_change=self._on_change,
            max_attempts=config.max_attempts,
        )
        self._inputs: dict[str, JobInputs] = {}  # the jobs the scheduler holds
        self._finished: list[str] = []  # finished jobs to drop from memory
        self._new_job_requests: dict[str, bytes] = {}  # to insert with the job's first change
        self._unstored_requests: dict[str, bytes] = {}  # inserted, not yet committed
        self._recent_results: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
        self._recent_bytes = 0
        # Who waits for an unfinished job to finish in memory (see until_finished).
        self._finish_waiters: dict[str, list[asyncio.Future]] = {}
        self._deferred: list[Callable[[], None]] = []  # see _after_due
        self._deferring = True  # until stop()
        self._loop = asyncio.get_running_loop()
        self._unpublished: deque[_Unpublished | None] = deque()  # None: a result row
        # (revision, tiebreak, future, is_read): a read's waiter fails at once on a storage
        # fault; a change's acknowledgement waits until the change is stored.
        self._durable_waiters: list[tuple[int, int, asyncio.Future, bool]] = []
        self.storage_fault: str | None = None  # why the store refuses writes, while it does
        self.health_listeners: list[Callable[[bool], None]] = []  # called with "serving"
        # Told every lifecycle change as it happens (the metrics, the dashboard's QPU view):
        # O(1) work per change, so nobody needs to scan the history. Must not call back in.
        self.change_listeners: list[Callable[[Change], None]] = []
        self._writer = Writer(store, self._on_commit, self._on_storage_fault)
        self._wakeup = asyncio.Event()
        self._coordinator: asyncio.Task | None = None
        self._pruner: asyncio.Task | None = None
        self._executions: set[asyncio.Task] = set()
        self._restore()  # first: a data dir that cannot be restored spawns no sandbox
        self.circuits = CircuitCache()
        self.sandbox = CircuitSandbox(
            CIRCUIT_SANDBOXES, config.limits.circuit_parse_memory_bytes, CIRCUIT_PARSE_TIMEOUT
        )

    # ----------------------------------------------------------------- startup and shutdown

    def _restore(self) -> None:
        """Resume from the store: jobs, sessions, retained events and the revision sequence."""
        snapshot = self.store.snapshot()
        before_first = (
            snapshot.events[0].revision - 1 if snapshot.events else snapshot.last_revision
        )
        self.events = EventLog(start_revision=before_first, retain=EVENTS_RETAINED)
        self.events.seed(
            records.event_from_stored(event, self._event_keys_of(event))
            for event in snapshot.events
        )
        self._assigned = self.events.last_revision  # the newest revision handed to a change
        jobs = [records.job_from_record(r) for r in snapshot.jobs]
        sessions = [records.session_from_record(r) for r in snapshot.sessions]
        for row in snapshot.jobs:
            self._inputs[row["id"]] = records.inputs_from_record(row)
        self._finished.extend(job.id for job in jobs if job.status.finished)
        missing = {r.backend for r in [*jobs, *sessions]} - set(self.qpus)
        if missing:
            raise ConfigError(
                f"{self.config.data_dir} holds jobs or sessions on backends {sorted(missing)} "
                "that the configuration no longer has: add them back to [[backends]], or start "
                "with another server.data_dir"
            )
        if jobs or sessions:
            log.info("restoring %d sessions and %d jobs", len(sessions), len(jobs))
        self.scheduler.restore(sessions, jobs, snapshot.usage, snapshot.last_seq)
        self._forget_finished()

    def _event_keys_of(self, event: StoredEvent) -> EventKeys:
        if event.kind == "job":
            job = job_pb2.Job.FromString(event.payload)
            return EventKeys(
                instance=event.instance,
                job_id=job.id,
                session_id=job.session_id or None,
                tags=tuple(job.tags),
            )
        session = session_pb2.Session.FromString(event.payload)
        return EventKeys(instance=event.instance, job_id=None, session_id=session.id, tags=())

    async def start(self) -> None:
        """Wait for the circuit sandboxes to start and the engine to connect (the Ray engine
        joins its cluster); start the coordinator and the retention task.

        Raises:
            ConfigError: the engine cannot run jobs (e.g. no Ray cluster at ray_address).
        """
        await asyncio.to_thread(self.sandbox.wait_ready)
        try:
            await self.engine.start(self._wakeup.set)
        except EngineUnavailable as exc:
            await self.stop(grace=0)  # workers, sandboxes and the store writer: none outlives us
            raise ConfigError(str(exc)) from None
        self._coordinator = asyncio.create_task(self._coordinate(), name="qsession-coordinator")
        self._pruner = asyncio.create_task(self._prune(), name="qsession-retention")

    async def _prune(self) -> None:
        """Apply the [retention] rule now and every PRUNE_INTERVAL seconds, off the loop."""
        retention = self.config.retention
        while True:
            now = self.clock.now()
            before = None if retention.max_age is None else now - retention.max_age
            try:
                deleted = await asyncio.to_thread(self.store.prune, before, retention.keep_newest)
                if deleted:
                    log.info("retention: deleted %d finished jobs and their results", deleted)
            except Exception:  # a failed pass is retried at the next interval
                log.exception("retention pass failed")
            await asyncio.sleep(PRUNE_INTERVAL)

    async def stop(self, grace: float) -> None:
        """Stop dispatching; give running jobs ``grace`` seconds to finish and be recorded.

        A job still running after that is stopped (its worker is killed): it stays RUNNING in
        the store and runs again after a restart.
        """
        self._run_deferred()
        self._deferring = False  # from now on each change goes to the writer at once
        for task in (self._coordinator, self._pruner):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._executions:
            await asyncio.wait(self._executions, timeout=grace)
        for task in self._executions:
            log.warning(
                "%s still runs after %g s: it is stopped, stays RUNNING and runs again on restart",
                task.get_name(),
                grace,
            )
            task.cancel()
        await asyncio.gather(*self._executions, return_exceptions=True)
        await asyncio.gather(*(qpu.worker.stop() for qpu in self.qpus.values()))
        await self.engine.stop()
        await asyncio.to_thread(self.sandbox.close)
        await asyncio.to_thread(self._writer.close)  # writes what is queued

    # ------------------------------------------------------------------ changes and events

    def _on_change(self, change: Change) -> None:
        """A lifecycle change (called by the scheduler): it takes the next revision now, and
        is committed with its event, then published, by ``_record_change``.

        Only what the job's next step needs happens here: a new job's request is kept for its
        execution, and a job that ended is handed to whoever waits for it in memory
        (``until_finished``). The rest (the row, the event, the listeners) waits for the
        callbacks already due on the loop (``_after_due``), so that a job's request leaves for
        its worker, and its result for its client, before the bookkeeping of the changes that
        made them so.
        """
        self._assigned += 1
        new_request = message = None
        if change.kind == "job":
            job = self._placed(change.record)  # where it runs as of now, not of later
            new_request = self._new_job_requests.pop(job.id, None)
            if new_request is not None:
                self._unstored_requests[job.id] = new_request
            waiters = self._finish_waiters.pop(job.id, ()) if job.status.finished else ()
            if waiters:
                message = self.job_message(job)
                for future in waiters:
                    if not future.done():
                        future.set_result(message)
        revision = self._assigned
        self._after_due(lambda: self._record_change(change, revision, new_request, message))

    def _record_change(
        self,
        change: Change,
        revision: int,
        new_request: bytes | None,
        message: job_pb2.Job | None = None,
    ) -> None:
        """Hand a change to the writer with its event (to publish once committed), and tell
        the listeners. ``message``: the job's message if ``_on_change`` already built it."""
        if change.kind == "job":
            job: Job = change.record
            payload = (message or self.job_message(job)).SerializeToString()
            keys = EventKeys(
                instance=job.instance,
                job_id=job.id,
                session_id=job.session_id,
                tags=tuple(job.tags),
            )
            record = records.job_record(job, self._job_inputs(job.id))
        else:
            session: Session = change.record
            payload = self.session_message(session).SerializeToString()
            keys = EventKeys(instance=session.instance, job_id=None, session_id=session.id, tags=())
            record = records.session_record(session)
        stored = StoredEvent(
            revision=revision,
            kind=change.kind,
            instance=keys.instance,
            time=change.time,
            payload=payload,
        )
        finished = change.kind == "job" and change.record.status.finished
        self._unpublished.append(
            _Unpublished(stored, keys, new_request is not None, finished, record["id"])
        )
        self._writer.put(ChangeRow(change.kind, record, stored, new_request))
        for listener in self.change_listeners:
            try:
                listener(change)
            except Exception:  # an observer's bug must not stop the lifecycle
                log.exception("change listener failed")
        self._wakeup.set()

    def _after_due(self, step: Callable[[], None]) -> None:
        """Run ``step`` once the loop has run the callbacks due now (in the order they were
        deferred; at once when the runtime stops). Deferred steps run as one timer with no
        delay: asyncio runs due timers after the callbacks already scheduled (a task woken
        now, a stream's next message)."""
        if not self._deferring:
            step()
            return
        if not self._deferred:
            self._loop.call_later(0, self._run_deferred)
        self._deferred.append(step)

    def _run_deferred(self) -> None:
        steps, self._deferred = self._deferred, []
        for step in steps:
            try:
                step()
            except Exception:  # a bug must not lose the changes after it
                log.exception("recording a change failed")

    def _on_commit(self, count: int, error: Exception | None) -> None:
        """The writer stored (or failed to store) the ``count`` oldest unpublished rows."""
        self._loop.call_soon_threadsafe(self._publish, count, error)

    def _publish(self, count: int, error: Exception | None) -> None:
        """Publish what was just committed, in order, and wake whoever waited for it.

        A failed write is logged and its changes are published all the same, so that memory
        and the event log stay in step; their waiters get the error.
        """
        for _ in range(count):
            item = self._unpublished.popleft()
            if item is None:
                continue  # a result row
            stored = item.event
            event = self.events.append(stored.kind, stored.payload, stored.time, item.keys)
            assert event.revision == stored.revision, "the event log and the store disagree"
            if item.new_job:
                self._unstored_requests.pop(item.id, None)
            if item.finished:
                self._finished.append(item.id)  # now readable from the store: forget it
        committed = self.events.last_revision
        while self._durable_waiters and self._durable_waiters[0][0] <= committed:
            _, _, future, _ = heapq.heappop(self._durable_waiters)
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(
                    RpcError(
                        grpc.StatusCode.UNAVAILABLE,
                        f"the store could not write: {error}",
                        reason="STORAGE_UNAVAILABLE",
                    )
                )
        self._wakeup.set()

    def _store_result(self, job_id: str, result: bytes) -> None:
        """Queue a job's result for the store; it is committed before any later change. A
        small one is also kept in memory for a while (``recent_result``)."""
        if len(result) > RECENT_RESULT_BYTES:
            self._after_due(lambda: self._put_result(ResultRow(job_id, result)))  # hashed on
            return  # the writer's thread
        digest = hashlib.sha256(result).hexdigest()
        self._after_due(lambda: self._put_result(ResultRow(job_id, result, digest)))
        self._recent_results[job_id] = (result, digest)
        self._recent_bytes += len(result)
        while self._recent_bytes > RECENT_RESULTS_BYTES:
            _, (data, _) = self._recent_results.popitem(last=False)
            self._recent_bytes -= len(data)

    def _put_result(self, row: ResultRow) -> None:
        self._unpublished.append(None)
        self._writer.put(row)

    def recent_result(self, job_id: str) -> tuple[bytes, str] | None:
        """A DONE job's serialized JobResult and SHA-256 if it is among the recent small ones
        kept in memory, else ``None`` (read it with ``result``). The caller has checked the
        job is DONE and the caller's: its DONE is published (so stored), or the caller created
        the job (see ``until_finished``)."""
        return self._recent_results.get(job_id)

    async def until_finished(self, job_id: str) -> job_pb2.Job | None:
        """The job as it ends (DONE, ERROR or CANCELLED), as soon as it ends in memory, before
        that is stored; ``None`` when it is no longer in memory (then read its stored state).

        Only for the caller that created the job (RunJob): a DONE result it gets this way
        may not be stored yet, and a job that then runs again after a restart gives the same
        result (``job_seed``). Everyone else learns of the end once it is committed.
        """
        try:
            job = self.scheduler.job(job_id)
        except NotFound:
            return None  # finished, stored and forgotten
        if job.status.finished:
            return self.job_message(job)
        future = self._loop.create_future()
        waiters = self._finish_waiters.setdefault(job_id, [])
        waiters.append(future)
        try:
            return await future
        finally:  # cancelled (the stream closed): stop waiting
            if self._finish_waiters.get(job_id) is waiters and future in waiters:
                waiters.remove(future)
                if not waiters:
                    del self._finish_waiters[job_id]

    async def durable(self, revision: int, read: bool = False) -> None:
        """Wait until every change up to ``revision`` is committed and published.

        A change's acknowledgement waits through a storage fault (the change is stored when
        the disk takes it again); a ``read`` does not wait for a disk that refuses writes.

        Raises:
            RpcError: (UNAVAILABLE) the store failed to write it; (RESOURCE_EXHAUSTED or
                UNAVAILABLE) a read while the store refuses writes.
        """
        if self.events.last_revision >= revision:
            return
        if read and self.storage_fault is not None:
            raise self._storage_error()
        future = self._loop.create_future()
        heapq.heappush(self._durable_waiters, (revision, id(future), future, read))
        await future

    async def flush(self, read: bool = False) -> int:
        """Wait until every change made so far is committed; return the newest revision.
        ``read``: for a read, which fails at once while the store refuses writes."""
        revision = self._assigned
        await self.durable(revision, read)
        return revision

    def check_writable(self) -> None:
        """Refuse a change while the store cannot write (before anything in memory changes).

        Raises:
            RpcError: RESOURCE_EXHAUSTED (disk full) or UNAVAILABLE, naming the fault.
        """
        if self.storage_fault is not None:
            raise self._storage_error()

    def _storage_error(self) -> RpcError:
        full = "disk is full" in (self.storage_fault or "")
        return RpcError(
            grpc.StatusCode.RESOURCE_EXHAUSTED if full else grpc.StatusCode.UNAVAILABLE,
            f"{self.storage_fault}. The server stores no change until then, so it refuses "
            "changes and reads of unstored state; this request changed nothing. Retry later.",
            None,
            reason="STORAGE_FULL" if full else "STORAGE_UNAVAILABLE",
        )

    def _on_storage_fault(self, reason: str | None) -> None:
        """The writer's report (on its thread) that the disk refuses commits, or takes them
        again (``None``)."""
        self._loop.call_soon_threadsafe(self._set_storage_fault, reason)

    def _set_storage_fault(self, reason: str | None) -> None:
        """Enter or leave the storage fault: reads waiting for unstored changes fail at once,
        QPUs start no job, health reports NOT_SERVING until the store writes again."""
        self.storage_fault = reason
        if reason is not None:
            error = self._storage_error()
            for _, _, future, read in self._durable_waiters:
                if read and not future.done():
                    future.set_exception(error)
        for listener in self.health_listeners:
            listener(reason is None)
        self._wakeup.set()

    def job_message(self, job: Job) -> job_pb2.Job:
        """The Job message of a lifecycle job."""
        inputs = self._job_inputs(job.id)
        return convert.job_message(self._placed(job), inputs.options, inputs.num_pubs)

    def _placed(self, job: Job) -> Job:
        """The job (a snapshot) with where its latest attempt runs or ran: its worker's
        placement when the attempt starts, then where the worker says it ran. Finished jobs
        have it in their stored record."""
        known = self._placements.get(job.id)
        if job.status is JobStatus.RUNNING and (known is None or known[0] != job.attempts):
            where = self.qpus[job.backend].worker.placement
            if where is not None:
                known = self._placements[job.id] = (job.attempts, where)
        if known is not None:
            job.placement = known[1]
        return job

    def _job_inputs(self, job_id: str) -> JobInputs:
        """A job's options and PUB count: in memory while the scheduler holds the job, else
        from its stored record."""
        inputs = self._inputs.get(job_id)
        if inputs is None:
            inputs = records.inputs_from_record(self.store.job(job_id))
        return inputs

    def _forget_finished(self) -> None:
        """Drop finished jobs from memory (their records stay in the store): per-request work
        and memory then stay flat however many jobs have run."""
        for job_id in self._finished:
            self.scheduler.forget(job_id)
            self._inputs.pop(job_id, None)
            self._placements.pop(job_id, None)
        self._finished.clear()

    def session_message(self, session: Session) -> session_pb2.Session:
        """The Session message of a lifecycle session, now."""
        pending = self.scheduler.pending_jobs(session.id)
        return convert.session_message(session, self.clock.now(), pending)

    def subscribe(
        self, instance: str, after_revision: int | None, kind: str, **filters
    ) -> Subscription:
        """A watch subscription for one instance (see EventLog.subscribe), with the config's
        per-watcher buffer."""
        return self.events.subscribe(
            instance, after_revision, {kind}, buffer=self.config.watch_buffer, **filters
        )

    # ------------------------------------------------------------------------ coordination

    async def _coordinate(self) -> None:
        while True:
            self._wakeup.clear()
            try:
                self._forget_finished()
                self.scheduler.poll()
                for name, qpu in self.qpus.items():
                    self._start_next(name, qpu)
            except Exception:  # a bug must not stop the QPUs: log it and keep coordinating
                log.exception("coordinator step failed")
            deadline = self.scheduler.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self.clock.now())
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except TimeoutError:
                pass

    def _start_next(self, name: str, qpu: Qpu) -> None:
        """Start the QPU's next job if it is idle and has one."""
        # A worker not ready (a Ray actor with no node yet) gets no job: its jobs wait in
        # the queue; the worker wakes the coordinator when it becomes ready.
        if qpu.running is None and self.storage_fault is None and qpu.worker.ready:
            job = self.scheduler.next_job(name)
            if job is not None:
                qpu.running = job.id
                qpu.cancelled = False
                task = asyncio.create_task(self._execute(qpu, job), name=f"job-{job.id}")
                self._executions.add(task)
                task.add_done_callback(self._executions.discard)

    async def _execute(self, qpu: Qpu, job: Job) -> None:
        """Run one job on its QPU's worker and report how it ended to the scheduler.

        The job ends DONE with its stored result; ERROR when it fails, or when it runs past its
        ``max_execution_time`` (its worker is stopped then); CANCELLED when the user cancels it
        (likewise). A worker that dies makes the job run again (``Scheduler.retry``).
        Cancelling this task (shutdown) stops the worker and leaves the job RUNNING.
        """
        started = time.monotonic()
        options = self._inputs[job.id].options
        limit = options.max_execution_time if options.HasField("max_execution_time") else None
        seed = options.seed_simulator if options.HasField("seed_simulator") else job_seed(job.id)
        status, error = JobStatus.DONE, None
        qpu.execution = asyncio.current_task()
        try:
            try:
                # The worker is awaited in this task (no task per run: each costs the loop a
                # turn before the request leaves). A cancel by the user or the time limit
                # cancels the await, which kills the worker; a fresh one starts.
                async with asyncio.timeout(limit):
                    request = self._unstored_requests.get(job.id) or await asyncio.to_thread(
                        self.store.job_request, job.id
                    )
                    result, placement = await self._run_on_qpu(qpu, request, seed)
            except TimeoutError:
                status, error = (
                    JobStatus.ERROR,
                    f"the job reached its max_execution_time of {limit:g} s and was stopped",
                )
            except asyncio.CancelledError:
                if not qpu.cancelled:
                    raise  # shutdown: see below
                asyncio.current_task().uncancel()  # cancelled by the user: the scheduler
                # ends it CANCELLED
            else:
                self._placements[job.id] = (job.attempts, placement)  # as the worker says
                self._store_result(job.id, result)
        except WorkerLost as lost:
            log.warning("job %s: %s; it runs again", job.id, lost)
            self._release(qpu)
            self.scheduler.retry(job.id, str(lost))
            return
        except JobFailed as failed:
            status, error = JobStatus.ERROR, str(failed)
        except asyncio.CancelledError:
            raise  # shutdown: the job stays RUNNING and runs again after a restart
        except Exception as exc:  # noqa: BLE001 - the job fails with the reason; the server goes on
            log.warning("job %s failed: %s", job.id, exc)
            status, error = JobStatus.ERROR, str(exc) or type(exc).__name__
        self._release(qpu)
        self.scheduler.finish(job.id, status, time.monotonic() - started, error)

    @staticmethod
    async def _run_on_qpu(qpu: Qpu, request: bytes, seed: int) -> tuple[bytes, Placement]:
        """The worker's result and where it ran, returned no sooner than the backend's
        min_job_duration."""
        started = time.monotonic()
        answer = await qpu.worker.run(request, seed)
        hold = qpu.config.min_job_duration - (time.monotonic() - started)
        if hold > 0:
            await asyncio.sleep(hold)
        return answer

    def _release(self, qpu: Qpu) -> None:
        qpu.running = None
        qpu.execution = None
        self._wakeup.set()

    # ------------------------------------------------------------------------------ queries

    def _qpu(self, name: str, field: str) -> Qpu:
        """The QPU of a configured backend; InvalidArgument if unnamed, NotFound if unknown."""
        if not name:
            raise InvalidArgument(
                f"{field}: required; ListBackends gives the names",
                field=field,
                reason="FIELD_REQUIRED",
            )
        qpu = self.qpus.get(name)
        if qpu is None:
            raise NotFound(
                f"{field}: backend {name!r} does not exist; use one of {sorted(self.qpus)}",
                field=field,
                reason="BACKEND_NOT_FOUND",
            )
        return qpu

    def backend_message(self, name: str) -> backend_pb2.Backend:
        """The Backend message of a configured backend (NotFound otherwise). A backend whose
        worker is not ready (a Ray actor waiting for a node) is not operational, and its
        status message says why; its jobs wait."""
        qpu = self._qpu(name, "name")
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

    def job(self, instance: str, job_id: str) -> Job:
        """The instance's job (from the scheduler while it is unfinished, else from the store);
        another instance's answers exactly like a missing one."""
        try:
            job = self.scheduler.job(job_id)
        except NotFound:
            record = self.store.job(job_id)
            job = None if record is None else records.job_from_record(record)
        if job is None or job.instance != instance:
            raise NotFound(f"id: job {job_id!r} does not exist", field="id", reason="JOB_NOT_FOUND")
        return job

    def result(self, instance: str, job_id: str) -> tuple[bytes, str]:
        """A DONE job's serialized JobResult and SHA-256."""
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

    # ----------------------------------------------------------------------------- commands

    def create_session(
        self, instance: str, plan: Plan, backend: str, mode: int, max_ttl: str
    ) -> Session:
        """Create a session or batch (see SessionService.CreateSession)."""
        if mode not in convert.MODE_NAMES:
            raise InvalidArgument(
                "mode: set MODE_DEDICATED (a session) or MODE_BATCH (a batch)",
                field="mode",
                reason="FIELD_INVALID",
            )
        ttl = parse_max_ttl(max_ttl) if max_ttl.strip() else None
        self._qpu(backend, "backend")
        return self.scheduler.create_session(
            str(uuid.uuid4()), instance, plan, backend, convert.MODE_NAMES[mode], ttl
        )

    async def create_job(self, instance: str, request: job_pb2.CreateJobRequest) -> tuple[Job, int]:
        """Validate, persist and enqueue a job; a repeated request_id returns the first job.
        Returns once the job is stored, with the revision the returned job is as of.

        The circuits are parsed in the sandbox first (see ``circuit_sandbox``), then decoded
        and checked against the backend and the [limits] (see ``admission``). That work waits
        for the instance's turn (``fairness``): at most
        ``max_concurrent_admissions_per_instance`` of an instance's requests at once, other
        instances' requests going ahead of the rest.
        """
        admission.check_request(request, self.config.limits)
        existing = self._job_for_request(instance, request.request_id, stored=False)
        if existing is not None:
            return existing, await self.flush()
        backend = self._job_backend(instance, request)
        qpu = self.qpus[backend]
        scope = (instance, request.session_id)
        held = self._inline_widths(request)
        if held is not None:
            sizes = self._admit_pubs(qpu, request, scope, held)
        else:
            sizes = await admission_of(self).run(instance, self._admit_pubs, qpu, request, scope)
        # From here to submit there is no await: request_id and queue checks cannot race.
        self.check_writable()  # the store may have started refusing writes meanwhile
        existing = self._job_for_request(instance, request.request_id)
        if existing is not None:
            return existing, await self.flush()
        self._check_queue(instance)
        job = Job(
            id=str(uuid.uuid4()),
            instance=instance,
            backend=backend,
            program=convert.PROGRAM_NAMES[request.program],
            session_id=request.session_id or None,
            tags=list(request.tags),
            request_id=request.request_id or None,
        )
        self._inputs[job.id] = JobInputs(options=request.options, num_pubs=len(sizes))
        self._new_job_requests[job.id] = request.SerializeToString()
        try:
            job = self.scheduler.submit(job)
        except Exception:
            self._inputs.pop(job.id, None)
            self._new_job_requests.pop(job.id, None)
            raise
        revision = self._assigned  # the job as returned is the job at this revision
        try:
            # An idle QPU starts the job now rather than on the coordinator's next turn: its
            # request leaves sooner, and RUNNING is committed together with QUEUED.
            self._start_next(backend, qpu)
        except Exception:  # a bug must not fail a stored job's CreateJob: the coordinator
            log.exception("starting job %s failed", job.id)  # tries again
            self._wakeup.set()
        await self.durable(revision)  # acknowledged only once stored
        return job, revision

    def _job_for_request(self, instance: str, request_id: str, stored: bool = True) -> Job | None:
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

    def _job_backend(self, instance: str, request: job_pb2.CreateJobRequest) -> str:
        if request.program not in convert.PROGRAM_NAMES:
            raise InvalidArgument(
                "program: set PROGRAM_SAMPLER or PROGRAM_ESTIMATOR",
                field="program",
                reason="FIELD_INVALID",
            )
        if request.session_id:
            session = self.session(instance, request.session_id, field="session_id")
            if request.backend and request.backend != session.backend:
                raise InvalidArgument(
                    f"backend: session {session.id} runs on {session.backend!r}, not "
                    f"{request.backend!r}; leave backend empty or name the session's",
                    field="backend",
                    reason="BACKEND_MISMATCH",
                )
            return session.backend
        return self._qpu(request.backend, "backend").config.name

    def _inline_widths(self, request: job_pb2.CreateJobRequest) -> dict[str, CircuitWidth] | None:
        """Whether to admit ``request`` on the event loop rather than in an admission thread:
        a small request (at most INLINE_ADMISSION_BYTES) whose every circuit is held parsed,
        sent by its SHA-256 or whole (the same bytes passed the sandbox before). Its admission
        is then memo look-ups and a small decode, which costs less than the hop to a thread
        and back (an iterative algorithm's jobs, or any client's repeated circuit). A circuit
        not held parsed goes to a thread: parsing it may take long, and an instance's turns
        (``fairness``) bound that work.

        Returns:
            ``None`` to admit in a thread; else the widths of the circuits sent whole, by
            SHA-256 (taken now: the memo may drop them before ``_admit_pubs`` runs).
        """
        if request.ByteSize() > INLINE_ADMISSION_BYTES:
            return None
        widths = {}
        for _, circuit in admission.circuits(request):
            by_digest = circuit.WhichOneof("format") == "sha256"
            digest = circuit.sha256 if by_digest else circuit_digest(circuit.SerializeToString())
            parsed = self.memo.held_circuit(digest)
            if parsed is None:
                return None
            if not by_digest:
                widths[digest] = CircuitWidth(parsed.num_qubits, parsed.num_clbits)
        return widths

    def _admit_pubs(
        self,
        qpu: Qpu,
        request: job_pb2.CreateJobRequest,
        scope: tuple[str, str],
        held: dict[str, CircuitWidth] | None = None,
    ) -> tuple[tuple[int, int], ...]:
        """Parse the circuits in the sandbox (a circuit sent by its SHA-256 is taken from the
        ``scope``'s circuit cache instead, and put in place in ``request``; one sent whole
        whose bytes are ``held`` parsed is not parsed again), check their widths, decode and
        validate the PUBs, and check their shots and samples; return each PUB's shots and
        parameter points. Runs in an admission thread (see
        ``fairness.FairAdmission``), which has a sandbox process to itself, or on the loop for
        a small request of circuits held parsed (``_inline_widths``).

        Raises:
            WireError, InvalidPub, LimitExceeded: naming the offending field.
        """
        named = admission.circuits(request)
        known = self.circuits.resolve(scope, named)  # sha256 references -> kept circuits
        if held:
            known = [
                held[circuit_digest(circuit.SerializeToString())] if width is None else width
                for (_, circuit), width in zip(named, known, strict=True)
            ]
        fields, circuits = zip(*named, strict=True)
        sent = [pair for pair, width in zip(named, known, strict=True) if width is None]
        parsed = iter(self.sandbox.widths(sent) if sent else [])
        widths = [next(parsed) if width is None else width for width in known]
        limits = self.config.limits
        admission.check_widths(
            widths, fields, qpu.config.name, qpu.profile.target.num_qubits, limits
        )
        sizes = self._decode_pubs(qpu, request)
        admission.check_samples(sizes, admission.pubs_field(request), limits)
        self.circuits.remember(scope, circuits, widths)
        return sizes

    def _check_queue(self, instance: str) -> None:
        limit = self.config.limits.max_queued_jobs_per_instance
        queued = self.scheduler.queued_of(instance)
        if queued >= limit:
            raise LimitExceeded(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"the instance has {queued} queued jobs, the limit is {limit}; "
                "wait for some to finish",
                None,
                "max_queued_jobs_per_instance",
                limit,
            )

    def _decode_pubs(
        self, qpu: Qpu, request: job_pb2.CreateJobRequest
    ) -> tuple[tuple[int, int], ...]:
        """Decode and validate every PUB for the QPU, and the options it can apply; return
        each PUB's shots and parameter points (``admission.pub_sizes``).

        A request like one admitted before but for its parameter values (an iterative
        algorithm's next job: same circuits, observables, names, shapes, precision or shots,
        options and device) is not decoded again: only its values are checked (their size,
        and that each is finite), as the decode would.

        Raises:
            WireError, InvalidPub, InvalidOption: naming the field.
        """
        options = request.options.SerializeToString()
        # Checked once per distinct options (a VQE sends the same ones every iteration).
        self.memo.get(("options", request.program, options), lambda: self._settings(request))
        field = admission.pubs_field(request)
        estimator = request.program == job_pb2.PROGRAM_ESTIMATOR
        count = "precision" if estimator else "shots"
        structure: tuple = ("admitted", qpu.config.name, request.program, options)
        for pub in getattr(request, field):
            values = pub.parameter_values
            structure += (
                circuit_digest(pub.circuit.SerializeToString()),
                pub.observables.SerializeToString() if estimator else b"",
                pub.HasField("parameter_values"),
                tuple(values.parameters),
                tuple(values.values.shape),
                getattr(pub, count) if pub.HasField(count) else None,
            )
        sizes = self.memo.get(structure, lambda: self._decoded_pub_sizes(qpu, request))
        for i, pub in enumerate(getattr(request, field)):
            if pub.parameter_values.parameters:  # (the decode reads values only then)
                check_parameter_values(pub.parameter_values, f"{field}[{i}].parameter_values")
        return sizes

    @staticmethod
    def _settings(request: job_pb2.CreateJobRequest) -> object:
        """The request's mitigation settings (raises InvalidOption, naming the option)."""
        if request.program == job_pb2.PROGRAM_SAMPLER:
            return mitigation.sampler_settings(request.options)
        return mitigation.estimator_settings(request.options)

    def _decoded_pub_sizes(
        self, qpu: Qpu, request: job_pb2.CreateJobRequest
    ) -> tuple[tuple[int, int], ...]:
        """Every PUB decoded (with Qiskit's containers) and validated for the QPU."""
        pubs = decode_job_pubs(
            request.program, request, request.options, self.memo.circuit, self.memo.observables
        )
        validate = (
            qpu.executor.validate_sampler_pub
            if request.program == job_pb2.PROGRAM_SAMPLER
            else qpu.executor.validate_estimator_pub
        )
        for i, pub in enumerate(pubs):
            validate(pub, i)
        return admission.pub_sizes(pubs)

    def job_inputs(self, instance: str, job_id: str) -> job_pb2.JobInputs:
        """The PUBs a job of ``instance`` was submitted with, as its request carried them."""
        self.job(instance, job_id)
        request = job_pb2.CreateJobRequest.FromString(self.store.job_request(job_id))
        return job_pb2.JobInputs(
            sampler_pubs=request.sampler_pubs, estimator_pubs=request.estimator_pubs
        )

    def update_job_tags(self, instance: str, job_id: str, tags: list[str]) -> Job:
        """Replace the tags of a job of ``instance`` (see JobService.UpdateJob)."""
        job = self.job(instance, job_id)
        admission.check_tags(tags, "job.tags")
        if not job.status.finished:
            return self.scheduler.update_tags(job_id, tags)
        job.tags = list(tags)  # a finished job lives in the store only: record it here
        self._on_change(Change("job", job, self.clock.now()))
        return job

    def cancel_job(self, instance: str, job_id: str) -> Job:
        """Cancel a job (see JobService.CancelJob): a running one is stopped."""
        job = self.job(instance, job_id)
        if job.status.finished:  # perhaps no longer in the scheduler's memory
            raise nothing_to_cancel(job)
        job = self.scheduler.cancel_job(job_id)
        qpu = self.qpus[job.backend]
        if qpu.running == job_id:
            qpu.cancelled = True
            if qpu.execution is not None:
                qpu.execution.cancel()  # stops the worker (see _execute)
        return job

    def close_session(self, instance: str, session_id: str) -> Session:
        """Close a session: no new jobs; it ends when its last job finishes."""
        self.session(instance, session_id)
        self.scheduler.close_session(session_id)
        return self.scheduler.session(session_id)

    def cancel_session(self, instance: str, session_id: str) -> Session:
        """Cancel a session: its queued jobs are cancelled and it closes."""
        self.session(instance, session_id)
        self.scheduler.cancel_session(session_id)
        return self.scheduler.session(session_id)

    async def list_jobs(
        self, instance: str, where: JobFilter, before_seq: int | None, limit: int
    ) -> list[tuple[int, job_pb2.Job]]:
        """A page of the instance's jobs that match ``where``, newest first, read from the
        store by key: ``(seq, message)`` pairs; the next page starts before the last seq."""
        if where.states and set(where.states) <= UNFINISHED:
            return self._list_unfinished(instance, where, before_seq, limit)
        rows = await asyncio.to_thread(self.store.list_jobs, instance, where, before_seq, limit)
        return [(row["seq"], self._row_message(row)) for row in rows]

    def _list_unfinished(
        self, instance: str, where: JobFilter, before_seq: int | None, limit: int
    ) -> list[tuple[int, job_pb2.Job]]:
        """list_jobs for QUEUED and RUNNING jobs only: from the scheduler's memory, which holds
        every unfinished job, rather than a scan of the whole history."""
        jobs = [
            job
            for job in reversed(list(self.scheduler.jobs()))  # newest first
            if job.instance == instance
            and (before_seq is None or job.seq < before_seq)
            and where.matches(dataclasses.asdict(job))
        ]
        return [(job.seq, self.job_message(job)) for job in jobs[:limit]]

    @staticmethod
    def _row_message(row: dict) -> job_pb2.Job:
        inputs = records.inputs_from_record(row)
        return convert.job_message(records.job_from_record(row), inputs.options, inputs.num_pubs)

    def list_sessions(self, instance: str) -> Iterable[Session]:
        """The instance's sessions, newest first."""
        return sorted(
            (s for s in self.scheduler.sessions() if s.instance == instance),
            key=lambda s: (s.created, s.id),
            reverse=True,
        )
