"""The ledger: every lifecycle change committed to the store with its event, then published.

The scheduler reports each change (``on_change``); the change takes the next revision at
once, and its row and watch event go to the store's writer thread. Once the writer has
committed them, they are published on the event log, in order (commit, then publish), and
whoever waits for that revision (``durable``) is woken: a command is acknowledged only once
what it changed is stored, and a read shows only committed state.

The one thing told before its commit is the creator of a job that ends (``until_finished``):
a job runs with a seed derived from its id (``dispatch.job_seed``), so if the server stops
before that DONE is stored, the job runs again and gives the same result.

While the disk refuses writes (a storage fault), commands are refused before anything
changes (``check_writable``), reads of unstored state fail at once, and QPUs start no job.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from qsession.config import Config
from qsession.lifecycle.clock import Clock
from qsession.lifecycle.errors import ResourceExhausted, Unavailable
from qsession.lifecycle.events import EventKeys, EventLog, Subscription
from qsession.lifecycle.model import Job, Session
from qsession.lifecycle.scheduler import Change
from qsession.runtime import records
from qsession.runtime.records import JobInputs
from qsession.store import Store
from qsession.store.sqlite import ChangeRow, ResultRow, Snapshot, StoredEvent
from qsession.store.writer import Writer
from qsession.v1 import job_pb2, session_pb2

log = logging.getLogger("qsession.runtime")

EVENTS_RETAINED = 10_000
PRUNE_INTERVAL = 60.0  # seconds between retention passes
RECENT_RESULT_BYTES = 64 * 1024
RECENT_RESULTS_BYTES = 16 * 1024 * 1024
"""Results up to RECENT_RESULT_BYTES are also kept in memory, the newest up to
RECENT_RESULTS_BYTES in all, so that the client waiting for one gets it without a read of
the store (see ``Ledger.recent_result``)."""


@dataclass(frozen=True)
class _Unpublished:
    """A change handed to the writer, to publish once it is committed."""

    event: StoredEvent
    keys: EventKeys
    new_job: bool
    finished: bool
    id: str


class Ledger:
    """Revisions, the store's writer, the event log and durability (see the module docstring).

    Args:
        config: the server's configuration (watch buffers, retention).
        store: the SQLite store.
        clock: the runtime's clock (retention ages).
        snapshot: what the store held at start; its retained events seed the event log.
        place: puts on a job (a snapshot) where its latest attempt runs or ran.
        job_message: the Job message of a lifecycle job, as of now.
        session_message: the Session message of a lifecycle session, as of now.
        wake: wakes the coordinator (a change was recorded or published).
        unstored: told (job id, reason) when a change of a job, or its result, could not be
            stored (a bad row, not the disk): the job must end in ERROR with the reason.
        forget_sessions: forgets the closed sessions the retention rule drops (each instance's
            beyond its newest N, those closed before a time); returns their ids, which
            retention then deletes from the store.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        clock: Clock,
        snapshot: Snapshot,
        place: Callable[[Job], Job],
        job_message: Callable[[Job], job_pb2.Job],
        session_message: Callable[[Session], session_pb2.Session],
        wake: Callable[[], None],
        unstored: Callable[[str, str], None] = lambda job_id, reason: None,
        forget_sessions: Callable[[int | None, float | None], list[str]] = lambda k, b: [],
    ) -> None:
        self.config = config
        self._unstored = unstored
        self._forget_sessions = forget_sessions
        self.store = store
        self.clock = clock
        self._place = place
        self._job_message = job_message
        self._session_message = session_message
        self._wake = wake
        before_first = (
            snapshot.events[0].revision - 1 if snapshot.events else snapshot.last_revision
        )
        try:  # a large fan-out is delivered in steps between the loop's other work
            defer = asyncio.get_running_loop().call_soon
        except RuntimeError:  # built outside an event loop: deliver within append
            defer = None
        self.events = EventLog(start_revision=before_first, retain=EVENTS_RETAINED, defer=defer)
        self.events.seed(
            records.event_from_stored(event, records.event_keys_of(event))
            for event in snapshot.events
        )
        self._assigned = self.events.last_revision  # the newest revision handed to a change
        # The jobs the scheduler holds: their options and PUB counts.
        self.inputs: dict[str, JobInputs] = {
            row["id"]: records.inputs_from_record(row) for row in snapshot.jobs
        }
        self._finished: list[str] = []  # finished jobs to drop from memory
        self._new_job_requests: dict[str, bytes] = {}  # to insert with the job's first change
        self._unstored_requests: dict[str, bytes] = {}  # inserted, not yet committed
        self._recent_results: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
        self._recent_bytes = 0
        # Who waits for an unfinished job to finish in memory (see until_finished).
        self._finish_waiters: dict[str, list[asyncio.Future[job_pb2.Job]]] = {}
        self._deferred: list[Callable[[], None]] = []  # see _after_due
        self._deferring = True  # until stop()
        self._loop = asyncio.get_running_loop()
        self._unpublished: deque[_Unpublished | str] = deque()  # str: a result row's job
        # (revision, tiebreak, future, is_read): a read's waiter fails at once on a storage
        # fault; a change's acknowledgement waits until the change is stored.
        self._durable_waiters: list[tuple[int, int, asyncio.Future[None], bool]] = []
        self.storage_fault: str | None = None  # why the store refuses writes, while it does
        self.health_listeners: list[Callable[[bool], None]] = []  # called with "serving"
        # Told every lifecycle change as it happens (the metrics, the QPU activity): O(1)
        # work per change, so nobody needs to scan the history. Must not call back in.
        self.change_listeners: list[Callable[[Change], None]] = []
        self._writer = Writer(store, self._on_commit, self._on_storage_fault)
        self._pruner: asyncio.Task[None] | None = None

    @property
    def revision(self) -> int:
        """The newest committed (and published) revision."""
        return self.events.last_revision

    def start(self) -> None:
        """Start the retention task."""
        self._pruner = asyncio.create_task(self._prune(), name="qsession-retention")

    async def stop(self) -> None:
        """Record what is deferred, stop retention; each later change goes to the writer at
        once."""
        self._run_deferred()
        self._deferring = False
        if self._pruner is not None:
            self._pruner.cancel()
            await asyncio.gather(self._pruner, return_exceptions=True)

    async def close(self) -> None:
        """Write what is queued and stop the writer thread."""
        await asyncio.to_thread(self._writer.close)

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
                sessions = self._forget_sessions(retention.keep_newest, before)
                if sessions:
                    await asyncio.to_thread(self.store.delete_sessions, sessions)
                    log.info("retention: deleted %d closed sessions", len(sessions))
            except Exception:  # a failed pass is retried at the next interval
                log.exception("retention pass failed")
            await asyncio.sleep(PRUNE_INTERVAL)

    # ------------------------------------------------------------------ changes and events

    def expect_job(self, job_id: str, inputs: JobInputs, request: bytes) -> None:
        """A job about to be submitted: its inputs, and its request to store with its first
        change."""
        self.inputs[job_id] = inputs
        self._new_job_requests[job_id] = request

    def drop_job(self, job_id: str) -> None:
        """A job whose submission failed: forget what ``expect_job`` kept."""
        self.inputs.pop(job_id, None)
        self._new_job_requests.pop(job_id, None)

    def unstored_request(self, job_id: str) -> bytes | None:
        """A job's request while it is not yet committed (else read it from the store)."""
        return self._unstored_requests.get(job_id)

    def on_change(self, change: Change) -> None:
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
        if isinstance(change.record, Job):
            job = self._place(change.record)  # where it runs as of now, not of later
            new_request = self._new_job_requests.pop(job.id, None)
            if new_request is not None:
                self._unstored_requests[job.id] = new_request
            waiters = self._finish_waiters.pop(job.id, ()) if job.status.finished else ()
            if waiters:
                message = self._job_message(job)
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
        message: job_pb2.Job | None,
    ) -> None:
        """Hand a change to the writer with its event (to publish once committed), and tell
        the listeners. ``message``: the job's message if ``on_change`` already built it."""
        finished = False
        if isinstance(change.record, Job):
            job = change.record
            finished = job.status.finished
            payload = (message or self._job_message(job)).SerializeToString()
            keys = EventKeys(
                instance=job.instance,
                job_id=job.id,
                session_id=job.session_id,
                tags=tuple(job.tags),
            )
            record = records.job_record(job, self.inputs_of(job.id))
        else:
            session = change.record
            payload = self._session_message(session).SerializeToString()
            keys = EventKeys(instance=session.instance, job_id=None, session_id=session.id, tags=())
            record = records.session_record(session)
        stored = StoredEvent(
            revision=revision,
            kind=change.kind,
            instance=keys.instance,
            time=change.time,
            payload=payload,
        )
        self._unpublished.append(
            _Unpublished(stored, keys, new_request is not None, finished, record["id"])
        )
        self._writer.put(ChangeRow(change.kind, record, stored, new_request))
        for listener in self.change_listeners:
            try:
                listener(change)
            except Exception:  # an observer's bug must not stop the lifecycle
                log.exception("change listener failed")
        self._wake()

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

    def _on_commit(self, count: int, failed: dict[int, Exception]) -> None:
        """The writer stored the ``count`` oldest unpublished rows, but for those ``failed``
        (their positions -> why)."""
        self._loop.call_soon_threadsafe(self._publish, count, failed)

    def _publish(self, count: int, failed: dict[int, Exception]) -> None:
        """Publish what was just committed, in order, and wake whoever waited for it.

        A row the store could not write (``failed``, a bug in that row) is published all the
        same, so that memory and the event log stay in step; whoever waits for that change
        gets the error, and its job ends in ERROR naming it (``unstored``). The other rows of
        its batch were stored and are acknowledged as usual.
        """
        errors: dict[int, Exception] = {}  # revision -> why it was not stored
        for position in range(count):
            item = self._unpublished.popleft()
            exc = failed.get(position)
            if isinstance(item, str):  # a result row
                if exc is not None:
                    self._lost(item, f"its result could not be stored: {exc}")
                continue
            if exc is not None:
                errors[item.event.revision] = exc
                if item.event.kind == "job":
                    self._lost(item.id, f"a change of the job could not be stored: {exc}")
            stored = item.event
            event = self.events.append(stored.kind, stored.payload, stored.time, item.keys)
            assert event.revision == stored.revision, "the event log and the store disagree"
            if item.new_job:
                self._unstored_requests.pop(item.id, None)
            if item.finished:
                self._finished.append(item.id)  # now readable from the store: forget it
        committed = self.events.last_revision
        while self._durable_waiters and self._durable_waiters[0][0] <= committed:
            revision, _, future, _ = heapq.heappop(self._durable_waiters)
            if future.done():
                continue
            error = errors.get(revision)
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(
                    Unavailable(
                        f"the store could not write this change: {error}",
                        reason="STORAGE_UNAVAILABLE",
                    )
                )
        self._wake()

    def forget_result(self, job_id: str) -> None:
        """Stop serving a job's result from memory (it was deleted, or never stored)."""
        data = self._recent_results.pop(job_id, None)
        if data is not None:
            self._recent_bytes -= len(data[0])

    def _lost(self, job_id: str, reason: str) -> None:
        """A job's change or result was not stored: it is not served from memory either,
        and the job ends in ERROR with ``reason``."""
        log.error("job %s ends in ERROR: %s", job_id, reason)
        self.forget_result(job_id)
        self._unstored(job_id, f"The server could not store this job's outcome ({reason}).")

    def take_finished(self) -> list[str]:
        """The finished jobs published since the last call (now readable from the store),
        whose inputs are forgotten here; the caller forgets the rest of them."""
        finished, self._finished = self._finished, []
        for job_id in finished:
            self.inputs.pop(job_id, None)
        return finished

    def inputs_of(self, job_id: str) -> JobInputs:
        """A job's options and PUB count: in memory while the scheduler holds the job, else
        from its stored record."""
        inputs = self.inputs.get(job_id)
        if inputs is None:
            record = self.store.job(job_id)
            if record is None:
                raise KeyError(f"job {job_id} is neither in memory nor stored")
            inputs = records.inputs_from_record(record)
        return inputs

    # ---------------------------------------------------------------------------- results

    def store_result(self, job_id: str, result: bytes) -> None:
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
        self._unpublished.append(row.job_id)
        self._writer.put(row)

    def recent_result(self, job_id: str) -> tuple[bytes, str] | None:
        """A DONE job's serialized JobResult and SHA-256 if it is among the recent small ones
        kept in memory, else ``None`` (read it from the store). The caller has checked the
        job is DONE and the caller's: its DONE is published (so stored), or the caller created
        the job (see ``until_finished``)."""
        return self._recent_results.get(job_id)

    async def until_finished(self, job: Job) -> job_pb2.Job:
        """The unfinished ``job`` as it ends (DONE, ERROR or CANCELLED), as soon as it ends in
        memory, before that is stored.

        Only for the caller that created the job (RunJob): a DONE result it gets this way
        may not be stored yet, and a job that then runs again after a restart gives the same
        result (``job_seed``). Everyone else learns of the end once it is committed.
        """
        future: asyncio.Future[job_pb2.Job] = self._loop.create_future()
        waiters = self._finish_waiters.setdefault(job.id, [])
        waiters.append(future)
        try:
            return await future
        finally:  # cancelled (the stream closed): stop waiting
            if self._finish_waiters.get(job.id) is waiters and future in waiters:
                waiters.remove(future)
                if not waiters:
                    del self._finish_waiters[job.id]

    # ------------------------------------------------------------------------- durability

    async def durable(self, revision: int, read: bool = False) -> None:
        """Wait until every change up to ``revision`` is committed and published.

        A change's acknowledgement waits through a storage fault (the change is stored when
        the disk takes it again); a ``read`` does not wait for a disk that refuses writes.

        Raises:
            Unavailable: the store failed to write it; (or ResourceExhausted, disk full) a
                read while the store refuses writes.
        """
        if self.events.last_revision >= revision:
            return
        if read and self.storage_fault is not None:
            raise self._storage_error()
        future: asyncio.Future[None] = self._loop.create_future()
        heapq.heappush(self._durable_waiters, (revision, id(future), future, read))
        await future

    async def flush(self, read: bool = False) -> int:
        """Wait until every change made so far is committed; return the newest revision.
        ``read``: for a read, which fails at once while the store refuses writes."""
        revision = self._assigned
        await self.durable(revision, read)
        return revision

    @property
    def assigned(self) -> int:
        """The newest revision handed to a change (committed or not)."""
        return self._assigned

    def check_writable(self) -> None:
        """Refuse a change while the store cannot write (before anything in memory changes).

        Raises:
            ResourceExhausted: (STORAGE_FULL) the disk is full; Unavailable otherwise.
        """
        if self.storage_fault is not None:
            raise self._storage_error()

    def _storage_error(self) -> ResourceExhausted | Unavailable:
        full = "disk is full" in (self.storage_fault or "")
        message = (
            f"{self.storage_fault}. The server stores no change until then, so it refuses "
            "changes and reads of unstored state; this request changed nothing. Retry later."
        )
        if full:
            return ResourceExhausted(message, reason="STORAGE_FULL")
        return Unavailable(message, reason="STORAGE_UNAVAILABLE")

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
        self._wake()

    # ------------------------------------------------------------------------------ watch

    def subscribe(
        self, instance: str, after_revision: int | None, kind: str, **filters: object
    ) -> Subscription:
        """A watch subscription for one instance (see EventLog.subscribe), with the config's
        per-watcher buffer."""
        return self.events.subscribe(
            instance,
            after_revision,
            {kind},
            buffer=self.config.watch_buffer,
            **filters,  # type: ignore[arg-type]
        )
