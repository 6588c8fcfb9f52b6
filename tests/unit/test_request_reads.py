"""The auth interceptor's read turns (``server.auth.Reads``): an instance reads its requests
two at a time and, while other instances call, at most
``request_bytes_per_second_per_instance`` on average, from a bucket that holds one
``max_request_bytes``; a call waiting its turn is not read. Time is an injected clock: the
waits are stepped through, not slept."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from qsession.config import Limits
from qsession.server.auth import READS_AT_ONCE, Reads

MB = 1_000_000


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


class Call:
    """One call as its servicer context: a request of ``size`` bytes, read once when
    ``release`` is set (none when ``size`` is None)."""

    def __init__(self, size: int | None, log: list[str], name: str) -> None:
        self.size, self.log, self.name, self.read_done = size, log, name, False
        self.release = asyncio.Event()
        self.aborted: tuple | None = None

    async def read(self):
        if self.size is None:
            return grpc.aio.EOF
        self.log.append(f"{self.name} starts")
        await self.release.wait()
        self.read_done = True
        return self.name

    async def abort(self, code, details):
        self.aborted = (code, details)
        raise RuntimeError("aborted")


def reads(clock: Clock, rate: int = 10 * MB, burst: int = 20 * MB) -> Reads:
    limits = Limits(max_request_bytes=burst, request_bytes_per_second_per_instance=rate)
    return Reads(limits, clock=clock, sleep=clock.sleep)


def test_an_instance_over_its_byte_rate_waits_what_it_owes_before_its_next_read():
    clock = Clock()
    turns = reads(clock)

    async def scenario():
        sizes = []
        for size in (20 * MB, 15 * MB, 1 * MB):
            call = Call(size, [], "r")
            call.release.set()
            sizes.append(await turns.one(call, "lab", lambda s=size: s))
        return sizes

    assert asyncio.run(scenario()) == ["r", "r", "r"]
    # 20 MB empties the bucket (no wait); 15 MB is read at once (nothing owed), leaving 15 MB
    # owed; the third waits 1.5 s at 10 MB/s
    assert clock.waits == [pytest.approx(1.5)]


def test_an_instance_alone_reads_at_full_speed_and_owes_nothing_once_others_call():
    clock = Clock()
    turns = reads(clock)
    others: list[str] = []
    turns.contended = lambda instance: any(other != instance for other in others)

    async def read(size: int) -> None:
        call = Call(size, [], "r")
        call.release.set()
        await turns.one(call, "lab", lambda: size)

    async def scenario():
        for _ in range(10):  # 200 MB alone: none of it waits
            await read(20 * MB)
        assert clock.waits == []
        others.append("student")  # another instance calls: the rate applies from now
        for _ in range(3):
            await read(15 * MB)

    asyncio.run(scenario())
    # a full bucket (20 MB), as if the 200 MB were never read: 15 MB at once, then 15 MB more
    # (5 MB were left), owing 10 MB: 1 s at 10 MB/s before the third
    assert clock.waits == [pytest.approx(1.0)]


def test_another_instance_reads_at_once_while_one_is_over_its_rate():
    clock = Clock()
    turns = reads(clock)

    async def scenario():
        for instance, size in (("lab", 40 * MB), ("student", 1 * MB)):
            call = Call(size, [], instance)
            call.release.set()
            await turns.one(call, instance, lambda s=size: s)

    asyncio.run(scenario())
    assert clock.waits == []


def test_an_instance_receives_at_most_its_turns_at_once_and_the_rest_wait_unread():
    clock = Clock()
    turns = reads(clock, rate=10**12, burst=10**12)
    log: list[str] = []

    async def scenario():
        calls = [Call(1, log, f"c{i}") for i in range(READS_AT_ONCE + 1)]
        tasks = [asyncio.create_task(turns.one(call, "lab", lambda: 1)) for call in calls]
        await asyncio.sleep(0.01)
        started = list(log)
        unread = [call.read_done for call in calls]
        for call in calls:
            call.release.set()
        await asyncio.gather(*tasks)
        return started, unread, [call.read_done for call in calls]

    started, unread, finally_read = asyncio.run(scenario())
    assert started == [f"c{i} starts" for i in range(READS_AT_ONCE)]
    assert unread == [False] * (READS_AT_ONCE + 1)
    assert finally_read == [True] * (READS_AT_ONCE + 1)


def test_a_call_that_sends_no_request_is_refused_as_invalid():
    call = Call(None, [], "x")
    with pytest.raises(RuntimeError, match="aborted"):
        asyncio.run(reads(Clock()).one(call, "lab", lambda: 0))
    assert call.aborted[0].name == "INVALID_ARGUMENT"
