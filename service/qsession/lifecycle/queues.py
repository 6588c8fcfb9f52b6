"""A backend's QPU and the order its queued jobs run in.

The order (see ``scheduler`` for the rules in the guide's words): a job whose execution was
lost runs again first; while an active session holds the QPU only that session's jobs run,
in submission order (none queued: the QPU stays idle, held); otherwise the normal queue:
the instance that ranks first (``fair_share``: furthest below its share) runs its oldest
job; instances that rank the same go by their oldest jobs' submission order (``Job.seq``).
The normal queue is one heap of (seq, job id) per instance, so that picking costs one rank
per instance with jobs queued here, whatever the history.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from qsession.lifecycle.model import Job

QueuedJob = Callable[[str], Job | None]
"""The job with this id if it is still QUEUED, else None (queues drop other ids lazily)."""
Rank = Callable[[str], float | None]
"""An instance's rank for the QPU (lower runs first); None: it may start no job now."""


@dataclass
class Qpu:
    """A backend's QPU.

    Attributes:
        name: the backend's name.
        running: the id of the job running on it; None while idle.
        holder: the id of the active session holding it; None when none does.
        ittl_deadline: when the holder's ITTL window ends (unix seconds); None while no
            window is open.
        normal_queue: per instance, a heap of (seq, job id) of its queued jobs; finished
            ids are dropped lazily.
        reruns: ids of jobs whose execution was lost, to run again first.
        queued: how many of its jobs are queued.
    """

    name: str
    running: str | None = None
    holder: str | None = None
    ittl_deadline: float | None = None
    normal_queue: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    reruns: deque[str] = field(default_factory=deque)
    queued: int = 0

    def enqueue(self, job: Job) -> None:
        """Put a job in the normal queue, at its submission order."""
        heapq.heappush(self.normal_queue.setdefault(job.instance, []), (job.seq, job.id))
        self.queued += 1

    def requeue_first(self, job: Job) -> None:
        """Put a job whose execution was lost back in the queue, to run again first."""
        self.reruns.appendleft(job.id)
        self.queued += 1

    def next_in_line(
        self, held_queue: deque[str] | None, queued: QueuedJob, rank: Rank
    ) -> Job | None:
        """The queued job that runs next when the QPU is idle; None keeps it idle.

        Args:
            held_queue: the holder's queued job ids in submission order (None: no holder).
            queued: the lookup of a still-QUEUED job by id.
            rank: each instance's rank (``FairShare.rank``); an active session holding the
                QPU is not ranked: its jobs run, as the work it started.
        """
        while self.reruns:
            job = queued(self.reruns[0])
            if job is not None:
                return job  # its execution was lost: it runs again first
            self.reruns.popleft()
        if held_queue is not None:
            # An active session holds the QPU: only its jobs run; none queued -> ITTL hold.
            return first_queued(held_queue, queued)
        best: tuple[float, int, str] | None = None
        for instance, heap in list(self.normal_queue.items()):
            while heap and queued(heap[0][1]) is None:
                heapq.heappop(heap)
            if not heap:
                del self.normal_queue[instance]
                continue
            standing = rank(instance)
            if standing is not None and (best is None or (standing, heap[0][0]) < best[:2]):
                best = (standing, heap[0][0], heap[0][1])
        return None if best is None else queued(best[2])

    def waiting_instances(self) -> list[str]:
        """The instances with jobs in the normal queue (some may have finished lazily)."""
        return list(self.normal_queue)


def first_queued(queue: deque[str], queued: QueuedJob) -> Job | None:
    """The first job of ``queue`` (ids in submission order) that is still QUEUED; ids before
    it are dropped."""
    while queue:
        job = queued(queue[0])
        if job is not None:
            return job
        queue.popleft()
    return None
