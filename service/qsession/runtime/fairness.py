"""Sharing admission between instances: each instance's CreateJobs and Transpiles in turns.

One busy instance must not be able to take the server from the others.

**Admission in turns.** Admitting a CreateJob (parsing its circuits in a sandbox process,
decoding and checking its PUBs) costs CPU in proportion to its circuits: ~0.2 s for a 1 MB
circuit. It used to run on the event loop's default thread pool (a FIFO queue shared by all),
so 50 large CreateJobs of one instance made another's small one wait for all of them. Now
admissions run through ``FairAdmission``: a pool of ``slots`` threads, each matched by one
sandbox process, of which one instance may hold at most ``per_instance`` (the
``max_concurrent_admissions_per_instance`` limit, and always at least one slot fewer than the
pool). An instance's further CreateJobs wait their turn in its own queue; when a slot frees,
it goes to the next instance in turn (round robin) that has one waiting and is under its cap.
So a flooding instance keeps at most ``per_instance`` slots busy and another instance's
request starts at once on a spare slot; with several instances flooding, each gets a slot in
turn. Admission no longer uses the default thread pool, which stays free for the short store
reads and the job round trips that use it.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

MAX_SLOTS = 8
"""Admissions of all instances at once, at most (unless one instance may hold more): each slot
is a thread and a sandbox process, and parsing is CPU-bound."""


def admission_sizes(per_instance_limit: int, cores: int | None = None) -> tuple[int, int]:
    """(slots in all, slots one instance may hold) for ``max_concurrent_admissions_per_instance``.

    One instance holds at most the limit, and never more than all the machine's cores but one
    (parsing and transpiling are CPU-bound: one instance's flood on every core slowed another
    instance's calls 2-4x on 2 cores); at least one. The pool has at least one slot more than
    one instance may hold, so another instance always finds one free, and up to one per core.
    """
    cores = cores or os.cpu_count() or 2
    per_instance = max(1, min(per_instance_limit, cores - 1))
    return max(per_instance + 1, min(cores, MAX_SLOTS)), per_instance


class FairAdmission:
    """Runs admission work in a bounded thread pool, shared fairly between instances (see the
    module docstring).

    Args:
        slots: how many admissions run at once in all (the pool's threads).
        per_instance: how many of them one instance may hold; fewer than ``slots``.
    """

    def __init__(self, slots: int, per_instance: int):
        if not 0 < per_instance < slots:
            raise ValueError(f"per_instance must be in 1..{slots - 1}, got {per_instance}")
        self.slots = slots
        self.per_instance = per_instance
        self._threads = ThreadPoolExecutor(slots, thread_name_prefix="qsession-admission")
        self._free = slots
        self._running: Counter[str] = Counter()
        # Each waiting instance's queue, in turn order: the next slot goes to the first
        # instance under its cap, which then moves to the end.
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}

    async def run(self, instance: str, work: Callable[..., T], *args: object) -> T:
        """``work(*args)`` in a pool thread once ``instance`` has its turn; its result.

        A caller cancelled while waiting leaves the queue; one cancelled while ``work`` runs
        keeps the slot until ``work`` returns (the thread cannot be stopped), so the pool is
        never oversubscribed.
        """
        await self._acquire(instance)
        loop = asyncio.get_running_loop()
        try:
            done: Future[T] = self._threads.submit(contextvars.copy_context().run, work, *args)
        except BaseException:
            self._release(instance)
            raise
        done.add_done_callback(lambda _: _call_soon(loop, self._release, instance))
        try:
            return await asyncio.wrap_future(done)
        finally:
            # A refusal's traceback holds this frame, which holds ``done``, which holds the
            # refusal: a cycle that would keep the request (often megabytes) until the
            # garbage collector runs.
            del done

    def close(self) -> None:
        """Let running work finish in the background; run no more."""
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def _acquire(self, instance: str) -> None:
        if instance not in self._waiting and self._may_start(instance):
            self._start(instance)
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(instance, deque()).append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release(instance)  # the turn came as the caller went: pass it on
            else:
                self._forget(instance, turn)
            raise

    def _may_start(self, instance: str) -> bool:
        return self._free > 0 and self._running[instance] < self.per_instance

    def _start(self, instance: str) -> None:
        self._free -= 1
        self._running[instance] += 1

    def _release(self, instance: str) -> None:
        self._free += 1
        self._running[instance] -= 1
        if not self._running[instance]:
            del self._running[instance]
        self._grant()

    def _grant(self) -> None:
        """Hand free slots to waiting instances, in turn."""
        while self._free > 0:
            instance = next((i for i in self._waiting if self._may_start(i)), None)
            if instance is None:
                return
            queue = self._waiting.pop(instance)  # re-added below: to the end of the turn
            turn = queue.popleft()
            if queue:
                self._waiting[instance] = queue
            if not turn.done():
                self._start(instance)
                turn.set_result(None)

    def _forget(self, instance: str, turn: asyncio.Future[None]) -> None:
        queue = self._waiting.get(instance)
        if queue is None:
            return
        try:
            queue.remove(turn)
        except ValueError:
            pass
        if not queue:
            del self._waiting[instance]


def _call_soon(
    loop: asyncio.AbstractEventLoop, callback: Callable[..., object], *args: object
) -> None:
    """``callback(*args)`` on ``loop`` (from any thread); nothing if the loop is closed."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:  # the loop closed: nobody waits any more
        pass
