"""Group commit: the store's writes happen on one thread, many changes per transaction.

A commit with ``synchronous=FULL`` waits for the disk (an fsync, milliseconds). The server's
event loop must never wait for the disk, and N changes need not cost N fsyncs: the loop hands
rows to the writer and goes on; the writer commits everything queued in one transaction and
then reports how many rows are durable. The caller publishes and acknowledges only what was
reported, in order, so "committed, then published" still holds.

A commit the disk refuses (full, read-only, an I/O error: ``sqlite3.OperationalError`` or
``OSError``) is rolled back and tried again with backoff until it succeeds: nothing is dropped
and nothing is reported as stored before it is. The writer reports the fault once when it
starts and once when it ends, so the server can refuse new changes and report itself not
serving meanwhile. Any other failure is a bug in one row (a value SQLite cannot hold, say):
the batch is then written again one row per transaction, so that the rows that can be stored
are, and only the failing rows are reported, each with its exception; a bad row never takes
the other changes of its batch with it.
"""

from __future__ import annotations

import errno
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable

from qsession.store.sqlite import ChangeRow, ResultRow, Store

log = logging.getLogger("qsession.store")

MAX_BATCH = 1000
_STOP = object()

RETRY_FIRST = 0.05
RETRY_MAX = 1.0
"""Backoff between attempts at a commit the disk refused, in seconds."""

GIVE_UP_WHEN_STOPPING = 5.0
"""At shutdown, how long a refused commit is retried before its rows are abandoned (they were
never acknowledged: the jobs they concern keep their stored state and run again)."""


def storage_fault(exc: BaseException, where: str) -> str | None:
    """What an operator should read for a write the disk refused, or ``None`` if ``exc`` is
    not a storage fault (a bug)."""
    full = "database or disk is full" in str(exc) or getattr(exc, "errno", None) == errno.ENOSPC
    if full:
        return f"the data directory's disk is full ({where}); free space there"
    if isinstance(exc, sqlite3.OperationalError | OSError):
        return f"the data directory cannot be written ({where}): {exc}"
    return None


def _describe(row: ChangeRow | ResultRow) -> str:
    if isinstance(row, ResultRow):
        return f"the result of job {row.job_id} ({len(row.data)} bytes)"
    return f"a change of {row.kind} {row.record.get('id')}"


class Writer:
    """The store's one writing thread.

    Args:
        store: where rows are written.
        on_commit: called on the writer thread after each batch with how many of the oldest
            unreported rows it covered, and the rows that failed with a bug (their positions in
            the batch -> the exception; those rows alone are not stored).
        on_fault: called on the writer thread with the operator's reason when the disk starts
            refusing commits, and with ``None`` when a commit succeeds again.
    """

    def __init__(
        self,
        store: Store,
        on_commit: Callable[[int, dict[int, Exception]], None],
        on_fault: Callable[[str | None], None] = lambda reason: None,
    ):
        self._store = store
        self._on_commit = on_commit
        self._on_fault = on_fault
        self._stopping = False
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="qsession-store-writer")
        self._thread.start()

    def put(self, row: ChangeRow | ResultRow) -> None:
        """Queue a row; it is written after every row queued before it."""
        self._queue.put(row)

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if _STOP in batch:
                stopping = self._stopping = True
                batch = [row for row in batch if row is not _STOP]
            if not batch:
                continue
            try:
                stored = self._write_through_faults(batch)
            except Exception:  # noqa: BLE001 - a bad row: find it, store the others
                log.exception("the store could not write a batch of %d rows", len(batch))
                self._on_commit(len(batch), self._write_each(batch))
            else:
                if stored:
                    self._on_commit(len(batch), {})

    def _write_each(self, batch: list) -> dict[int, Exception]:
        """Write ``batch`` one row per transaction, in order; the rows that failed (position
        -> exception)."""
        failed: dict[int, Exception] = {}
        for position, row in enumerate(batch):
            try:
                self._write_through_faults([row])
            except Exception as exc:  # noqa: BLE001 - reported with its row
                log.error("the store could not write %s: %s", _describe(row), exc)
                failed[position] = exc
        return failed

    def _write_through_faults(self, batch: list) -> bool:
        """Write ``batch``, retrying while the disk refuses it; ``False`` if abandoned at
        shutdown. Raises what is not a storage fault."""
        delay, fault, since = RETRY_FIRST, None, time.monotonic()
        while True:
            try:
                self._store.write(batch)
            except Exception as exc:
                reason = storage_fault(exc, str(self._store.path.parent))
                if reason is None:
                    raise
                if fault is None:
                    log.error("%s: %d changes wait to be stored (retrying)", reason, len(batch))
                    self._on_fault(reason)
                fault = reason
                if self._stopping and time.monotonic() - since > GIVE_UP_WHEN_STOPPING:
                    log.error(
                        "shutting down: %d unacknowledged changes were not stored", len(batch)
                    )
                    return False
                time.sleep(delay)
                delay = min(2 * delay, RETRY_MAX)
                continue
            if fault is not None:
                log.warning("the store writes again after %.1f s", time.monotonic() - since)
                self._on_fault(None)
            return True
