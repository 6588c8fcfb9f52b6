"""Fair share: the cost of picking a QPU's next job with 20,000 finished jobs of window usage
against 1,000 (issue 30), on the scheduler itself.

Two schedulers on virtual clocks, each with three instances allocated 1:2:7 keeping 50 jobs
queued on one QPU, a one-day window and 4 s jobs (so that their usage spans most of the
window's buckets and old usage keeps leaving it). One has run 1,000 jobs, the other 20,000;
finished jobs are forgotten, as the server forgets them once stored. Then picks are timed in
turns: ``next_job`` (ranking the three instances, expiring usage that left the window) plus
``finish`` (charging the window), the lowest of several medians.
"""

from __future__ import annotations

import itertools
import statistics
import time

from harness import Row

from qsession.lifecycle.clock import VirtualClock
from qsession.lifecycle.fair_share import Allocation, FairShare
from qsession.lifecycle.model import Job, JobStatus, Program
from qsession.lifecycle.scheduler import Scheduler

INSTANCES = {"a": 1, "b": 2, "c": 7}
QUEUED_EACH = 50
JOB_SECONDS = 4.0
WINDOW = 24 * 3600.0
SMALL, LARGE = 1_000, 20_000
ROUNDS, PICKS = 7, 2_000


class Queue:
    """A one-QPU scheduler kept flooded by three instances."""

    def __init__(self) -> None:
        self.clock = VirtualClock()
        allocations = {name: Allocation(share=share) for name, share in INSTANCES.items()}
        fair = FairShare(window=WINDOW, allocations=allocations)
        self.scheduler = Scheduler(
            self.clock, ("qpu",), 1800.0, lambda change: None, fair_share=fair
        )
        self._ids = itertools.count()
        for name in INSTANCES:
            for _ in range(QUEUED_EACH):
                self.submit(name)

    def submit(self, instance: str) -> None:
        job = Job(
            id=str(next(self._ids)), instance=instance, backend="qpu", program=Program.SAMPLER
        )
        self.scheduler.submit(job)

    def pick_and_finish(self) -> None:
        """One pick: start the next job, let its time pass, finish and forget it, refill."""
        job = self.scheduler.next_job("qpu")
        assert job is not None
        self.clock.advance(JOB_SECONDS)
        self.scheduler.finish(job.id, JobStatus.DONE, usage=JOB_SECONDS)
        self.scheduler.forget(job.id)
        self.submit(job.instance)

    def run(self, jobs: int) -> None:
        for _ in range(jobs):
            self.pick_and_finish()


def fair_share_pick() -> list[Row]:
    queues = {SMALL: Queue(), LARGE: Queue()}
    for size, queue in queues.items():
        queue.run(size)
    medians: dict[int, list[float]] = {SMALL: [], LARGE: []}
    for _ in range(ROUNDS):
        for size, queue in queues.items():
            times = []
            for _ in range(PICKS):
                start = time.perf_counter_ns()
                queue.pick_and_finish()
                times.append(time.perf_counter_ns() - start)
            medians[size].append(statistics.median(times) / 1e3)
    small, large = min(medians[SMALL]), min(medians[LARGE])
    note = (
        f"ref = the scheduler after {SMALL:,} finished jobs, ours = after {LARGE:,} (each plus "
        f"the {ROUNDS * PICKS:,} picks measured); three instances allocated 1:2:7, {QUEUED_EACH} "
        f"jobs queued each, {JOB_SECONDS:g} s jobs, a {WINDOW / 3600:g} h window; one pick = "
        "next_job + finish + forget + one submit on a virtual clock; the lowest of "
        f"{ROUNDS} medians of {PICKS:,} picks, the two schedulers in turns"
    )
    return [
        Row(
            "fair share",
            "pick the next job (next_job + finish)",
            "us",
            small,
            large,
            "<=1.25x",
            large <= 1.25 * small,
            note,
        )
    ]
