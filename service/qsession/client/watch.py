"""Following job state changes on the server's revisioned event stream (WatchJobs)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Self

import grpc

from qsession.client.errors import RuntimeJobTimeoutError
from qsession.client.times import utc
from qsession.v1 import job_pb2

if TYPE_CHECKING:
    from qsession.client.connection import Connection
    from qsession.client.job import RuntimeJobV2
    from qsession.client.service import RuntimeService

RECONNECT_WINDOW = 30.0
"""Seconds a watch keeps trying to reconnect to an unavailable server before it gives up."""

_RESUMABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)

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
    """The WatchJobs events for a request, resumed without a gap after a dropped stream.

    A stream cut off for falling behind (RESOURCE_EXHAUSTED), ended by a restarting server
    (UNAVAILABLE), or ended without a status is reopened after the last revision received
    (before any event: with the original request, so a watch "from now" may miss events of
    the gap); reconnection is retried for up to :data:`RECONNECT_WINDOW` seconds.
    :meth:`cancel` may be called from any thread and ends the iteration.

    Args:
        connection: The service's connection.
        request: The filters and the revision to start after (copied).
        deadline: ``time.monotonic()`` value after which to stop waiting, or ``None``.

    Iteration raises:
        RuntimeJobTimeoutError: the deadline passed.
        QSessionError: the server refused the watch (e.g. OUT_OF_RANGE for a revision that is
            no longer retained: IBMInputValueError).
    """

    def __init__(
        self,
        connection: Connection,
        request: job_pb2.WatchJobsRequest,
        deadline: float | None = None,
    ):
        self._connection = connection
        self._request = job_pb2.WatchJobsRequest.FromString(request.SerializeToString())
        self._deadline = deadline
        self._lock = threading.Lock()
        self._call: grpc.Call | None = None
        self._cancelled = False

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
            self._call = self._connection.stream(
                self._connection.jobs.WatchJobs, self._request, timeout=remaining
            )
            return self._call

    def __iter__(self) -> Iterator[job_pb2.WatchJobsResponse]:
        gave_up_at: float | None = None
        delay = 0.05
        call = self._call or self._open()
        while call is not None:
            try:
                for event in call:
                    self._request.after_revision = event.revision
                    gave_up_at, delay = None, 0.05
                    if event.HasField("job"):  # else a progress notification: resume point
                        yield event
            except grpc.RpcError as exc:
                if self._cancelled:
                    return
                code = exc.code()
                if code == grpc.StatusCode.DEADLINE_EXCEEDED and self._deadline is not None:
                    raise RuntimeJobTimeoutError("timed out waiting for job events") from None
                if code not in _RESUMABLE:
                    raise self._connection.error(exc) from None
                now = time.monotonic()
                gave_up_at = gave_up_at or now + RECONNECT_WINDOW
                if now >= gave_up_at:
                    raise self._connection.error(exc) from None
            finally:
                call.cancel()
            time.sleep(delay)
            delay = min(2 * delay, 1.0)
            call = self._open()


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
    """

    revision: int
    job_id: str
    session_id: str | None
    status: str
    timestamp: datetime
    tags: tuple[str, ...]
    job: RuntimeJobV2


class JobWatch:
    """An iterator over job state changes; a context manager that ends the stream on exit.

    Iteration blocks until the next event arrives and never ends on its own; leave it with
    ``break`` or :meth:`close` (or the ``with`` block).
    """

    def __init__(self, service: RuntimeService, request: job_pb2.WatchJobsRequest):
        self._service = service
        self._stream = JobEventStream(service._connection, request)
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
            job=self._service._job_from_message(job),
        )

    def close(self) -> None:
        """End the stream; safe to call from another thread while one waits in ``next()``."""
        self._stream.cancel()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
