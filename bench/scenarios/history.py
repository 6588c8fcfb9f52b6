"""History growth: per-request cost with 1,000 and with 20,000 finished jobs of history,
the two servers measured in turns."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence

from harness import (
    METADATA,
    NO_QUEUE_LIMIT,
    TOKEN,
    Client,
    Row,
    check_all_done,
    drain,
    sdk_round_trip,
    server_process,
    submit_pipelined,
    wait_finished,
    x_circuit,
)

from qsession import RuntimeService, SamplerV2
from qsession.testing import ServerProcess
from qsession.v1 import job_pb2


class HistoryServer:
    """A bench server, a client and an SDK sampler for it, and the ids of the jobs it ran."""

    def __init__(self, server: ServerProcess, rng: random.Random):
        self.server = server
        self.client = Client(server.address)
        self.service = RuntimeService(url=server.address, token=TOKEN)
        self.sampler = SamplerV2(mode=self.service.backend("ideal_24"))
        self.history: list[str] = []
        self._rng = rng

    def fill(self, size: int) -> str:
        """Run small jobs until the history holds ``size``; say how many and how fast."""
        count, start = size - len(self.history), time.perf_counter()
        self.history += submit_pipelined(self.client, count)
        seconds = time.perf_counter() - start
        return f"{count:,} jobs in {seconds:.0f} s, {count / seconds:.0f}/s"

    def cpu_ms_per_job(self, count: int) -> float:
        """Server CPU per job (ms) over ``count`` more small jobs, submitted like the fill."""
        cpu = self.server.cpu_seconds()
        self.history += submit_pipelined(self.client, count)
        return (self.server.cpu_seconds() - cpu) / count * 1e3

    def create_on_idle_backend(self) -> float:
        """Seconds one CreateJob of the small job takes on an idle backend; its job is then
        waited for (untimed), so the next call finds the backend idle again."""
        start = time.perf_counter()
        job_id = self.client.create()
        seconds = time.perf_counter() - start
        self.history.append(job_id)
        wait_finished(self.client, [job_id])
        return seconds

    def calls(self) -> dict[str, Callable[[], object]]:
        """The calls whose latency is measured, by HISTORY_FIGURES name."""
        jobs, metadata = self.client.jobs, METADATA
        page = job_pb2.ListJobsRequest(page_size=50)
        unfinished = job_pb2.ListJobsRequest(
            page_size=50, states=[job_pb2.Job.STATE_QUEUED, job_pb2.Job.STATE_RUNNING]
        )
        circuit = x_circuit()
        return {
            "create": self.create_on_idle_backend,
            "get": lambda: jobs.GetJob(
                job_pb2.GetJobRequest(id=self._rng.choice(self.history)), metadata=metadata
            ),
            "list": lambda: jobs.ListJobs(page, metadata=metadata),
            "list_unfinished": lambda: jobs.ListJobs(unfinished, metadata=metadata),
            "sdk": lambda: sdk_round_trip(self.sampler, circuit),
            "get_backend": self.client.get_backend,
        }

    def close(self) -> None:
        """Wait for its jobs, check they all ended DONE, close the connections."""
        drain(self.client, self.history[-64:])
        check_all_done(self.client)
        self.service.close()
        self.client.close()


HISTORY_FIGURES = {
    "create": ("CreateJob latency (idle backend)", 30),
    "get": ("GetJob latency (random history jobs)", 50),
    "list": ("ListJobs page_size=50, first page", 50),
    "list_unfinished": ("ListJobs states=QUEUED|RUNNING (none match)", 20),
    "sdk": ("SDK run().result()", 10),
    "get_backend": ("GetBackend latency (control: no history)", 50),
}
"""The latencies of the history scenario: name -> (metric, calls per side per round)."""


def alternating(sides: Sequence[Callable[[], object]], calls: int) -> list[list[float]]:
    """Seconds of ``calls`` calls of each of ``sides``, made in turns call by call (the first
    side first on even calls, last on odd ones), so that a slow spell of the shared cores
    falls on every side alike. A call returning a float reports its own seconds."""
    times: list[list[float]] = [[] for _ in sides]
    for i in range(calls):
        order = range(len(sides)) if i % 2 == 0 else reversed(range(len(sides)))
        for j in order:
            start = time.perf_counter()
            reported = sides[j]()
            spent = time.perf_counter() - start
            times[j].append(reported if isinstance(reported, float) else spent)
    return times


def history_growth(
    small: int = 1_000, large: int = 20_000, cpu_window: int = 50, rounds: int = 5
) -> list[Row]:
    """Per-request cost at ``small`` and at ``large`` finished jobs of history.

    Two servers, filled with the small job on ideal_24 by :func:`submit_pipelined` (the
    backend, which runs one job at a time, is the bottleneck, so one submitting thread
    suffices) to ``small`` and ``large`` jobs, all of which must end DONE, then measured
    in turns so that other load on the shared cores weighs on both alike: server CPU per
    job, the median of ``rounds`` windows of ``cpu_window`` more jobs each, the windows
    alternating between the servers; each latency of :data:`HISTORY_FIGURES` as the lowest
    of ``rounds`` medians of calls alternating call by call between the servers. GetBackend's
    does not depend on the history and shows how alike the load was; last, each server's RSS.
    """
    rng = random.Random(11)
    with (
        server_process(**NO_QUEUE_LIMIT) as small_server,
        server_process(**NO_QUEUE_LIMIT) as large_server,
    ):
        sides = [HistoryServer(small_server, rng), HistoryServer(large_server, rng)]
        fills = [side.fill(size) for side, size in zip(sides, (small, large), strict=True)]
        cpu: list[list[float]] = [[], []]
        for _ in range(rounds):
            for side, found in zip(sides, cpu, strict=True):
                found.append(side.cpu_ms_per_job(cpu_window))
        calls = [side.calls() for side in sides]
        medians: dict[str, list[list[float]]] = {name: [[], []] for name in HISTORY_FIGURES}
        for _ in range(rounds):
            for name, (_, count) in HISTORY_FIGURES.items():
                times = alternating([side_calls[name] for side_calls in calls], count)
                for found, spent in zip(medians[name], times, strict=True):
                    found.append(statistics.median(spent) * 1e3)
        rss = [side.server.rss_bytes() / 1e6 for side in sides]
        for side in sides:
            side.close()
    note = (
        f"ref = a server with {small:,} finished jobs, ours = one with {large:,} (each plus the "
        "few hundred the measurements add), measured in turns. History: the small job "
        "(1-qubit X + measure as QPY, 10 shots) on ideal_24, CreateJob futures from one thread "
        f"on one channel, <= ~64 queued, all ended DONE (fills: {'; '.join(fills)}). "
        f"Latencies: sequential calls on the drained servers, alternating call by call between "
        f"them, the lowest of {rounds} medians of 10 to 50 calls each; CreateJob on an idle "
        "backend (each job is waited for before the next call). CPU: server process "
        f"utime+stime per job, the median of {rounds} windows of {cpu_window} jobs (submitted "
        "like the fill), alternating between the servers."
    )
    figures = [
        (metric, "ms", *(min(m) for m in medians[name]), name != "get_backend")
        for name, (metric, _) in HISTORY_FIGURES.items()
    ]
    figures[-1:-1] = [
        (
            f"server CPU per job ({cpu_window}-job windows)",
            "ms",
            *(statistics.median(c) for c in cpu),
            True,
        ),
        ("server RSS", "MB", *rss, True),
    ]
    return [
        Row(
            "history growth",
            metric,
            unit,
            at_small,
            at_large,
            "<=1.25x" if targeted else "",
            at_large <= 1.25 * at_small if targeted else None,
            note,
        )
        for metric, unit, at_small, at_large, targeted in figures
    ]
