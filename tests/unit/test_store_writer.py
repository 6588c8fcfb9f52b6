"""The store's writer keeps a batch's good rows when one row cannot be written.

A row SQLite refuses for what it holds (here a result over the connection's length limit,
lowered on a real SQLite file so that a small value is "too big", as a 1 GB value is at the
default limit) is a bug in that row, not a storage fault: the batch is written again one row
per transaction, the other rows are stored, and only the bad row is reported."""

from __future__ import annotations

import sqlite3
import threading
import time

from qsession.store.sqlite import ChangeRow, ResultRow, Store, StoredEvent
from qsession.store.writer import Writer

LIMIT = 10_000


def new_job(job_id: str, revision: int) -> ChangeRow:
    record = {"id": job_id, "instance": "lab", "seq": revision, "status": "QUEUED"}
    event = StoredEvent(revision=revision, kind="job", instance="lab", time=0.0, payload=b"e")
    return ChangeRow("job", record, event, new_job_request=b"request")


class HeldStore(Store):
    """A real store whose first write waits until ``release`` is set, so that the rows put
    meanwhile make one batch."""

    def __init__(self, path) -> None:
        super().__init__(path)
        self.release = threading.Event()

    def write(self, batch) -> None:
        self.release.wait(30)
        super().write(batch)


def test_a_row_the_store_refuses_fails_alone_and_the_rest_of_its_batch_is_stored(tmp_path):
    store = HeldStore(tmp_path / "q.db")
    store._db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, LIMIT)
    reports: list[tuple[int, dict[int, Exception]]] = []
    done = threading.Event()

    def on_commit(count: int, failed: dict[int, Exception]) -> None:
        reports.append((count, failed))
        if sum(c for c, _ in reports) == 5:
            done.set()

    writer = Writer(store, on_commit)
    try:
        writer.put(new_job("first", 0))  # its write waits: the next four make one batch
        for row in (
            new_job("a", 1),
            ResultRow("a", b"x" * (2 * LIMIT)),
            new_job("b", 2),
            ResultRow("b", b"small"),
        ):
            writer.put(row)
        store.release.set()
        assert done.wait(30)
    finally:
        writer.close()
    failed, offset = {}, 0  # position in all rows put -> (exception, rows in its batch)
    for count, batch in reports:
        failed.update({offset + p: (exc, count) for p, exc in batch.items()})
        offset += count
    assert list(failed) == [2]
    exc, batch_size = failed[2]
    assert "too big" in str(exc)
    assert batch_size >= 3  # it shared its batch with b's rows at least, which were stored
    assert store.job("a") is not None and store.job("b") is not None
    assert store.get_result("a") is None
    assert store.get_result("b")[0] == b"small"
    store.close()


def test_a_long_read_on_one_thread_does_not_hold_up_another_threads_read(tmp_path):
    """Reads use one connection per thread: while one thread runs a long query (a listing
    over a large history, here a recursive count), another thread's lookup is answered
    before it ends."""
    store = Store(tmp_path / "q.db")
    long_query = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000000) "
        "SELECT count(*) FROM c"
    )
    finished: list[str] = []
    started = threading.Event()

    def long_read() -> None:
        started.set()
        store._read(long_query)
        finished.append("long")

    reader = threading.Thread(target=long_read)
    reader.start()
    started.wait()
    time.sleep(0.2)  # the long query is under way
    assert store.job("missing") is None
    finished.append("lookup")
    reader.join()
    assert finished == ["lookup", "long"]
    store.close()
