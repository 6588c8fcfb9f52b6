"""Results of 1 MiB or more are files beside the database; the row names the file and keeps
the checksum. Read back whole, verified, deleted with their job, and never left behind."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from qsession.store.result_files import LARGE_RESULT_BYTES
from qsession.store.sqlite import ChangeRow, CorruptResult, ResultRow, Store, StoredEvent

BIG = bytes(range(256)) * (LARGE_RESULT_BYTES // 256 + 1)


def finished_job(job_id: str, seq: int) -> ChangeRow:
    record = {"id": job_id, "instance": "lab", "seq": seq, "status": "DONE", "created": 0.0}
    event = StoredEvent(revision=seq, kind="job", instance="lab", time=0.0, payload=b"e")
    return ChangeRow("job", record, event, new_job_request=b"request")


def row_of(path, job_id: str) -> tuple[int, str | None]:
    """The result row's inline bytes and file name, read from the database file itself."""
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT length(data), file FROM results WHERE job_id = ?", (job_id,)
        ).fetchone()


def test_a_large_result_is_a_file_and_a_small_one_stays_in_its_row(tmp_path):
    store = Store(tmp_path / "q.db")
    store.write([finished_job("big", 1), ResultRow("big", BIG)])
    store.write([finished_job("small", 2), ResultRow("small", b"counts")])
    assert store.get_result("big")[0] == BIG
    assert store.get_result("small")[0] == b"counts"
    store.close()
    assert row_of(tmp_path / "q.db", "big") == (0, "big.result")
    assert row_of(tmp_path / "q.db", "small") == (6, None)
    assert (tmp_path / "results" / "big.result").read_bytes() == BIG


def test_a_damaged_or_missing_result_file_is_reported_never_returned(tmp_path):
    store = Store(tmp_path / "q.db")
    store.write([finished_job("big", 1), ResultRow("big", BIG)])
    file = tmp_path / "results" / "big.result"
    file.write_bytes(BIG[:-1] + b"!")
    with pytest.raises(CorruptResult, match="checksum"):
        store.get_result("big")
    file.unlink()
    with pytest.raises(CorruptResult, match="big.result was deleted"):
        store.get_result("big")
    store.close()


def test_deleting_or_pruning_jobs_removes_their_result_files(tmp_path):
    store = Store(tmp_path / "q.db")
    for seq, job_id in enumerate(("a", "b", "c"), start=1):
        store.write([finished_job(job_id, seq), ResultRow(job_id, BIG)])
    store.delete_job("a")
    store.delete_result("b")
    assert store.prune(finished_before=None, keep_newest=0) == 2  # b and c
    assert list((tmp_path / "results").iterdir()) == []
    store.close()


def test_a_result_file_no_row_names_is_removed_when_the_store_opens(tmp_path):
    """A crash after a file was written but before its row committed leaves the file alone:
    the next start removes it, and keeps the files rows name."""
    store = Store(tmp_path / "q.db")
    store.write([finished_job("kept", 1), ResultRow("kept", BIG)])
    store.close()
    results = tmp_path / "results"
    (results / "never-committed.result").write_bytes(BIG)
    (results / "half-written.tmp").write_bytes(b"x")
    store = Store(tmp_path / "q.db")
    assert sorted(p.name for p in results.iterdir()) == ["kept.result"]
    assert store.get_result("kept")[0] == BIG
    store.close()


def test_a_database_from_before_result_files_gains_the_column_and_reads_as_before(tmp_path):
    with sqlite3.connect(tmp_path / "q.db") as db:
        db.execute(
            "CREATE TABLE results (job_id TEXT PRIMARY KEY, data BLOB NOT NULL, "
            "sha256 TEXT NOT NULL)"
        )
        digest = hashlib.sha256(b"data").hexdigest()
        db.execute("INSERT INTO results VALUES (?,?,?)", ("old", b"data", digest))
    store = Store(tmp_path / "q.db")
    assert store.get_result("old")[0] == b"data"
    store.close()
