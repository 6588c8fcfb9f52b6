"""The fair-share order between instances and their usage limits, one test per rule, on the
scheduler stepped by a virtual clock (no sleeping). See ``lifecycle.fair_share`` for the rules.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from qsession.lifecycle.clock import VirtualClock
from qsession.lifecycle.fair_share import LIMIT_REACHED, SESSION_HOLDS_QPU, Allocation, FairShare
from qsession.lifecycle.model import Job, JobStatus, Plan, Program, SessionMode
from qsession.lifecycle.scheduler import Scheduler

PREMIUM = Plan(
    "premium", interactive_ttl=60, max_ttl=8 * 3600, min_max_ttl=300, allows_dedicated=True
)
DAY = 24 * 3600.0


class Queue:
    """One QPU, its scheduler on a virtual clock, and a driver that runs its jobs."""

    def __init__(self, fair_share: FairShare) -> None:
        self.clock = VirtualClock()
        self.scheduler = Scheduler(
            self.clock, ("qpu",), 1800.0, lambda change: None, fair_share=fair_share
        )
        self._ids = itertools.count(1)

    def submit(self, instance: str, session_id: str | None = None) -> str:
        job = Job(
            id=f"{instance}-{next(self._ids)}",
            instance=instance,
            backend="qpu",
            program=Program.SAMPLER,
            session_id=session_id,
        )
        return self.scheduler.submit(job).id

    def start(self) -> Job | None:
        return self.scheduler.next_job("qpu")

    def run(self, seconds: float) -> Job:
        """Start the next job, let it use ``seconds`` of QPU time, finish it DONE."""
        job = self.start()
        assert job is not None, "expected a job to start"
        self.clock.advance(seconds)
        return self.scheduler.finish(job.id, JobStatus.DONE, usage=seconds)


def shares_1_2_7(policy: str) -> FairShare:
    allocations = {"a": Allocation(share=1), "b": Allocation(share=2), "c": Allocation(share=7)}
    return FairShare(window=28 * DAY, policy=policy, allocations=allocations)


def run_flooded(queue: Queue, jobs: int) -> tuple[dict[str, float], list[Job]]:
    """Three instances each keep 50 jobs queued; run ``jobs`` jobs of varied lengths; return
    each instance's QPU seconds and the jobs in the order they ran."""
    rng = np.random.default_rng(7)
    for instance in "abc":
        for _ in range(50):
            queue.submit(instance)
    used = dict.fromkeys("abc", 0.0)
    ran = []
    for _ in range(jobs):
        job = queue.run(float(rng.uniform(0.5, 5.0)))
        used[job.instance] += job.usage
        ran.append(job)
        queue.submit(job.instance)  # keep 50 queued
    return used, ran


def test_shares_of_qpu_time_follow_allocations_1_2_7() -> None:
    used, _ = run_flooded(Queue(shares_1_2_7("fair_share")), 2000)
    total = sum(used.values())
    for instance, allocated in zip("abc", (0.1, 0.2, 0.7), strict=True):
        assert used[instance] / total == pytest.approx(allocated, abs=0.03), used


def test_fifo_policy_runs_jobs_in_submission_order_whatever_the_allocations() -> None:
    used, ran = run_flooded(Queue(shares_1_2_7("fifo")), 2000)
    seqs = [job.seq for job in ran]
    assert seqs == sorted(seqs)
    total = sum(used.values())
    for instance in "abc":  # each keeps 50 queued: first come, first served shares equally
        assert used[instance] / total == pytest.approx(1 / 3, abs=0.03), used


def test_one_instances_jobs_stay_first_in_first_out() -> None:
    _, ran = run_flooded(Queue(shares_1_2_7("fair_share")), 600)
    for instance in "abc":
        seqs = [job.seq for job in ran if job.instance == instance]
        assert seqs == sorted(seqs)


def test_a_newcomer_runs_after_at_most_one_job_of_a_flooding_instance() -> None:
    queue = Queue(FairShare())
    for _ in range(200):
        queue.submit("flood")
    first = queue.run(2.0)
    assert first.instance == "flood"
    newcomer = queue.submit("newcomer")
    assert queue.run(2.0).id == newcomer


def test_a_newcomer_waits_for_the_whole_flood_under_fifo() -> None:
    queue = Queue(FairShare(policy="fifo"))
    for _ in range(200):
        queue.submit("flood")
    newcomer = queue.submit("newcomer")
    ran = [queue.run(1.0).id for _ in range(201)]
    assert ran.index(newcomer) == 200


def test_an_instance_at_its_limit_waits_and_runs_again_when_the_window_frees_time() -> None:
    window = 1000.0
    allocations = {"capped": Allocation(share=None, seconds=100.0, limit=True)}
    queue = Queue(FairShare(window=window, allocations=allocations))
    capped = [queue.submit("capped") for _ in range(6)]
    # Four 30 s jobs: the running one that crosses the 100 s limit finishes.
    ran = [queue.run(30.0).id for _ in range(4)]
    assert ran == capped[:4]
    assert queue.scheduler.window_usage("capped") == pytest.approx(120.0)
    waiting = queue.scheduler.job(capped[4])
    assert waiting.status is JobStatus.QUEUED
    assert queue.scheduler.waiting_reason(waiting) == LIMIT_REACHED
    # Its queued jobs stay queued (nothing cancelled), new ones are accepted, others run.
    late = queue.submit("capped")
    other = queue.submit("other")
    assert queue.run(10.0).id == other
    assert queue.start() is None
    assert {queue.scheduler.job(j).status for j in (*capped[4:], late)} == {JobStatus.QUEUED}
    # The scheduler names when usage leaves the window; then the capped jobs run again.
    free_at = queue.scheduler.next_deadline()
    assert free_at is not None
    assert free_at > queue.clock.now()
    queue.clock.advance(free_at - queue.clock.now() - 1.0)
    assert queue.start() is None  # not yet
    queue.clock.advance(1.0)
    assert queue.run(30.0).id == capped[4]
    assert queue.scheduler.waiting_reason(queue.scheduler.job(capped[5])) in ("", LIMIT_REACHED)


def test_an_active_sessions_next_job_goes_before_fair_share_order() -> None:
    queue = Queue(FairShare())
    # "heavy" has used far more than "light", and holds the QPU with an active session.
    for _ in range(3):
        queue.submit("heavy")
        queue.run(50.0)
    session = "s1"
    queue.scheduler.create_session(session, "heavy", PREMIUM, "qpu", SessionMode.DEDICATED, None)
    queue.submit("heavy", session)
    queue.run(5.0)  # the session is active: it holds the QPU for its ITTL
    light = queue.submit("light")
    queue.clock.advance(10.0)  # within the interactive TTL
    follow_up = queue.submit("heavy", session)
    assert queue.run(5.0).id == follow_up
    # Once the session's hold ends (ITTL passed), fair share decides.
    queue.clock.advance(61.0)
    queue.scheduler.poll()
    queue.submit("heavy", session)
    assert queue.run(5.0).id == light


def test_usage_leaves_the_window() -> None:
    fair = FairShare(window=100.0)
    fair.charge("a", at=0.0, seconds=40.0)
    fair.charge("a", at=50.0, seconds=10.0)
    assert fair.used("a", now=99.0) == pytest.approx(50.0)
    assert fair.used("a", now=101.0) == pytest.approx(10.0)
    assert fair.used("a", now=200.0) == 0.0


def test_an_allocation_is_a_share_or_seconds() -> None:
    with pytest.raises(ValueError):
        Allocation(share=1, seconds=10)
    fair = FairShare(window=1000.0, allocations={"s": Allocation(share=None, seconds=250.0)})
    assert fair.fraction("s") == pytest.approx(0.25)
    assert fair.allocated_seconds("s") == pytest.approx(250.0)


def test_a_job_behind_another_sessions_hold_says_so_without_naming_it() -> None:
    queue = Queue(FairShare())
    queue.scheduler.create_session("s1", "holder", PREMIUM, "qpu", SessionMode.DEDICATED, None)
    queue.submit("holder", "s1")
    queue.run(1.0)  # active: the session holds the QPU for its ITTL
    waiting = queue.scheduler.job(queue.submit("other"))
    reason = queue.scheduler.waiting_reason(waiting)
    assert reason == SESSION_HOLDS_QPU
    assert "s1" not in reason and "holder" not in reason
    queue.clock.advance(61.0)
    queue.scheduler.poll()
    assert queue.scheduler.waiting_reason(queue.scheduler.job(waiting.id)) == ""
