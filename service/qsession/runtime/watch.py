"""Watching: an instance's committed changes as they are published, resumable by revision.

``Watches.follow`` yields a subscription's events (etcd-style: revisioned, in order, a slow watcher
cut off rather than slowing the writer) in batches of what arrived since the last one, so that a
watcher that fell behind sends them together, and, when asked, a ``Progress`` after every
PROGRESS_INTERVAL seconds without one. ``Watches.until_final`` follows a few jobs until each
is DONE, ERROR or CANCELLED: what waiting for a job's result is built on.

Watchers are woken by ``FairWake``, instance by instance in turn: one instance's thousands of
watchers delay another instance's by at most WAKE_BATCH wake-ups, not by all of theirs.

While other instances are calling, what an instance's watchers receive, all together, is
bounded by ``FanOutBudget``: at most ``[limits] watch_messages_per_second_per_instance``
messages a second. Sending a message costs the event loop every other instance's calls share
(~25 us each), so 2,000 watchers of a busy instance would otherwise take the loop from
everyone: each watcher waits its turn instead, and what arrives meanwhile goes out with its
next batch (as one message when it takes ``batch_events``). A watcher that falls behind its
buffer this way is cut off with a revision to resume from, as any slow watcher is. An
instance alone on the server is not slowed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from qsession.buckets import TokenBuckets
from qsession.lifecycle.clock import Clock
from qsession.lifecycle.errors import InvalidArgument, LimitExceeded, ResourceExhausted
from qsession.lifecycle.events import Event
from qsession.lifecycle.model import Job
from qsession.runtime.ledger import Ledger
from qsession.runtime.queries import Queries
from qsession.v1 import job_pb2
from qsession.wire.states import JOB_STATUSES

log = logging.getLogger("qsession.watch")

PROGRESS_INTERVAL = 1.0  # seconds without an event before a progress notification
PARSED_EVENTS = 4096  # recent job events kept parsed, shared among watchers
WAKE_BATCH = 16  # watchers of one instance woken before the next instance's turn
SLOWED_LOG_INTERVAL = 60.0  # seconds between log lines about one instance's slowed watchers


@dataclass(frozen=True)
class Progress:
    """A progress notification: every change up to ``revision`` was delivered (``time``:
    when, in seconds since the epoch)."""

    revision: int
    time: float


@dataclass(frozen=True)
class JobUpdate:
    """A job as of ``revision`` (``time``: when it changed, or when it was read)."""

    revision: int
    job: job_pb2.Job
    time: float


class FairWake:
    """Wakes watchers in rounds: in each, up to ``batch`` of each instance's waiting
    wake-ups, instances in turn, the next round once the loop has run the woken ones.

    An event of an instance with 2,000 watchers wakes them all; woken directly, another
    instance's watcher of an event published just after would run after all 2,000. Here it
    runs after at most ``batch`` of them.
    """

    def __init__(self, batch: int = WAKE_BATCH) -> None:
        self.batch = batch
        self._waiting: OrderedDict[str, deque[Callable[[], None]]] = OrderedDict()
        self._scheduled = False

    def wake(self, instance: str, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from the loop) in ``instance``'s turn."""
        self._waiting.setdefault(instance, deque()).append(callback)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._round)

    def _round(self) -> None:
        self._scheduled = False
        for instance in list(self._waiting):
            waiting = self._waiting[instance]
            for _ in range(min(self.batch, len(waiting))):
                waiting.popleft()()
            if waiting:
                self._waiting.move_to_end(instance)
            else:
                del self._waiting[instance]
        if self._waiting:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._round)


class FanOutBudget:
    """The watch messages each instance may be sent while others are calling: ``rate`` a
    second on average, up to one second's worth at once (a token bucket per instance).

    ``reserve`` charges the messages at once and says how long to wait before sending them,
    so that watchers that reserve in turn send in turn, and the instance's messages never
    run faster than ``rate``.

    Attributes:
        contended: whether instances other than the given one are calling now (the server
            sets it: another instance made a call in the last second); the budget applies
            only then. By default, always.

    Args:
        rate: messages a second, per instance (> 0).
        now: the time in seconds (monotonic; injected by unit tests).
    """

    def __init__(self, rate: float, now: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.contended: Callable[[str], bool] = lambda instance: True
        self._now = now
        self._messages = TokenBuckets(rate, rate, now)
        self._logged: dict[str, float] = {}

    def reserve(self, instance: str, messages: int) -> float:
        """Charge ``messages`` to ``instance``; the seconds to wait before sending them (0:
        send now, as always when no other instance is calling)."""
        if not self.contended(instance):
            return 0.0
        tokens = self._messages.spend(instance, messages)
        if tokens >= 0:
            return 0.0
        now = self._now()
        if now - self._logged.get(instance, -math.inf) >= SLOWED_LOG_INTERVAL:
            self._logged[instance] = now
            log.warning(
                "instance %s's watchers want more than watch_messages_per_second_per_instance "
                "= %g messages a second: their events are delayed (and a watcher that falls "
                "behind its buffer is cut off)",
                instance,
                self.rate,
            )
        return -tokens / self.rate


class Watches:
    """Subscriptions to the ledger's event log, for one instance at a time."""

    def __init__(self, ledger: Ledger, queries: Queries, clock: Clock) -> None:
        self.ledger = ledger
        self.queries = queries
        self.clock = clock
        self._parsed: OrderedDict[int, job_pb2.Job] = OrderedDict()
        self._wake = FairWake()
        self.budget = FanOutBudget(ledger.config.limits.watch_messages_per_second_per_instance)

    async def follow(
        self,
        instance: str,
        kind: str,
        after_revision: int | None,
        progress: bool = False,
        per_message: int = 1,
        **filters: object,
    ) -> AsyncIterator[list[Event] | Progress]:
        """The instance's events of ``kind`` ("job" or "session") after ``after_revision``
        (None: from now) that match ``filters`` (see ``EventLog.subscribe``), as they are
        published, in batches: each the events (at least one, in revision order) that
        arrived while the caller handled the previous batch. The subscription closes when
        the caller stops.

        A batch is sent as messages of up to ``per_message`` events each, charged to the
        instance's ``FanOutBudget`` before it is yielded (waiting when the instance is over
        it).

        With ``progress``, also a ``Progress`` after every PROGRESS_INTERVAL seconds without
        an event, when everything up to the log's newest revision was delivered.

        Raises:
            ResourceExhausted: (WATCHER_TOO_SLOW) the subscriber fell behind its buffer; it
                can resume after the last revision it received.
        """
        subscription = self.ledger.subscribe(instance, after_revision, kind, **filters)
        arrived = asyncio.Event()
        subscription.notify = lambda: self._wake.wake(instance, arrived.set)
        try:
            while True:
                events = subscription.drain()
                if events:
                    wait = self.budget.reserve(instance, -(-len(events) // per_message))
                    if wait:
                        await asyncio.sleep(wait)
                    yield events
                if subscription.overflowed:
                    raise ResourceExhausted(
                        "the watcher fell too far behind and was cut off; watch again with "
                        f"after_revision={subscription.last_revision} to resume without a gap",
                        reason="WATCHER_TOO_SLOW",
                    )
                try:
                    await asyncio.wait_for(arrived.wait(), PROGRESS_INTERVAL if progress else None)
                except TimeoutError:
                    if subscription.caught_up:
                        yield Progress(self.ledger.revision, self.clock.now())
                arrived.clear()
        finally:
            subscription.close()

    async def jobs(
        self,
        instance: str,
        after_revision: int | None,
        progress: bool,
        job_ids: Sequence[str],
        per_message: int = 1,
        **filters: object,
    ) -> AsyncIterator[list[Event] | Progress]:
        """``follow`` for job events, of ``job_ids`` if any are named: at most
        ``max_watch_job_ids`` of them, each a job of ``instance``; ``per_message``: see
        ``follow``.

        Raises:
            LimitExceeded: too many ids. NotFound: an unknown id, or another instance's.
        """
        ids = self._bounded(job_ids)
        if ids:
            await self.queries.jobs_named(instance, ids, "job_ids")
        async for batch in self.follow(
            instance, "job", after_revision, progress, per_message, job_ids=tuple(ids), **filters
        ):
            yield batch

    def _bounded(self, job_ids: Sequence[str]) -> list[str]:
        """``job_ids`` without repeats, once their number is checked against the limit (before
        any other work, so that a huge list is refused at once)."""
        limit = self.ledger.config.limits.max_watch_job_ids
        if len(job_ids) > limit:
            raise LimitExceeded(
                f"job_ids: {len(job_ids)} job ids is over the limit of {limit} per watch; "
                "watch fewer, or a session's jobs (session_id) or a tag's (tags)",
                "job_ids",
                "max_watch_job_ids",
                limit,
            )
        return list(dict.fromkeys(job_ids))

    def job_of(self, event: Event) -> job_pb2.Job:
        """The Job message a job event carries, parsed once for every watcher it goes to."""
        job = self._parsed.get(event.revision)
        if job is None:
            assert isinstance(event.payload, bytes)  # the runtime's events carry bytes
            job = self._parsed[event.revision] = job_pb2.Job.FromString(event.payload)
            if len(self._parsed) > PARSED_EVENTS:
                self._parsed.popitem(last=False)
        return job

    async def until_final(
        self,
        instance: str,
        job_ids: Sequence[str],
        after_revision: int | None,
        progress: bool = False,
        id_field: str | None = None,
    ) -> AsyncIterator[JobUpdate | Progress]:
        """The updates of ``job_ids`` until each is final (DONE, ERROR or CANCELLED).

        Every watched job is looked up first (an unknown id is NOT_FOUND before anything is
        sent). A job already final is sent once, first, as it is now, and none of its events
        follow; the others' events follow from ``after_revision`` (or from the newest committed
        revision, so that no change between the look-up and the subscription is missed) until
        each has sent a final state. Snapshots carry ``after_revision`` when it is set, else
        that newest revision, so revisions never go backwards on the stream. ``id_field``
        names the request field an unknown id came in (default ``job_ids[i]``).

        Raises:
            InvalidArgument: no job ids. LimitExceeded: more than ``max_watch_job_ids``.
            NotFound: an unknown id, or another instance's.
        """
        ids = self._bounded(job_ids)
        if not ids:
            raise InvalidArgument(
                "job_ids: until_final needs the ids of the jobs to watch",
                field="job_ids",
                reason="FIELD_REQUIRED",
            )
        revision = await self.ledger.flush(read=True)
        pending: set[str] = set()
        final: list[Job] = []
        if id_field is not None:  # one id, named by a field of its own
            jobs = [self.queries.job(instance, ids[0], field=id_field)]
        else:
            jobs = await self.queries.jobs_named(instance, ids, "job_ids")
        for job in jobs:
            if job.status.finished:
                final.append(job)
            else:
                pending.add(job.id)
        after = revision if after_revision is None else after_revision
        now = self.clock.now()
        for job in final:
            yield JobUpdate(after, self.queries.job_message(job), now)
        if not pending:
            return
        events = self.follow(instance, "job", after, progress, job_ids=tuple(pending))
        async for batch in events:
            if isinstance(batch, Progress):
                yield batch
                continue
            for event in batch:
                message = self.job_of(event)
                if message.id not in pending:
                    continue
                yield JobUpdate(event.revision, message, event.time)
                if JOB_STATUSES[message.state].finished:
                    pending.discard(message.id)
                    if not pending:
                        return
