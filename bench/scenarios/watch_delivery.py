"""WatchJobs delivery: the latency of job events to 1,000 concurrent subscribers, at a steady
rate and in a burst."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from multiprocessing.connection import Connection

import grpc
import numpy as np
from harness import METADATA, Client, Row, check_all_done, server_process, small_job, wait_finished

from qsession.testing import ServerProcess
from qsession.v1 import job_pb2, job_pb2_grpc

WATCH_TAG = "watched"
"""Every job of the delivery scenario carries it; every subscriber filters on it."""
PHASES = ("probe", "steady", "burst")
"""The second tag of each job: which part of the delivery scenario submitted it."""


async def _subscribe(
    stub: job_pb2_grpc.JobServiceStub,
    request: job_pb2.WatchJobsRequest,
    latencies: dict[str, list[float]],
    done: dict[str, int],
    ended: list[grpc.StatusCode],
) -> None:
    """One subscriber: record each event's delivery latency (receive time minus the event's
    server time, seconds) under its job's phase, count DONE events per job, and append the
    status the stream ended with."""
    try:
        async for response in stub.WatchJobs(request, metadata=METADATA):
            received = time.time()
            job = response.job
            phase = next((tag for tag in job.tags if tag in PHASES), "")
            latencies[phase].append(received - response.time.ToNanoseconds() / 1e9)
            if job.state == job_pb2.Job.STATE_DONE:
                done[job.id] = done.get(job.id, 0) + 1
    except grpc.aio.AioRpcError as exc:
        ended.append(exc.code())
    except asyncio.CancelledError:
        ended.append(grpc.StatusCode.CANCELLED)
        raise


async def _watchers(
    address: str, count: int, channels: int, after: int, control: Connection
) -> None:
    """The subscriber process (see :func:`watch_delivery`): ``count`` WatchJobs streams over
    ``channels`` connections, answering the parent's commands on ``control``:

    - ``("expect", ids, timeout)``: once every live subscriber saw each job DONE (or after
      ``timeout`` seconds), answer ``(jobs not yet seen DONE by every live subscriber, this
      process's CPU seconds so far)``;
    - ``("stats",)``: answer the latencies (seconds) per phase and the status codes streams
      ended with, then stop.
    """
    options = [("grpc.use_local_subchannel_pool", 1)]
    pool = [grpc.aio.insecure_channel(address, options=options) for _ in range(channels)]
    stubs = [job_pb2_grpc.JobServiceStub(channel) for channel in pool]
    request = job_pb2.WatchJobsRequest(after_revision=after, tags=[WATCH_TAG])
    latencies: dict[str, list[float]] = defaultdict(list)
    done: dict[str, int] = {}
    ended: list[grpc.StatusCode] = []
    tasks = [
        asyncio.create_task(_subscribe(stubs[i % channels], request, latencies, done, ended))
        for i in range(count)
    ]
    loop = asyncio.get_running_loop()
    while True:
        command = await loop.run_in_executor(None, control.recv)
        if command[0] == "expect":
            _, ids, timeout = command
            deadline = time.monotonic() + timeout
            while True:
                live = count - len(ended)
                missing = sum(done.get(i, 0) < live for i in ids)
                if not missing or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.02)
            control.send((missing, time.process_time()))
        else:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            codes = [code for code in ended if code != grpc.StatusCode.CANCELLED]
            control.send((dict(latencies), [code.name for code in codes]))
            for channel in pool:
                await channel.close()
            return


def watchers_main(address: str, count: int, channels: int, after: int, control: Connection) -> None:
    """Entry point of the subscriber process (spawned by :func:`watch_delivery`)."""
    asyncio.run(_watchers(address, count, channels, after, control))


class SubscriberProcess:
    """The process that runs :func:`watchers_main`, and the commands it answers; as a context
    manager it is killed on exit if it is still running (it is a daemon besides).

    Args:
        server: the server it watches (its CPU time is read beside each answer).
        count: how many WatchJobs streams to open.
        channels: over how many connections.
        after: the revision to watch from.
    """

    def __init__(self, server: ServerProcess, count: int, channels: int, after: int):
        context = multiprocessing.get_context("spawn")
        self._server = server
        self._control, child_end = context.Pipe()
        self._process = context.Process(
            target=watchers_main,
            args=(server.address, count, channels, after, child_end),
            daemon=True,
        )
        self._process.start()
        self._marks = [(time.monotonic(), server.cpu_seconds(), 0.0)]

    def expect(self, job_ids: list[str], timeout: float) -> tuple[int, float, float, float]:
        """Wait until every live subscriber saw each job DONE (or ``timeout`` seconds passed):
        ``(jobs some live subscriber has not seen DONE, wall seconds, server CPU seconds,
        subscriber process CPU seconds)``, the last three since the previous call."""
        self._control.send(("expect", job_ids, timeout))
        missing, subscriber_cpu = self._control.recv()
        self._marks.append((time.monotonic(), self._server.cpu_seconds(), subscriber_cpu))
        wall, server_cpu, subscriber_cpu = (b - a for a, b in zip(*self._marks[-2:], strict=True))
        return missing, wall, server_cpu, subscriber_cpu

    def stats(self) -> tuple[dict[str, list[float]], list[str]]:
        """Stop the subscribers: the latencies per phase (seconds) and the status codes of
        streams that ended early."""
        self._control.send(("stats",))
        answer = self._control.recv()
        self._process.join(timeout=60)
        return answer

    def __enter__(self) -> SubscriberProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join()


def outcomes(futures: Sequence[grpc.Future]) -> tuple[list[str], Counter[str]]:
    """The ids of the CreateJob futures that succeeded, and how many failed with each status."""
    ids, failed = [], Counter()
    for future in futures:
        try:
            ids.append(future.result().job.id)
        except grpc.RpcError as exc:
            failed[exc.code().name] += 1
    return ids, failed


def watch_delivery(
    subscribers: int = 1000,
    rate: float = 5.0,
    seconds: float = 10.0,
    burst: int = 300,
    channels: int = 10,
) -> list[Row]:
    """WatchJobs delivery latency to ``subscribers`` concurrent watchers.

    A separate client process (grpc.aio, one asyncio loop) opens ``subscribers`` WatchJobs
    streams, spread over ``channels`` connections, each filtered on :data:`WATCH_TAG` (so
    every subscriber receives every event of every job here). Once all of them received a
    probe job's DONE, this process submits the small job on ideal_24 (a) at ``rate`` jobs/s
    for ``seconds`` seconds, then, once every subscriber saw those DONE, (b) ``burst`` jobs
    back to back (CreateJob futures on one channel). Delivery latency: the subscriber's
    receive time minus the event's server time (``WatchJobsResponse.time``, when the state
    changed), over every event (QUEUED, RUNNING, DONE) of the phase's jobs at every
    subscriber; both clocks are this machine's.
    """
    with server_process() as server:
        client = Client(server.address)
        wait_finished(client, [client.create()])  # warm-up: the worker is ready
        with SubscriberProcess(server, subscribers, channels, client.revision()) as watchers:
            watchers.expect([client.create(tags=[WATCH_TAG, "probe"])], timeout=120)
            steady = []
            start = time.monotonic()
            for n in range(round(rate * seconds)):
                time.sleep(max(0.0, start + n / rate - time.monotonic()))
                request = small_job(tags=[WATCH_TAG, "steady"])
                steady.append(client.jobs.CreateJob.future(request, metadata=METADATA))
            steady_ids, steady_failed = outcomes(steady)
            steady_spent = watchers.expect(steady_ids, timeout=120)
            request = small_job(tags=[WATCH_TAG, "burst"])
            burst_ids, burst_failed = outcomes(
                [client.jobs.CreateJob.future(request, metadata=METADATA) for _ in range(burst)]
            )
            burst_spent = watchers.expect(burst_ids, timeout=300)
            latencies, ended = watchers.stats()
        check_all_done(client)
        client.close()

    rows = []
    for phase, label, jobs, failed, (missing, wall, server_cpu, child_cpu) in (
        (
            "steady",
            f"(a) {rate:g} jobs/s for {seconds:g} s",
            steady_ids,
            steady_failed,
            steady_spent,
        ),
        ("burst", f"(b) {burst} jobs back to back", burst_ids, burst_failed, burst_spent),
    ):
        values = np.array(latencies.get(phase, [])) * 1e3
        p50, p99 = np.percentile(values, [50, 99]) if values.size else (np.nan, np.nan)
        note = (
            f"{label}: CreateJob errors {dict(failed) or 'none'}; {values.size:,} of "
            f"{subscribers * len(jobs) * 3:,} events delivered ({subscribers:,} subscribers x "
            f"{len(jobs)} created jobs x QUEUED/RUNNING/DONE); max "
            f"{values.max() if values.size else np.nan:,.0f} ms; jobs not seen DONE by every "
            f"live subscriber: {missing}; streams ended early: {ended or 'none'}. Until all "
            f"were delivered ({wall:.1f} s): server CPU {server_cpu / wall:.2f} cores, "
            f"subscriber process {child_cpu / wall:.2f} cores. Latency = receive time - "
            "WatchJobsResponse.time, one clock."
        )
        for metric, value in (("p50", p50), ("p99", p99)):
            rows.append(
                Row(
                    "WatchJobs delivery",
                    f"{label}, {metric}",
                    "ms",
                    None,
                    float(value),
                    "<50 ms" if metric == "p99" else "",
                    bool(value < 50) if metric == "p99" else None,
                    note,
                )
            )
    return rows
