"""WatchJobs delivery to 1,000 concurrent subscribers that accept batched responses
(``batch_events``, as the SDK does): the latency of job events at a steady rate and in a burst,
and how fast subscribers that fell behind catch up, against a floor measured in the same run: a
bare grpc.aio server streaming the same pre-serialized messages to the same subscribers."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import grpc
import numpy as np
from harness import METADATA, Client, Row, check_all_done, server_process, small_job, wait_finished

from qsession.v1 import job_pb2, job_pb2_grpc
from qsession.wire import to_timestamp

WATCH_TAG = "watched"
"""Every job of the delivery scenario carries it; every subscriber filters on it."""
PHASES = ("probe", "steady", "burst")
"""The second tag of each job: which part of the delivery scenario submitted it."""
CHANNEL_OPTIONS = [("grpc.use_local_subchannel_pool", 1)]
"""Each subscriber channel opens a connection of its own."""
CATCH_UP_TURNS = 3
"""Catch-ups measured on qsession and on the floor, in turns (the median of each is read)."""


def watch_request(after: int) -> job_pb2.WatchJobsRequest:
    """What every subscriber asks for: the scenario's jobs after ``after``, in batches."""
    return job_pb2.WatchJobsRequest(after_revision=after, tags=[WATCH_TAG], batch_events=True)


def events_of(response: job_pb2.WatchJobsResponse) -> Sequence[job_pb2.JobEvent]:
    """The events a response carries: ``events`` (batched), else the one in ``job``."""
    if response.events or not response.HasField("job"):
        return response.events
    return [job_pb2.JobEvent(revision=response.revision, job=response.job, time=response.time)]


def bad_sequences(sequences: list[list[int]], expected: int) -> int:
    """How many subscribers' revision sequences lost, repeated or reordered an event: each
    must hold ``expected`` revisions, increasing, and be the same as every other's (they all
    watch the same jobs from the same revision)."""
    reference = sequences[0] if sequences else []
    return sum(
        len(s) != expected or s != reference or any(a >= b for a, b in zip(s, s[1:], strict=False))
        for s in sequences
    )


@dataclass
class Tally:
    """What the streams of one subscriber process received.

    Attributes:
        latencies: per phase, every event's receive time minus its server time (seconds).
        last_received: per phase, when the last of its events arrived (unix seconds).
        last_event: per phase, the server time of its newest event (the last job's end).
        done: per job id, how many subscribers saw it DONE.
        sequences: per subscriber, the revisions it received, in order.
        messages: responses received, all subscribers together.
        ended: the status codes of streams that ended.
    """

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    last_received: dict[str, float] = field(default_factory=dict)
    last_event: dict[str, float] = field(default_factory=dict)
    done: dict[str, int] = field(default_factory=dict)
    sequences: list[list[int]] = field(default_factory=list)
    messages: int = 0
    ended: list[grpc.StatusCode] = field(default_factory=list)


async def _subscribe(
    stub: job_pb2_grpc.JobServiceStub, request: job_pb2.WatchJobsRequest, tally: Tally
) -> None:
    """One live subscriber: record each event's delivery latency under its job's phase, its
    revision, and DONE events per job; on the end of the stream, its status."""
    sequence: list[int] = []
    tally.sequences.append(sequence)
    try:
        async for response in stub.WatchJobs(request, metadata=METADATA):
            received = time.time()
            tally.messages += 1
            for event in events_of(response):
                job = event.job
                phase = next((tag for tag in job.tags if tag in PHASES), "")
                sent = event.time.ToNanoseconds() / 1e9
                tally.latencies[phase].append(received - sent)
                tally.last_received[phase] = max(tally.last_received.get(phase, 0.0), received)
                tally.last_event[phase] = max(tally.last_event.get(phase, 0.0), sent)
                sequence.append(event.revision)
                if job.state == job_pb2.Job.STATE_DONE:
                    tally.done[job.id] = tally.done.get(job.id, 0) + 1
    except grpc.aio.AioRpcError as exc:
        tally.ended.append(exc.code())
    except asyncio.CancelledError:
        tally.ended.append(grpc.StatusCode.CANCELLED)
        raise


async def _watchers(
    address: str, count: int, channels: int, after: int, control: Connection
) -> None:
    """The live subscriber process (see :func:`watch_delivery`): ``count`` WatchJobs streams
    over ``channels`` connections, answering the parent's commands on ``control``:

    - ``("expect", ids, timeout)``: once every live subscriber saw each job DONE (or after
      ``timeout`` seconds), answer ``(jobs not yet seen DONE by every live subscriber, this
      process's CPU seconds so far)``;
    - ``("stats", expected)``: answer the latencies (seconds) per phase, each phase's
      (last receive, last event) times, events per response, how many subscribers' sequences
      are not the ``expected`` events in order, and the status codes streams ended with;
      then stop.
    """
    pool = [grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) for _ in range(channels)]
    stubs = [job_pb2_grpc.JobServiceStub(channel) for channel in pool]
    request = watch_request(after)
    tally = Tally()
    tasks = [
        asyncio.create_task(_subscribe(stubs[i % channels], request, tally)) for i in range(count)
    ]
    loop = asyncio.get_running_loop()
    while True:
        command = await loop.run_in_executor(None, control.recv)
        if command[0] == "expect":
            _, ids, timeout = command
            deadline = time.monotonic() + timeout
            while True:
                live = count - len(tally.ended)
                missing = sum(tally.done.get(i, 0) < live for i in ids)
                if not missing or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.02)
            control.send((missing, time.process_time()))
        else:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            codes = [code for code in tally.ended if code != grpc.StatusCode.CANCELLED]
            ends = {p: (tally.last_received[p], tally.last_event[p]) for p in tally.last_event}
            events = sum(len(s) for s in tally.sequences)
            control.send(
                (
                    dict(tally.latencies),
                    ends,
                    events / max(tally.messages, 1),
                    bad_sequences(tally.sequences, command[1]),
                    [code.name for code in codes],
                )
            )
            for channel in pool:
                await channel.close()
            return


def watchers_main(address: str, count: int, channels: int, after: int, control: Connection) -> None:
    """Entry point of the live subscriber process (spawned by :func:`watch_delivery`)."""
    asyncio.run(_watchers(address, count, channels, after, control))


class SubscriberProcess:
    """The process that runs :func:`watchers_main`, and the commands it answers; as a context
    manager it is killed on exit if it is still running (it is a daemon besides).

    Args:
        address: the server it watches.
        count: how many WatchJobs streams to open.
        channels: over how many connections.
        after: the revision to watch from.
        server_cpu: reads the server's CPU seconds (beside each answer); default none.
    """

    def __init__(
        self,
        address: str,
        count: int,
        channels: int,
        after: int,
        server_cpu: Callable[[], float] = lambda: 0.0,
    ):
        context = multiprocessing.get_context("spawn")
        self._server_cpu = server_cpu
        self._control, child_end = context.Pipe()
        self._process = context.Process(
            target=watchers_main, args=(address, count, channels, after, child_end), daemon=True
        )
        self._process.start()
        self._marks = [(time.monotonic(), server_cpu(), 0.0)]

    def expect(self, job_ids: list[str], timeout: float) -> tuple[int, float, float, float]:
        """Wait until every live subscriber saw each job DONE (or ``timeout`` seconds passed):
        ``(jobs some live subscriber has not seen DONE, wall seconds, server CPU seconds,
        subscriber process CPU seconds)``, the last three since the previous call."""
        self._control.send(("expect", job_ids, timeout))
        missing, subscriber_cpu = self._control.recv()
        self._marks.append((time.monotonic(), self._server_cpu(), subscriber_cpu))
        wall, server_cpu, subscriber_cpu = (b - a for a, b in zip(*self._marks[-2:], strict=True))
        return missing, wall, server_cpu, subscriber_cpu

    def stats(
        self, expected: int
    ) -> tuple[dict[str, list[float]], dict[str, tuple[float, float]], float, int, list[str]]:
        """Stop the subscribers: the latencies per phase (seconds), each phase's (last receive,
        last event) times, events per response, the subscribers whose sequence is not the
        ``expected`` events in order, and the status codes of streams that ended early."""
        self._control.send(("stats", expected))
        answer = self._control.recv()
        self._process.join(timeout=60)
        return answer

    def __enter__(self) -> SubscriberProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join()


# ------------------------------------------------------------------- catching up, and the floor


@dataclass(frozen=True)
class CatchUp:
    """How ``subscribers`` streams that each had ``events`` events to receive caught up.

    Attributes:
        seconds: from opening the streams (connections already up) until the last subscriber
            had every event.
        bad: subscribers whose sequence lost, repeated or reordered an event.
        messages: responses received, all subscribers together.
        recorded: the first subscriber's responses, serialized (what the floor sends).
    """

    subscribers: int
    events: int
    seconds: float
    bad: int
    messages: int
    recorded: list[bytes]

    @property
    def rate(self) -> float:
        """Events delivered per second, all subscribers together."""
        return self.subscribers * self.events / self.seconds


async def _catch_up(address: str, count: int, channels: int, after: int, events: int) -> CatchUp:
    pool = [grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) for _ in range(channels)]
    for channel in pool:
        await channel.channel_ready()
    stubs = [job_pb2_grpc.JobServiceStub(channel) for channel in pool]
    request = watch_request(after)
    sequences: list[list[int]] = [[] for _ in range(count)]
    recorded: list[bytes] = []
    messages = 0

    async def subscriber(index: int) -> None:
        nonlocal messages
        call = stubs[index % channels].WatchJobs(request, metadata=METADATA)
        sequence = sequences[index]
        async for response in call:
            messages += 1
            if index == 0:
                recorded.append(response.SerializeToString())
            sequence.extend(event.revision for event in events_of(response))
            if len(sequence) >= events:
                break
        call.cancel()

    start = time.perf_counter()
    await asyncio.gather(*(subscriber(i) for i in range(count)))
    seconds = time.perf_counter() - start
    for channel in pool:
        await channel.close()
    return CatchUp(count, events, seconds, bad_sequences(sequences, events), messages, recorded)


def _catch_up_main(
    address: str, count: int, channels: int, after: int, events: int, answer: Connection
) -> None:
    answer.send(asyncio.run(_catch_up(address, count, channels, after, events)))


def catch_up(address: str, count: int, channels: int, after: int, events: int) -> CatchUp:
    """``count`` subscribers (a process of their own, as the live ones) open WatchJobs streams
    after revision ``after`` and read until each has ``events`` events."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(
        target=_catch_up_main, args=(address, count, channels, after, events, send), daemon=True
    )
    process.start()
    try:
        return receive.recv()
    finally:
        process.join(timeout=60)
        if process.is_alive():
            process.kill()


async def _floor(control: Connection) -> None:
    """The floor server (see :class:`Floor`): its WatchJobs streams ``replay`` if set, else
    whatever ``_live`` broadcasts."""
    replay: list[bytes] | None = None
    streams: list[asyncio.Queue[bytes | None]] = []

    async def watch(request: bytes, context: grpc.aio.ServicerContext):
        if replay is not None:
            for message in replay:
                yield message
            return
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        streams.append(queue)
        while (message := await queue.get()) is not None:
            yield message

    handler = grpc.method_handlers_generic_handler(
        "qsession.v1.JobService", {"WatchJobs": grpc.unary_stream_rpc_method_handler(watch)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    control.send(port)
    loop = asyncio.get_running_loop()
    while (command := await loop.run_in_executor(None, control.recv))[0] != "stop":
        if command[0] == "replay":
            replay = command[1]
            control.send(None)
        else:
            _, rate, jobs, subscribers = command
            while len(streams) < subscribers:
                await asyncio.sleep(0.05)
            control.send(await _live(streams, rate, jobs))
            for queue in streams:
                queue.put_nowait(None)
            streams.clear()
    await server.stop(None)


async def _live(streams: list[asyncio.Queue[bytes | None]], rate: float, jobs: int) -> list[str]:
    """Broadcast ``jobs`` jobs at ``rate`` a second to every stream, each as one response
    carrying its QUEUED, RUNNING and DONE events, serialized once when it is sent: the job ids."""
    states = (job_pb2.Job.STATE_QUEUED, job_pb2.Job.STATE_RUNNING, job_pb2.Job.STATE_DONE)
    ids = [f"floor-{n}" for n in range(jobs)]
    start = time.monotonic()
    for n, job_id in enumerate(ids):
        await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
        now = to_timestamp(time.time())
        events = [
            job_pb2.JobEvent(
                revision=3 * n + k + 1,
                job=job_pb2.Job(
                    id=job_id, backend="ideal_24", tags=[WATCH_TAG, "steady"], state=state
                ),
                time=now,
            )
            for k, state in enumerate(states)
        ]
        message = job_pb2.WatchJobsResponse(
            revision=events[-1].revision, time=now, events=events
        ).SerializeToString()
        for queue in streams:
            queue.put_nowait(message)
    return ids


def floor_main(control: Connection) -> None:
    """Entry point of the floor server: a bare grpc.aio server whose WatchJobs (no
    deserialization, no auth, no filters, no event log) streams bytes as they are."""
    asyncio.run(_floor(control))


class Floor:
    """The floor server's process, and its commands; as a context manager it is stopped on
    exit (killed if it does not stop)."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._control, child_end = context.Pipe()
        self._process = context.Process(target=floor_main, args=(child_end,), daemon=True)
        self._process.start()
        self.address = f"127.0.0.1:{self._control.recv()}"

    def live(self, rate: float, jobs: int, subscribers: int) -> list[str]:
        """Once ``subscribers`` streams are open, send them ``jobs`` jobs at ``rate`` a second
        (each one response with its three events; see ``_live``), then end the streams: the
        job ids."""
        self._control.send(("live", rate, jobs, subscribers))
        return self._control.recv()

    def replay(self, messages: list[bytes]) -> None:
        """From now on, every stream is sent ``messages`` and ends."""
        self._control.send(("replay", messages))
        self._control.recv()

    def __enter__(self) -> Floor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._control.send(("stop",))
        self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.kill()


def one_per_message(recorded: list[bytes]) -> list[bytes]:
    """The same events as ``recorded``, one per message as an old client receives them."""
    return [
        job_pb2.WatchJobsResponse(revision=e.revision, job=e.job, time=e.time).SerializeToString()
        for message in recorded
        for e in job_pb2.WatchJobsResponse.FromString(message).events
    ]


# ----------------------------------------------------------------------------------- scenario


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
    """WatchJobs delivery to ``subscribers`` concurrent watchers that accept batched responses,
    against a bare grpc.aio server (the floor) sending to the same subscribers.

    A separate client process (grpc.aio, one asyncio loop) opens ``subscribers`` WatchJobs
    streams with ``batch_events``, spread over ``channels`` connections, each filtered on
    :data:`WATCH_TAG` (so every subscriber receives every event of every job here). Once all
    of them received a probe job's DONE, this process submits the small job on ideal_24 (a)
    at ``rate`` jobs/s for ``seconds`` seconds, then, once every subscriber saw those DONE,
    (b) ``burst`` jobs back to back (CreateJob futures on one channel). Delivery latency: the
    subscriber's receive time minus the event's server time (``JobEvent.time``, when the
    state changed), over every event (QUEUED, RUNNING, DONE) of the phase's jobs at every
    subscriber; both clocks are this machine's. The burst's figure is how long after the last
    job's end (its DONE event's time) the last subscriber received it. The floor of (a): the
    same subscriber process, on the floor server, which sends ``rate`` jobs/s for ``seconds``
    seconds to every stream, each job one response with its three events (what qsession
    sends when a job's events arrive together), timed when it is sent.

    Then (c) ``subscribers`` new subscribers, in a new process, watch from the revision
    before the burst: each has fallen ``3 * burst`` events behind, and the time until all
    have them gives qsession's delivery rate (events/s over all subscribers). The floor is
    the same subscribers' rate from the floor server streaming the same serialized
    responses (those the first subscriber received) to each; the two take CATCH_UP_TURNS
    turns, and the medians are compared. A second floor streams the same events one per
    message, as to a client without ``batch_events``.

    Every subscriber's revisions are checked: all the events, in increasing order, the same
    at every subscriber.
    """
    steady_jobs = round(rate * seconds)
    with server_process() as server:
        client = Client(server.address)
        wait_finished(client, [client.create()])  # warm-up: the worker is ready
        with SubscriberProcess(
            server.address, subscribers, channels, client.revision(), server.cpu_seconds
        ) as watchers:
            watchers.expect([client.create(tags=[WATCH_TAG, "probe"])], timeout=120)
            steady = []
            start = time.monotonic()
            for n in range(steady_jobs):
                time.sleep(max(0.0, start + n / rate - time.monotonic()))
                request = small_job(tags=[WATCH_TAG, "steady"])
                steady.append(client.jobs.CreateJob.future(request, metadata=METADATA))
            steady_ids, steady_failed = outcomes(steady)
            steady_spent = watchers.expect(steady_ids, timeout=120)
            before_burst = client.revision()
            request = small_job(tags=[WATCH_TAG, "burst"])
            burst_ids, burst_failed = outcomes(
                [client.jobs.CreateJob.future(request, metadata=METADATA) for _ in range(burst)]
            )
            burst_spent = watchers.expect(burst_ids, timeout=300)
            live_events = 3 * (1 + len(steady_ids) + len(burst_ids))
            latencies, ends, per_response, live_bad, ended = watchers.stats(live_events)
        check_all_done(client)
        client.close()
        behind = 3 * len(burst_ids)
        with Floor() as bare:
            with SubscriberProcess(bare.address, subscribers, channels, 0) as watchers:
                floor_ids = bare.live(rate, steady_jobs, subscribers)
                floor_missing = watchers.expect(floor_ids, timeout=120)[0]
                floor_latencies, _, _, floor_bad, _ = watchers.stats(3 * len(floor_ids))
            turns: list[tuple[CatchUp, CatchUp]] = []
            for _ in range(CATCH_UP_TURNS):  # in turns, so that the machine's drift hits both
                ours = catch_up(server.address, subscribers, channels, before_burst, behind)
                bare.replay(ours.recorded)
                turns.append((ours, catch_up(bare.address, subscribers, channels, 0, behind)))
            bare.replay(one_per_message(ours.recorded))
            single = catch_up(bare.address, subscribers, channels, 0, behind)
    ours_seconds = float(np.median([ours.seconds for ours, _ in turns]))
    floor_seconds = float(np.median([same.seconds for _, same in turns]))
    bad = [ours.bad for ours, _ in turns] + [same.bad for _, same in turns]

    rows = []
    live_check = (
        f"Sequence check: {live_bad} of {subscribers:,} live subscribers lost or reordered an "
        f"event ({live_events:,} each expected); {per_response:.2f} events per response."
    )
    floor_values = np.array(floor_latencies.get("steady", [])) * 1e3
    floor_note = (
        f" The floor: {floor_values.size:,} of {3 * subscribers * len(floor_ids):,} events "
        f"delivered, jobs not seen DONE by every subscriber: {floor_missing}, sequence "
        f"check: {floor_bad} bad; max {floor_values.max() if floor_values.size else np.nan:,.0f}"
        " ms."
    )
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
            f"JobEvent.time, one clock. {live_check}" + (floor_note if phase == "steady" else "")
        )
        for metric, value in (("p50", p50), ("p99", p99)):
            steady_p99 = phase == "steady" and metric == "p99"
            reference = None
            if phase == "steady" and floor_values.size:
                reference = float(np.percentile(floor_values, 50 if metric == "p50" else 99))
            rows.append(
                Row(
                    "WatchJobs delivery",
                    f"{label}, {metric}",
                    "ms",
                    reference,
                    float(value),
                    "<=50 ms" if steady_p99 else "",
                    bool(value <= 50 and not live_bad) if steady_p99 else None,
                    note,
                )
            )
        if phase == "burst":
            received, last_end = ends.get(phase, (np.nan, np.nan))
            lag = received - last_end
            rows.append(
                Row(
                    "WatchJobs delivery",
                    f"(b) {burst} jobs, delivered after the last's end",
                    "s",
                    None,
                    lag,
                    "<=2 s",
                    bool(lag <= 2 and not live_bad),
                    note,
                )
            )

    note = (
        f"(c) {subscribers:,} subscribers {behind:,} events behind (watching from before the "
        f"burst), until all have them, median of {CATCH_UP_TURNS} turns: qsession "
        f"{ours_seconds:.2f} s ({', '.join(f'{o.seconds:.2f}' for o, _ in turns)}) in "
        f"{ours.messages:,} responses; the floor, a bare grpc.aio server streaming the same "
        f"serialized responses, {floor_seconds:.2f} s "
        f"({', '.join(f'{f.seconds:.2f}' for _, f in turns)}); the same events one per "
        f"message, {single.seconds:.2f} s in {single.messages:,} messages. Sequence check: "
        f"{sum(bad)} / {single.bad} subscribers lost or reordered an event."
    )
    events = subscribers * behind
    for metric, reference, target in (
        ("vs the floor (same messages)", events / floor_seconds, ">=0.8x"),
        ("vs one event per message", single.rate, ""),
    ):
        ours_rate = events / ours_seconds
        met = bool(ours_rate >= 0.8 * reference and not any(bad)) if target else None
        rows.append(
            Row(
                "WatchJobs delivery",
                f"(c) catch-up rate {metric}",
                "ev/s",
                reference,
                ours_rate,
                target,
                met,
                note,
            )
        )
    return rows
