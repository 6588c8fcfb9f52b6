"""FairWake: one instance's many watchers never make another instance's wait for all of them."""

from __future__ import annotations

import asyncio

from qsession.runtime.watch import FairWake


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
