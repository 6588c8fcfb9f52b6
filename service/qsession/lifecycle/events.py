"""The event log: every job and session change as one revisioned event, and watches on it.

Modelled on etcd's Watch. Revisions come from one sequence shared by jobs and sessions,
increasing by one per event. The log retains the newest ``retain`` events. A subscriber
starts from now (``after_revision=None``), from the oldest retained event (``0``), or after
any retained revision, and then receives every matching event in revision order with no
gap and no duplicate: first the retained ones (read from the log as it drains), then live
ones (pushed into its bounded buffer). A revision that is no longer retained, or not yet
written, is ``OutOfRange``: the client re-lists and watches from now.

A subscriber whose buffer is full when an event arrives is cut off (``overflowed``): it
never blocks ``append`` or other subscribers, and may resume after its ``last_revision``.
Instances only ever see their own events. ``append`` costs O(subscribers that can match):
subscribers are indexed by instance, kind and, when they filter on them, job or session id.
Given ``defer`` (the server passes its event loop's ``call_soon``), an event with more than
FANOUT_SLICE such subscribers is delivered to them FANOUT_SLICE at a time, one slice per
deferred step, and the events after it wait their turn (so each subscriber still receives
every event in order): 2,000 watchers of one instance then never hold the loop for the whole
fan-out of an event (~1.3 ms) in one go.

Driving a subscription (the async server does this)::

    sub = log.subscribe(...)
    sub.notify = wake_up          # called whenever drain() has more to return
    while True:
        events = sub.drain()
        ...send events...
        if sub.overflowed: end the stream (RESOURCE_EXHAUSTED, resume after last_revision)
        wait for wake_up
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field

from qsession.lifecycle.errors import OutOfRange

FANOUT_SLICE = 64
"""Subscribers one deferred fan-out step delivers to (see the module docstring)."""

REPLAY_MEMO = 16
"""Replay reads the log remembers, for subscriptions with the same filters resuming after the
same revision (see ``EventLog._read``)."""


@dataclass(frozen=True)
class EventKeys:
    """What watch filters match an event on.

    Attributes:
        instance: the owning instance; only its subscribers see the event.
        job_id: the job the event is about (job events).
        session_id: the session the event is about, or the job's session.
        tags: the job's tags (any collection; a frozenset makes tag filters cheapest).
    """

    instance: str
    job_id: str | None = None
    session_id: str | None = None
    tags: Collection[str] = frozenset()


@dataclass(frozen=True)
class Event:
    """One state change: ``revision`` (unique, increasing), ``kind`` ("job" or "session"),
    ``payload`` (the snapshot after the change), ``time`` (unix seconds), ``keys``."""

    revision: int
    kind: str
    payload: object
    time: float
    keys: EventKeys


@dataclass
class _Bucket:
    """The live subscriptions of one (instance, kind), indexed by what they filter on."""

    by_job: dict[str, set[Subscription]] = field(default_factory=dict)
    by_session: dict[str, set[Subscription]] = field(default_factory=dict)
    rest: set[Subscription] = field(default_factory=set)

    def candidates(self, keys: EventKeys) -> list[Subscription]:
        found = list(self.rest)
        if keys.job_id is not None:
            found.extend(self.by_job.get(keys.job_id, ()))
        if keys.session_id is not None:
            found.extend(self.by_session.get(keys.session_id, ()))
        return found


class Subscription:
    """One watcher: its filters, its replay position and its bounded buffer of live events.

    Attributes:
        notify: set by the server; called (with no arguments) when live events arrive
            after a ``drain()`` (once for the first, not for each: the drain after it
            returns them all), when a replaying ``drain()`` leaves more retained events to
            read, and when the subscription overflows.
        closed: no more events will be delivered (after ``close()`` or an overflow).
        overflowed: cut off because the buffer was full (or the replay fell out of the
            log); the client may resume after ``last_revision``.
        last_revision: the revision this subscription has delivered up to (events after
            it have not been returned by ``drain()``).
    """

    def __init__(
        self,
        log: EventLog,
        instance: str,
        kinds: frozenset[str],
        job_ids: frozenset[str],
        session_id: str | None,
        session_ids: frozenset[str],
        tags: frozenset[str],
        buffer: int,
        after_revision: int,
    ) -> None:
        self.notify: Callable[[], None] | None = None
        self.closed = False
        self.overflowed = False
        self.last_revision = after_revision
        self._log = log
        self._instance = instance
        self._kinds = kinds
        self._job_ids = job_ids
        self._session_id = session_id
        self._session_ids = session_ids
        self._tags = tags
        self._capacity = buffer
        self._buffer: deque[Event] = deque()
        self._replaying = True
        self._filters = (instance, kinds, job_ids, session_id, session_ids, tags)

    def wants(self, event: Event) -> bool:
        """Whether the event passes this subscription's filters (all must hold)."""
        keys = event.keys
        return (
            keys.instance == self._instance
            and event.kind in self._kinds
            and (not self._job_ids or keys.job_id in self._job_ids)
            and (self._session_id is None or keys.session_id == self._session_id)
            and (not self._session_ids or keys.session_id in self._session_ids)
            and self._tags.issubset(keys.tags)
        )

    def drain(self) -> list[Event]:
        """Return the next matching events in revision order (possibly []).

        While replaying retained events it returns up to ``buffer`` events per call;
        once live, everything buffered. After an overflow it still returns what was
        buffered before the cut, then [].
        """
        if self._replaying:
            return self._replay()
        events = list(self._buffer)
        self._buffer.clear()
        if events:
            self.last_revision = events[-1].revision
        return events

    @property
    def caught_up(self) -> bool:
        """Every retained event up to the log's newest revision was delivered (or did not
        match): a resumed watch may start after that revision."""
        return not (self._replaying or self._buffer or self.closed or self._log._fanning_out)

    def close(self) -> None:
        """Stop the subscription and drop anything buffered."""
        self.closed = True
        self._buffer.clear()
        self._log._unregister(self)

    def _replay(self) -> list[Event]:
        if self.closed:
            return []
        log = self._log
        if self.last_revision + 1 < log.oldest_revision:
            self._cut_off()  # the events it still needed left the log before it read them
            return []
        events, revision = log._read(self, self.last_revision)
        self.last_revision = revision
        if revision == log.last_revision:
            self._replaying = False
            log._register(self)
        elif self.notify is not None:
            self.notify()  # more retained events are waiting to be drained
        return events

    def _push(self, event: Event) -> None:
        if self.closed:  # closed while a deferred fan-out still held it
            return
        if len(self._buffer) >= self._capacity:
            self._cut_off()
            return
        self._buffer.append(event)
        if len(self._buffer) == 1 and self.notify is not None:
            self.notify()  # once per drain: the next drain() takes whatever arrives meanwhile

    def _cut_off(self) -> None:
        self.overflowed = True
        self.closed = True
        self._log._unregister(self)
        if self.notify is not None:
            self.notify()


class EventLog:
    """The one event log of a server.

    Args:
        start_revision: the revision before the first event (events start at +1).
        retain: how many of the newest events are kept for replay (>= 1).
        defer: runs a step of a large fan-out later (e.g. an event loop's ``call_soon``);
            None: every event is delivered within ``append``.
    """

    def __init__(
        self,
        start_revision: int = 0,
        retain: int = 10000,
        defer: Callable[[Callable[[], None]], object] | None = None,
    ) -> None:
        if retain < 1:
            raise ValueError(f"retain must be >= 1, got {retain}")
        self._defer = defer
        # Events not yet delivered to all their subscribers (a snapshot of whom, at append),
        # oldest first, and how many of the first one's have had it.
        self._undelivered: deque[tuple[Event, list[Subscription]]] = deque()
        self._delivered = 0
        self._retain = retain
        self._ring: list[Event | None] = [None] * retain
        self._last = start_revision
        self._oldest = start_revision + 1
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._replays: OrderedDict[tuple[object, ...], tuple[list[Event], int]] = OrderedDict()

    @property
    def last_revision(self) -> int:
        """The newest revision written (the start revision if none yet)."""
        return self._last

    @property
    def oldest_revision(self) -> int:
        """The oldest retained revision (``last_revision + 1`` when nothing is retained)."""
        return self._oldest

    def append(self, kind: str, payload: object, time: float, match: EventKeys) -> Event:
        """Write an event with the next revision and deliver it to matching subscribers.

        Args:
            kind: "job" or "session".
            payload: the snapshot after the change.
            time: when the change happened, unix seconds.
            match: the keys watch filters match on.

        Returns:
            The event, with its revision.
        """
        event = Event(self._last + 1, kind, payload, time, match)
        self._store(event)
        bucket = self._buckets.get((match.instance, kind))
        if bucket is None:
            return event
        candidates = bucket.candidates(match)
        if self._defer is None or (not self._undelivered and len(candidates) <= FANOUT_SLICE):
            _deliver(event, candidates)
        else:
            self._undelivered.append((event, candidates))
            if len(self._undelivered) == 1:
                self._defer(self._fan_out)
        return event

    @property
    def _fanning_out(self) -> bool:
        """Some appended event is not yet delivered to all its subscribers."""
        return bool(self._undelivered)

    def _fan_out(self) -> None:
        """Deliver the oldest undelivered events to FANOUT_SLICE more subscribers in all;
        defer the rest."""
        room = FANOUT_SLICE
        while self._undelivered and room > 0:
            event, candidates = self._undelivered[0]
            end = min(len(candidates), self._delivered + room)
            _deliver(event, candidates[self._delivered : end])
            room -= end - self._delivered
            if end == len(candidates):
                self._undelivered.popleft()
                self._delivered = 0
            else:
                self._delivered = end
        if self._undelivered:
            assert self._defer is not None
            self._defer(self._fan_out)

    def seed(self, events: Iterable[Event]) -> None:
        """Load retained events from the store after a restart (before any append).

        Args:
            events: consecutive revisions in increasing order, newer than ``last_revision``;
                only the newest ``retain`` are kept.

        Raises:
            ValueError: the log already has events, or the revisions are not consecutive.
        """
        if self._last >= self._oldest:
            raise ValueError("seed() loads an empty log only")
        for event in events:
            if self._last >= self._oldest and event.revision != self._last + 1:
                raise ValueError(
                    f"seed() needs consecutive revisions: {event.revision} after {self._last}"
                )
            if event.revision <= self._last:
                raise ValueError(f"revision {event.revision} is not after {self._last}")
            if self._last < self._oldest:
                self._oldest = event.revision
            self._store(event)

    def subscribe(
        self,
        instance: str,
        after_revision: int | None,
        kinds: set[str],
        job_ids: Iterable[str] = (),
        session_id: str | None = None,
        session_ids: Iterable[str] = (),
        tags: Iterable[str] = (),
        buffer: int = 1000,
    ) -> Subscription:
        """Watch an instance's events.

        Args:
            instance: whose events; no other instance's event is ever delivered.
            after_revision: None: from now on; 0: from the oldest retained event; N:
                every event after revision N.
            kinds: the event kinds wanted ("job", "session").
            job_ids: only these jobs (empty: any).
            session_id: only events of this session (a session's events and its jobs').
            session_ids: only events of these sessions (empty: any).
            tags: only events carrying all of these tags.
            buffer: how many live events may wait undrained before it is cut off (>= 1);
                also the most events one replaying ``drain()`` returns.

        Returns:
            The subscription: drain() it once now, then again after every notify.

        Raises:
            OutOfRange: (after_revision) older than the oldest retained event, or newer
                than the newest revision.
            ValueError: no kinds, or buffer < 1.
        """
        if not kinds:
            raise ValueError("subscribe() needs at least one kind")
        if buffer < 1:
            raise ValueError(f"buffer must be >= 1, got {buffer}")
        if after_revision is None:
            start = self._last
        elif after_revision == 0:
            start = self._oldest - 1
        elif after_revision < self._oldest - 1:
            raise OutOfRange(
                f"after_revision {after_revision} is no longer retained (the oldest "
                f"retained revision is {self._oldest}); list the current state, then "
                "watch from now (omit after_revision).",
                field="after_revision",
            )
        elif after_revision > self._last:
            raise OutOfRange(
                f"after_revision {after_revision} is newer than the newest revision "
                f"{self._last}; watch from now (omit after_revision) or resume after a "
                "revision you received.",
                field="after_revision",
            )
        else:
            start = after_revision
        subscription = Subscription(
            self,
            instance,
            frozenset(kinds),
            frozenset(job_ids),
            session_id,
            frozenset(session_ids),
            frozenset(tags),
            buffer,
            start,
        )
        if start == self._last:
            subscription._replaying = False
            self._register(subscription)
        return subscription

    def _store(self, event: Event) -> None:
        self._ring[event.revision % self._retain] = event
        self._last = event.revision
        self._oldest = max(self._oldest, event.revision - self._retain + 1)

    def _read(self, subscription: Subscription, after: int) -> tuple[list[Event], int]:
        """The retained events after ``after`` that ``subscription`` wants, at most its buffer
        of them, and the revision read up to (the last returned, or the newest).

        Subscriptions with the same filters resuming after the same revision (a thousand
        watchers reconnecting at once) share one read: the newest REPLAY_MEMO answers are
        remembered. An answer stays true while its events are retained (the caller checks the
        first is): events never change, and one that stopped at the then newest revision
        is a prefix the caller continues from.
        """
        key = (subscription._filters, after, subscription._capacity)
        known = self._replays.get(key)
        if known is None:
            events: list[Event] = []
            revision = after
            wants = subscription.wants
            for event in self._after(after):
                revision = event.revision
                if wants(event):
                    events.append(event)
                    if len(events) == subscription._capacity:
                        break
            known = self._replays[key] = (events, revision)
            if len(self._replays) > REPLAY_MEMO:
                self._replays.popitem(last=False)
        events, revision = known
        return list(events), revision

    def _after(self, revision: int) -> Iterator[Event]:
        """The retained events after ``revision`` (which must be retained or the one before the
        oldest), oldest first, read from the ring in place."""
        ring, retain = self._ring, self._retain
        for newer in range(revision + 1, self._last + 1):
            event = ring[newer % retain]
            assert event is not None
            yield event

    def _register(self, subscription: Subscription) -> None:
        for kind in subscription._kinds:
            bucket = self._buckets.setdefault((subscription._instance, kind), _Bucket())
            for index, ids in _index_keys(subscription, bucket):
                for key in ids:
                    index.setdefault(key, set()).add(subscription)
            if not subscription._job_ids and not _session_filter(subscription):
                bucket.rest.add(subscription)

    def _unregister(self, subscription: Subscription) -> None:
        for kind in subscription._kinds:
            bucket = self._buckets.get((subscription._instance, kind))
            if bucket is None:
                continue
            bucket.rest.discard(subscription)
            for index, ids in _index_keys(subscription, bucket):
                for key in ids:
                    members = index.get(key)
                    if members is not None:
                        members.discard(subscription)
                        if not members:
                            del index[key]
            if not (bucket.rest or bucket.by_job or bucket.by_session):
                del self._buckets[(subscription._instance, kind)]


def _deliver(event: Event, subscriptions: Iterable[Subscription]) -> None:
    for subscription in subscriptions:
        if subscription.wants(event):
            subscription._push(event)


def _session_filter(subscription: Subscription) -> frozenset[str]:
    if subscription._session_id is not None:
        return frozenset({subscription._session_id})
    return subscription._session_ids


def _index_keys(
    subscription: Subscription, bucket: _Bucket
) -> list[tuple[dict[str, set[Subscription]], frozenset[str]]]:
    """Where a subscription is indexed: by job id if it filters on jobs, else by session
    id if it filters on sessions (otherwise in ``bucket.rest``)."""
    if subscription._job_ids:
        return [(bucket.by_job, subscription._job_ids)]
    sessions = _session_filter(subscription)
    return [(bucket.by_session, sessions)] if sessions else []
