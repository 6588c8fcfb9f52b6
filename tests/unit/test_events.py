"""The event log: one revision sequence, replay then live with no gap or duplicate,
OUT_OF_RANGE for lost revisions, bounded buffers, instance isolation, filters."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from qsession.lifecycle.errors import OutOfRange
from qsession.lifecycle.events import FANOUT_SLICE, Event, EventKeys, EventLog, Subscription

JOB, SESSION = "job", "session"
BOTH = {JOB, SESSION}


def job_event(log: EventLog, job_id: str = "j1", instance: str = "alice", **keys: object) -> Event:
    return log.append(JOB, {"id": job_id}, 1.0, EventKeys(instance, job_id=job_id, **keys))  # type: ignore[arg-type]


def session_event(log: EventLog, session_id: str = "s1", instance: str = "alice") -> Event:
    return log.append(SESSION, {"id": session_id}, 1.0, EventKeys(instance, session_id=session_id))


def drain_all(subscription: Subscription) -> list[int]:
    revisions: list[int] = []
    while events := subscription.drain():
        revisions.extend(event.revision for event in events)
    return revisions


def test_revisions_are_one_increasing_sequence_for_jobs_and_sessions() -> None:
    log = EventLog()
    revisions = [session_event(log).revision, job_event(log).revision, session_event(log).revision]
    assert revisions == [1, 2, 3]
    assert log.last_revision == 3


def test_watching_from_now_sees_only_later_events() -> None:
    log = EventLog()
    job_event(log)
    subscription = log.subscribe("alice", None, BOTH)
    assert subscription.drain() == []
    later = job_event(log)
    assert subscription.drain() == [later]


def test_resuming_after_a_revision_replays_then_goes_live_with_no_gap_and_no_duplicate() -> None:
    log = EventLog()
    for i in range(10):
        job_event(log, f"j{i}")
    subscription = log.subscribe("alice", 4, BOTH, buffer=2)
    seen = [event.revision for event in subscription.drain()]  # replay, two at a time
    job_event(log, "during-replay")
    seen += drain_all(subscription)
    job_event(log, "live")
    seen += drain_all(subscription)
    assert seen == list(range(5, 13))
    assert subscription.last_revision == 12


def test_revision_zero_replays_from_the_oldest_retained_event() -> None:
    log = EventLog(retain=5)
    for i in range(8):
        job_event(log, f"j{i}")
    assert drain_all(log.subscribe("alice", 0, BOTH)) == [4, 5, 6, 7, 8]


def test_a_revision_no_longer_retained_is_out_of_range() -> None:
    log = EventLog(retain=5)
    for i in range(10):
        job_event(log, f"j{i}")
    assert log.oldest_revision == 6
    with pytest.raises(OutOfRange) as raised:
        log.subscribe("alice", 4, BOTH)
    assert raised.value.field == "after_revision"
    assert drain_all(log.subscribe("alice", 5, BOTH)) == [6, 7, 8, 9, 10]


def test_a_revision_ahead_of_the_log_is_out_of_range() -> None:
    log = EventLog()
    job_event(log)
    with pytest.raises(OutOfRange):
        log.subscribe("alice", 2, BOTH)


def test_a_slow_subscriber_is_cut_off_without_blocking_others_and_can_resume() -> None:
    log = EventLog()
    slow = log.subscribe("alice", None, BOTH, buffer=3)
    fast = log.subscribe("alice", None, BOTH, buffer=3)
    fast_seen: list[int] = []
    for i in range(6):
        job_event(log, f"j{i}")
        fast_seen += drain_all(fast)
    assert fast_seen == [1, 2, 3, 4, 5, 6]
    assert not fast.overflowed
    assert slow.overflowed and slow.closed
    assert drain_all(slow) == [1, 2, 3]  # what it had buffered before the cut
    resumed = log.subscribe("alice", slow.last_revision, BOTH, buffer=3)
    assert drain_all(resumed) == [4, 5, 6]
    job_event(log, "later")
    assert drain_all(slow) == []
    assert drain_all(resumed) == [7]


def test_a_replay_overtaken_by_the_log_is_cut_off_and_must_relist() -> None:
    log = EventLog(retain=4)
    for i in range(4):
        job_event(log, f"j{i}")
    subscription = log.subscribe("alice", 0, BOTH, buffer=2)
    assert [e.revision for e in subscription.drain()] == [1, 2]
    for i in range(4):
        job_event(log, f"k{i}")  # revisions 3 and 4 leave the log before being read
    assert subscription.drain() == []
    assert subscription.overflowed
    with pytest.raises(OutOfRange):
        log.subscribe("alice", subscription.last_revision, BOTH)


def test_instances_only_see_their_own_events() -> None:
    log = EventLog()
    live = log.subscribe("alice", None, BOTH)
    job_event(log, "a1", instance="alice")
    job_event(log, "b1", instance="bob")
    session_event(log, "sb", instance="bob")
    job_event(log, "a2", instance="alice")
    assert [e.payload for e in live.drain()] == [{"id": "a1"}, {"id": "a2"}]
    replay = log.subscribe("bob", 0, BOTH)
    assert [e.payload for e in replay.drain()] == [{"id": "b1"}, {"id": "sb"}]


def test_filters_on_kind_session_jobs_and_tags_combine_with_and() -> None:
    log = EventLog()
    by_session = log.subscribe("alice", None, {JOB}, session_id="s1")
    by_jobs = log.subscribe("alice", None, {JOB}, job_ids=["j2", "j3"])
    by_tags = log.subscribe("alice", None, {JOB}, tags=["cobyla", "run-1"])
    sessions_only = log.subscribe("alice", None, {SESSION}, session_ids=["s1", "s2"])
    job_event(log, "j1", session_id="s1", tags=frozenset({"cobyla", "run-1", "x"}))
    job_event(log, "j2", session_id="s2", tags=("cobyla",))  # any collection of tags
    job_event(log, "j3", session_id="s1")
    session_event(log, "s1")
    session_event(log, "s3")
    assert drain_all(by_session) == [1, 3]
    assert drain_all(by_jobs) == [2, 3]
    assert drain_all(by_tags) == [1]
    assert drain_all(sessions_only) == [4]


def test_replayed_events_pass_the_same_filters_as_live_ones() -> None:
    log = EventLog()
    job_event(log, "j1", session_id="s1")
    job_event(log, "j2", session_id="s2")
    session_event(log, "s1")
    assert drain_all(log.subscribe("alice", 0, {JOB}, session_id="s1")) == [1]


def test_notify_is_called_when_live_events_arrive_and_when_cut_off() -> None:
    log = EventLog()
    subscription = log.subscribe("alice", None, BOTH, buffer=1)
    calls: list[bool] = []
    subscription.notify = lambda: calls.append(subscription.overflowed)
    job_event(log)
    job_event(log)
    assert calls == [False, True]


def test_a_closed_subscription_receives_nothing() -> None:
    log = EventLog()
    subscription = log.subscribe("alice", None, BOTH)
    job_event(log)
    subscription.close()
    job_event(log)
    assert subscription.drain() == []
    assert subscription.closed and not subscription.overflowed


def test_seed_restores_retained_events_and_revisions_continue() -> None:
    old = EventLog()
    for i in range(6):
        job_event(old, f"j{i}")
    retained = old.subscribe("alice", 0, BOTH).drain()[2:]
    log = EventLog(retain=10)
    log.seed(retained)
    assert (log.oldest_revision, log.last_revision) == (3, 6)
    assert job_event(log, "next").revision == 7
    assert drain_all(log.subscribe("alice", 0, BOTH)) == [3, 4, 5, 6, 7]
    with pytest.raises(OutOfRange):
        log.subscribe("alice", 1, BOTH)
    with pytest.raises(ValueError):
        log.seed(retained)


def test_seed_refuses_a_gap_in_revisions() -> None:
    old = EventLog()
    events = [job_event(old, f"j{i}") for i in range(4)]
    with pytest.raises(ValueError):
        EventLog().seed([events[0], events[2]])


def test_a_thousand_subscribers_each_get_exactly_their_events() -> None:
    log = EventLog()
    per_session = {
        f"s{i}": log.subscribe(f"inst{i % 10}", None, {JOB}, session_id=f"s{i}", buffer=10)
        for i in range(1000)
    }
    per_instance = [log.subscribe(f"inst{i}", None, BOTH, buffer=1000) for i in range(10)]
    for round_ in range(3):
        for i in range(1000):
            job_event(log, f"j{round_}-{i}", instance=f"inst{i % 10}", session_id=f"s{i}")
    for session_id, subscription in per_session.items():
        events = subscription.drain()
        assert [e.keys.session_id for e in events] == [session_id] * 3
    for i, subscription in enumerate(per_instance):
        events = subscription.drain()
        assert len(events) == 300
        assert {e.keys.instance for e in events} == {f"inst{i}"}


def test_a_replay_longer_than_the_buffer_keeps_notifying_until_it_is_caught_up() -> None:
    log = EventLog()
    for i in range(5):
        job_event(log, f"j{i}")
    subscription = log.subscribe("alice", 0, BOTH, buffer=2)
    woken: list[int] = []
    subscription.notify = lambda: woken.append(1)
    seen = [e.revision for e in subscription.drain()]  # the first drain needs no wake-up
    while woken:  # a server waits for notify between drains
        woken.clear()
        seen += [e.revision for e in subscription.drain()]
    assert seen == [1, 2, 3, 4, 5]
    job_event(log, "live")
    assert woken and [e.revision for e in subscription.drain()] == [6]


def test_a_large_fan_out_is_delivered_in_deferred_steps_in_order() -> None:
    """With ``defer``, an event for more than FANOUT_SLICE subscribers reaches them a slice
    per step, and the events after it wait their turn: each subscriber still gets every
    event once, in order; one closed meanwhile gets nothing; nobody is caught up (a progress
    notification could skip an event) until the last step."""
    steps: list[Callable[[], None]] = []
    log = EventLog(defer=steps.append)
    subscriptions = [log.subscribe("alice", None, {JOB}) for _ in range(FANOUT_SLICE * 3 + 5)]
    few = log.subscribe("bob", None, {JOB})
    first, second = job_event(log, "j1"), job_event(log, "j2")
    bob = job_event(log, "b1", instance="bob")  # queued behind alice's, to keep one order
    assert steps and not subscriptions[-1].drain() and not few.drain()
    assert not subscriptions[0].caught_up
    subscriptions[-1].close()
    taken = 0
    while steps:
        steps.pop(0)()
        taken += 1
    assert taken == 7  # (388 + 388 + 1) deliveries, 128 a step
    for subscription in subscriptions[:-1]:
        assert [e.revision for e in subscription.drain()] == [first.revision, second.revision]
        assert subscription.caught_up
    assert subscriptions[-1].drain() == []
    assert [e.revision for e in few.drain()] == [bob.revision]
    later = job_event(log, "b2", instance="bob")  # a small fan-out, nothing queued: at once
    assert not steps and [e.revision for e in few.drain()] == [later.revision]
