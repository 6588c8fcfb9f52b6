"""FairWake and FanOutBudget: one instance's many watchers never make another instance's wait
for all of them, nor take the loop from it."""

from __future__ import annotations

import asyncio

import pytest

from qsession.runtime.watch import FairWake, FanOutBudget


def test_another_instances_watcher_is_woken_after_at_most_one_batch_of_the_crowds():
    order: list[str] = []

    async def scenario() -> None:
        wake = FairWake(batch=16)
        for index in range(2000):  # a crowd of one instance's watchers, woken first
            wake.wake("crowd", lambda index=index: order.append(f"crowd-{index}"))
        wake.wake("alone", lambda: order.append("alone"))
        while len(order) < 2001:
            await asyncio.sleep(0)

    asyncio.run(scenario())
    assert order.index("alone") <= 16
    crowd = [name for name in order if name != "alone"]
    assert crowd == [f"crowd-{index}" for index in range(2000)]  # each instance's in order


def test_the_woken_coroutines_of_two_instances_run_interleaved():
    """Woken coroutines run before the next round: the lone instance's watcher runs while
    most of the crowd still waits."""
    ran: list[str] = []

    async def watcher(name: str, arrived: asyncio.Event) -> None:
        await arrived.wait()
        ran.append(name)

    async def scenario() -> None:
        wake = FairWake(batch=8)
        events = {f"crowd-{i}": asyncio.Event() for i in range(500)} | {"alone": asyncio.Event()}
        tasks = [asyncio.create_task(watcher(name, e)) for name, e in events.items()]
        await asyncio.sleep(0)  # every watcher waits
        for name, arrived in events.items():
            wake.wake(name.split("-")[0], arrived.set)
        await asyncio.gather(*tasks)

    asyncio.run(scenario())
    assert ran.index("alone") <= 8
    assert len(ran) == 501


class Ticks:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_fan_out_budget_lets_a_second_through_at_once_then_paces_at_its_rate() -> None:
    ticks = Ticks()
    budget = FanOutBudget(1000, now=ticks)
    assert budget.reserve("load", 600) == 0 and budget.reserve("load", 400) == 0
    assert budget.reserve("load", 100) == pytest.approx(0.1)  # 100 over: their send waits
    assert budget.reserve("load", 100) == pytest.approx(0.2)  # behind the first, in turn
    assert budget.reserve("lab", 100) == 0  # another instance's budget is its own
    ticks.now += 0.4  # the owed 200 paid, 200 to spare
    assert budget.reserve("load", 150) == 0
    assert budget.reserve("load", 60) == pytest.approx(0.01)
    ticks.now += 60  # idle: the bucket refills to one second's worth, no more
    assert budget.reserve("load", 1000) == 0 and budget.reserve("load", 1) > 0
