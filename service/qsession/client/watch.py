"""Following job state changes on the server's revisioned event stream (WatchJobs)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Self

import grpc

from qsession.client.connection import Backoff, is_transient
from qsession.client.errors import IBMApiError, RuntimeJobTimeoutError
from qsession.client.times import utc
from qsession.v1 import job_pb2

if TYPE_CHECKING:
    from qsession.client.job import RuntimeJobV2
    from qsession.client.operations import JobOperations

JOB_STATUS = {
    job_pb2.Job.STATE_QUEUED: "QUEUED",
    job_pb2.Job.STATE_RUNNING: "RUNNING",
    job_pb2.Job.STATE_DONE: "DONE",
    job_pb2.Job.STATE_ERROR: "ERROR",
    job_pb2.Job.STATE_CANCELLED: "CANCELLED",
}
FINAL_STATES = frozenset(
    {job_pb2.Job.STATE_DONE, job_pb2.Job.STATE_ERROR, job_pb2.Job.STATE_CANCELLED}
)


class JobEventStream:
    """The WatchJobs events for a request, resumed without a gap or a repeat after a cut.

    The stream asks for ``batch_events``: a watcher that fell behind receives several events
    per message, and catches up in fewer messages. Iteration yields them one at a time, in
    revision order, each a :class:`~qsession.v1.job_pb2.JobEvent` (``revision``, ``job``,
    ``time``).

    Whenever the stream ends — cut off for falling behind (RESOURCE_EXHAUSTED), by a
    restarting server (UNAVAILABLE, CANCELLED, a broken connection: see
    :func:`~qsession.client.connection.is_transient`), or without a status — it is reopened
    after the last revision received: an event's, or a progress notification's (ask for
    ``progress_notify`` to keep the resume point current while no event matches). A stream that
    had delivered something is reopened at once; one that fails again before delivering
    anything is retried with backoff until the connection's ``retry_timeout`` has passed since
    that first failure (0: no retries). An event at or before the resume point is never yielded
    twice. Before anything was received, a stream of a request without ``after_revision``
    ("from now") is reopened with the same request, which may miss the events of the gap;
    :class:`JobWatch` avoids that by starting at a known revision.
    :meth:`cancel` may be called from any thread and ends the iteration.

    Args:
        jobs: The service's job operations.
        request: The filters and the revision to start after (copied).
        deadline: ``time.monotonic()`` value after which to stop waiting, or ``None``.

    Iteration raises:
        RuntimeJobTimeoutError: the deadline passed.
        QSessionError: the server refused the watch (e.g. OUT_OF_RANGE for a revision that is
            no longer retained: IBMInputValueError), or stayed unreachable for longer than
            the retry timeout (IBMApiError).
    """

    def __init__(
        self,
        jobs: JobOperations,
        request: job_pb2.WatchJobsRequest,
        deadline: float | None = None,
    ):
        self._jobs = jobs
        self._connection = jobs.connection
        self._request = job_pb2.WatchJobsRequest.FromString(request.SerializeToString())
        self._request.batch_events = True
        self._deadline = deadline
        self._lock = threading.Lock()
        self._call: grpc.Call | None = None
        self._cancelled = False

    @property
    def last_revision(self) -> int | None:
        """The revision the stream would resume after: the newest received, or the one it was
        opened after; ``None`` for a watch "from now" that has received nothing yet."""
        if self._request.HasField("after_revision"):
            return self._request.after_revision
        return None

    def cancel(self) -> None:
        """End the stream (the iteration stops)."""
        with self._lock:
            self._cancelled = True
            if self._call is not None:
                self._call.cancel()

    def open(self) -> None:
        """Send the watch request now rather than at the first ``next()``.

        The server subscribes when the request arrives, so events "from now" start about
        then; pass an ``after_revision`` to be certain of seeing every event.
        """
        if self._call is None:
            self._open()

    def _open(self) -> grpc.Call | None:
        remaining = None if self._deadline is None else self._deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise RuntimeJobTimeoutError("timed out waiting for job events")
        with self._lock:
            if self._cancelled:
                return None
            self._call = self._jobs.watch(self._request, timeout=remaining)
            return self._call

    def _advance(self, revision: int) -> bool:
        """Move the resume point to ``revision``, unless it is already there or past it
        (received before the stream was reopened): whether it moved."""
        last = self.last_revision
        if last is not None and revision <= last:
            return False
        self._request.after_revision = revision
        return True

    def _resumable(self, exc: grpc.RpcError) -> bool:
        """Whether the stream's end is one to resume from, not a refusal of the request: the
        watcher fell behind, or the connection broke (and was not closed here)."""
        if self._connection.closed:
            return False
        code = exc.code()
        return code == grpc.StatusCode.RESOURCE_EXHAUSTED or is_transient(code, exc.details())

    def __iter__(self) -> Iterator[job_pb2.JobEvent]:
        backoff: Backoff | None = None  # set while reopening fails, until something arrives
        call = self._call or self._open()
        while call is not None:
            delivered = False
            failure: grpc.RpcError | None = None
            try:
                for message in call:
                    for revision, event in _entries(message):
                        if not self._advance(revision):
                            continue  # delivered before the stream was reopened
                        delivered, backoff = True, None
                        self._connection.reached = True
                        if event is not None:  # else a progress notification: resume point
                            yield event
            except grpc.RpcError as exc:
                if self._cancelled:
                    return
                code = exc.code()
                if code == grpc.StatusCode.DEADLINE_EXCEEDED and self._deadline is not None:
                    raise RuntimeJobTimeoutError("timed out waiting for job events") from None
                if not self._resumable(exc):
                    raise self._connection.error(exc) from None
                failure = exc
            finally:
                call.cancel()
            if self._cancelled:
                return
            if not delivered:
                backoff = backoff or self._connection.backoff(self._deadline)
                if not backoff.sleep():
                    if backoff.past_deadline():
                        raise RuntimeJobTimeoutError("timed out waiting for job events")
                    if failure is None:
                        raise IBMApiError(
                            f"the watch stream of {self._connection.url} keeps ending "
                            "without an event"
                        )
                    raise self._connection.error(failure, retried_for=backoff.retried_for) from None
            call = self._open()


def _entries(message: job_pb2.WatchJobsResponse) -> list[tuple[int, job_pb2.JobEvent | None]]:
    """A response's revisions, each with its event: those of ``events``; else one, with the
    event in ``job`` (a server that does not batch), or with none (a progress
    notification)."""
    if message.events:
        return [(event.revision, event) for event in message.events]
    if message.HasField("job"):
        event = job_pb2.JobEvent(revision=message.revision, job=message.job, time=message.time)
        return [(message.revision, event)]
    return [(message.revision, None)]


@dataclass(frozen=True)
class JobEvent:
    """One job state change, as :meth:`RuntimeService.watch_jobs` yields it.

    Attributes:
        revision: The event's revision: unique and increasing; pass it as ``after_revision``
            to resume a watch right after this event.
        job_id: The job's id.
        session_id: The job's session or batch id, or ``None`` in job mode.
        status: The job's status after the change: ``"QUEUED"``, ``"RUNNING"``, ``"DONE"``,
            ``"ERROR"`` or ``"CANCELLED"``.
        timestamp: When the change happened (UTC).
        tags: The job's tags.
        job: The job, for ``result()``, ``metrics()`` and the rest.
        progress: The fraction of a running job's PUBs done (its worker's report; 1.0 once
            DONE); a RUNNING event with more progress than the last is a progress report.
        remaining_seconds: A running job's estimated time still needed, or ``None``.
    """

    revision: int
    job_id: str
    session_id: str | None
    status: str
    timestamp: datetime
    tags: tuple[str, ...]
    job: RuntimeJobV2
    progress: float = 0.0
    remaining_seconds: float | None = None


class JobWatch:
    """An iterator over job state changes; a context manager that ends the stream on exit.

    Iteration blocks until the next event arrives and never ends on its own; leave it with
    ``break`` or :meth:`close` (or the ``with`` block). The stream outlives server restarts
    and dropped connections (see :class:`JobEventStream`): every event after the starting
    point is yielded once, in revision order. A watch "from now" starts after the newest
    revision when it is created, and asks for progress notifications, so that it always has
    a revision to resume from.

    Args:
        jobs: The service's job operations.
        job: Makes the job object of an event's job message.
        request: The filters and the revision to start after (copied).
    """

    def __init__(
        self,
        jobs: JobOperations,
        job: Callable[[job_pb2.Job], RuntimeJobV2],
        request: job_pb2.WatchJobsRequest,
    ):
        self._job = job
        request = job_pb2.WatchJobsRequest.FromString(request.SerializeToString())
        request.progress_notify = True
        if not request.HasField("after_revision"):
            request.after_revision = jobs.newest_revision()
        self._stream = JobEventStream(jobs, request)
        self._stream.open()
        self._events = iter(self._stream)

    def __iter__(self) -> JobWatch:
        return self

    def __next__(self) -> JobEvent:
        message = next(self._events)
        job = message.job
        return JobEvent(
            revision=message.revision,
            job_id=job.id,
            session_id=job.session_id or None,
            status=JOB_STATUS.get(job.state, "UNKNOWN"),
            timestamp=utc(message.time),
            tags=tuple(job.tags),
            job=self._job(job),
            progress=job.progress,
            remaining_seconds=job.remaining_seconds if job.HasField("remaining_seconds") else None,
        )

    def close(self) -> None:
        """End the stream; safe to call from another thread while one waits in ``next()``."""
        self._stream.cancel()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
