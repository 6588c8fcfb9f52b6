"""Workloads: an instance's sessions, batches and job-mode jobs in one newest-first listing,
as the Workloads page and IBM's ``GET /workloads`` show them (rows as JSON-ready dicts, times
in unix seconds).

Sessions come from memory (``Runtime.list_sessions``); job-mode jobs from the store, read a
keyset page at a time (``Runtime.list_jobs``) until the page is filled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from qsession.lifecycle.errors import InvalidArgument
from qsession.lifecycle.model import Session, SessionMode, SessionState
from qsession.runtime.facade import Runtime
from qsession.store.sqlite import JobFilter
from qsession.v1 import job_pb2
from qsession.wire import from_timestamp
from qsession.wire.states import JOB_STATUSES, PROGRAM_NAMES

JOB_STATES = ("QUEUED", "RUNNING", "DONE", "ERROR", "CANCELLED")
SESSION_STATES = tuple(state.value for state in SessionState)
MODES = ("session", "batch", "job")
MAX_PAGE_SIZE = 200
SCAN_PAGE = 500  # jobs read per store query while looking for job-mode jobs


@dataclass(frozen=True)
class WorkloadFilter:
    """The Workloads table's filters (all combine with AND; empty or None: any).

    Attributes:
        statuses: only workloads in one of these states (a job's or a session's).
        modes: only these modes ("session", "batch", "job").
        backend: only workloads on this backend.
        tags: only job-mode jobs carrying every one of these tags, and sessions with a job
            carrying every one.
        created_after: only workloads created at or after this time (unix seconds).
        created_before: only workloads created before this time.
    """

    statuses: tuple[str, ...] = ()
    modes: tuple[str, ...] = ()
    backend: str = ""
    tags: tuple[str, ...] = ()
    created_after: float | None = None
    created_before: float | None = None

    def __post_init__(self) -> None:
        for status in self.statuses:
            if status not in (*JOB_STATES, *SESSION_STATES):
                raise InvalidArgument(
                    f"status: use one of {', '.join(JOB_STATES + SESSION_STATES)}",
                    field="status",
                )
        for mode in self.modes:
            if mode not in MODES:
                raise InvalidArgument(f"mode: use one of {', '.join(MODES)}", field="mode")

    @property
    def sessions_wanted(self) -> bool:
        return (not self.modes or "job" not in self.modes or len(self.modes) > 1) and (
            not self.statuses or any(s in SESSION_STATES for s in self.statuses)
        )

    @property
    def jobs_wanted(self) -> bool:
        return (not self.modes or "job" in self.modes) and (
            not self.statuses or any(s in JOB_STATES for s in self.statuses)
        )

    def job_filter(self) -> JobFilter:
        """The store's filter of the job-mode jobs this selects."""
        return JobFilter(
            backend=self.backend or None,
            states=tuple(s for s in self.statuses if s in JOB_STATES),
            tags=self.tags,
            created_after=self.created_after,
            created_before=self.created_before,
            job_mode=True,
        )


def stamp_seconds(stamp: Timestamp) -> float | None:
    """A Timestamp field as unix seconds, None when unset."""
    return from_timestamp(stamp) if stamp.ByteSize() else None


def job_row(message: job_pb2.Job) -> dict[str, Any]:
    """A job as the tables show it."""
    return {
        "id": message.id,
        "kind": "job",
        "mode": "job",
        "program": PROGRAM_NAMES[message.program].value,
        "backend": message.backend,
        "session_id": message.session_id or None,
        "status": JOB_STATUSES[message.state].value,
        "created": stamp_seconds(message.create_time),
        "started": stamp_seconds(message.start_time),
        "ended": stamp_seconds(message.end_time),
        "usage": message.usage_seconds,
        "tags": list(message.tags),
        "error": message.error_message or None,
    }


def session_row(session: Session, now: float) -> dict[str, Any]:
    """A session or batch as the Workloads table shows it."""
    return {
        "id": session.id,
        "kind": "session",
        "mode": "session" if session.mode is SessionMode.DEDICATED else "batch",
        "backend": session.backend,
        "status": session.state.value,
        "created": session.created,
        "ended": session.closed_at,
        "usage": session.usage_at(now),
        "tags": [],
        "accepting_jobs": session.accepting_jobs,
    }


async def list_workloads(
    runtime: Runtime,
    instance: str,
    where: WorkloadFilter,
    offset: int,
    size: int,
    *,
    oldest_first: bool = False,
    count: bool = False,
) -> dict[str, Any]:
    """One page of the Workloads table: sessions, batches and job-mode jobs, newest first
    (``oldest_first``: the other way round).

    Sessions come from memory; job-mode jobs from the store, newest first, a keyset page at a
    time, as many as the page needs. ``count``: also give ``total``, the number of workloads
    that match (one COUNT in the store); oldest first always counts, to find where its page
    starts.
    """
    if not 1 <= size <= MAX_PAGE_SIZE or offset < 0:
        raise InvalidArgument(
            f"page_size: 1 to {MAX_PAGE_SIZE}; offset: not negative", field="page_size"
        )
    now = runtime.now()
    sessions = await _sessions(runtime, instance, where, now)
    total = None
    if count or oldest_first:
        jobs = await runtime.count_jobs(instance, where.job_filter()) if where.jobs_wanted else 0
        total = len(sessions) + jobs
    # The page as rows [first, last) of the newest-first listing.
    if oldest_first:
        assert total is not None
        first, last = max(0, total - offset - size), max(0, total - offset)
    else:
        first, last = offset, offset + size
    rows = list(sessions)
    if where.jobs_wanted:
        rows.extend(await _job_mode_jobs(runtime, instance, where, last + 1))
    rows.sort(key=lambda row: (row["created"], row["id"]), reverse=True)
    page = rows[first:last]
    more = first > 0 if oldest_first else len(rows) > last
    if oldest_first:
        page.reverse()
    listing: dict[str, Any] = {"rows": page, "offset": offset, "more": more}
    if total is not None:
        listing["total"] = total
    return listing


async def _sessions(
    runtime: Runtime, instance: str, where: WorkloadFilter, now: float
) -> list[dict[str, Any]]:
    """The instance's sessions and batches that pass the filters, as rows."""
    if not where.sessions_wanted:
        return []
    tagged = await _sessions_with_tags(runtime, instance, where.tags) if where.tags else None
    sessions, _ = await runtime.list_sessions(instance)
    rows = []
    for session in sessions:
        row = session_row(session, now)
        if _keeps(row, where) and (tagged is None or session.id in tagged):
            rows.append(row)
    return rows


def _keeps(row: dict[str, Any], where: WorkloadFilter) -> bool:
    return (
        (not where.modes or row["mode"] in where.modes)
        and (not where.statuses or row["status"] in where.statuses)
        and (not where.backend or row["backend"] == where.backend)
        and (where.created_after is None or row["created"] >= where.created_after)
        and (where.created_before is None or row["created"] < where.created_before)
    )


async def _sessions_with_tags(runtime: Runtime, instance: str, tags: tuple[str, ...]) -> set[str]:
    page, _ = await runtime.list_jobs(instance, JobFilter(tags=tags), None, 10 * SCAN_PAGE)
    return {message.session_id for _, message in page if message.session_id}


async def _job_mode_jobs(
    runtime: Runtime, instance: str, where: WorkloadFilter, wanted: int
) -> list[dict[str, Any]]:
    """Up to ``wanted`` of the newest job-mode jobs (no session) that pass the filters."""
    store_filter = where.job_filter()
    found: list[dict[str, Any]] = []
    before = None
    while len(found) < wanted:
        limit = min(SCAN_PAGE, wanted - len(found))
        page, _ = await runtime.list_jobs(instance, store_filter, before, limit)
        found.extend(job_row(message) for _, message in page)
        if len(page) < limit:
            break
        before = page[-1][0]
    return found
