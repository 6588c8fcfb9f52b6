"""Group commit: the store's writes happen on one thread, many changes per transaction.

A commit with ``synchronous=FULL`` waits for the disk (an fsync, milliseconds). The server's
event loop must never wait for the disk, and N changes need not cost N fsyncs: the loop hands
rows to the writer and goes on; the writer commits everything queued in one transaction and
then reports how many rows are durable. The caller publishes and acknowledges only what was
reported, in order, so "committed, then published" still holds.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from qsession.store.sqlite import ChangeRow, ResultRow, Store

log = logging.getLogger("qsession.store")

MAX_BATCH = 1000
_STOP = object()


class Writer:
    """The store's one writing thread.

    Args:
        store: where rows are written.
        on_commit: called on the writer thread after each transaction with how many of the
            oldest unreported rows it covered, and the exception if it failed (those rows are
            then not stored).
    """

    def __init__(self, store: Store, on_commit: Callable[[int, Exception | None], None]):
        self._store = store
        self._on_commit = on_commit
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
                stopping = True
                batch = [row for row in batch if row is not _STOP]
            if not batch:
                continue
            try:
                self._store.write(batch)
            except Exception as exc:  # noqa: BLE001 - reported to the caller, which decides
                log.exception("the store could not write %d rows", len(batch))
                self._on_commit(len(batch), exc)
            else:
                self._on_commit(len(batch), None)
