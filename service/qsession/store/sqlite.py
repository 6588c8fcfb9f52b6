"""The SQLite store (WAL, synchronous=FULL): sessions, jobs, job inputs, results and events.

Every state change is written in one transaction together with its watch event, before the
server acknowledges it or publishes the event, so a crash at any moment leaves either the old
state or the new one. Results carry a SHA-256 checksum that is verified on every read.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id       TEXT PRIMARY KEY,
    instance TEXT NOT NULL,
    record   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id         TEXT PRIMARY KEY,
    instance   TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    request_id TEXT,
    record     TEXT NOT NULL,
    request    BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_request_id ON jobs (instance, request_id)
    WHERE request_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS results (
    job_id TEXT PRIMARY KEY,
    data   BLOB NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    revision INTEGER PRIMARY KEY,
    kind     TEXT NOT NULL,
    instance TEXT NOT NULL,
    time     REAL NOT NULL,
    payload  BLOB NOT NULL
);
"""


class CorruptResult(RuntimeError):
    """A stored result whose checksum does not match its bytes."""


@dataclass(frozen=True)
class StoredEvent:
    """A persisted watch event: its revision, kind ("job" | "session"), owner and payload."""

    revision: int
    kind: str
    instance: str
    time: float
    payload: bytes


@dataclass(frozen=True)
class Snapshot:
    """Everything the server needs to resume after a restart."""

    sessions: list[dict[str, Any]]
    jobs: list[dict[str, Any]]
    events: list[StoredEvent]
    last_revision: int


class Store:
    """One SQLite database file; safe to call from several threads (one lock, one connection)."""

    def __init__(self, path: Path, retain_events: int = 10_000):
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # owner-only, as its WAL
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._retain_events = retain_events

    def close(self) -> None:
        """Checkpoint and close the database."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def record_change(
        self,
        kind: str,
        record: dict[str, Any],
        event: StoredEvent,
        new_job_request: bytes | None = None,
    ) -> None:
        """Persist a job's or session's new state together with its watch event, atomically.

        ``new_job_request`` is the serialized CreateJobRequest of a job seen for the first time:
        the job row, its inputs and its first event are committed in one transaction.
        """
        with self._transaction() as db:
            if kind == "session":
                db.execute(
                    "INSERT INTO sessions (id, instance, record) VALUES (?,?,?) "
                    "ON CONFLICT (id) DO UPDATE SET record = excluded.record",
                    (record["id"], record["instance"], json.dumps(record)),
                )
            elif new_job_request is not None:
                db.execute(
                    "INSERT INTO jobs (id, instance, seq, request_id, record, request) "
                    "VALUES (?,?,?,?,?,?)",
                    (
                        record["id"],
                        record["instance"],
                        record["seq"],
                        record.get("request_id"),
                        json.dumps(record),
                        new_job_request,
                    ),
                )
            else:
                db.execute(
                    "UPDATE jobs SET record = ? WHERE id = ?", (json.dumps(record), record["id"])
                )
            db.execute(
                "INSERT INTO events (revision, kind, instance, time, payload) VALUES (?,?,?,?,?)",
                (event.revision, event.kind, event.instance, event.time, event.payload),
            )
            if event.revision % 1000 == 0:
                db.execute(
                    "DELETE FROM events WHERE revision <= ?",
                    (event.revision - self._retain_events,),
                )

    def job_request(self, job_id: str) -> bytes:
        """The serialized CreateJobRequest a job was created from."""
        with self._lock:
            row = self._db.execute("SELECT request FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(job_id)
        return row[0]

    def put_result(self, job_id: str, data: bytes) -> str:
        """Store a job's serialized JobResult; return its hex SHA-256."""
        digest = hashlib.sha256(data).hexdigest()
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO results (job_id, data, sha256) VALUES (?,?,?)",
                (job_id, data, digest),
            )
        return digest

    def get_result(self, job_id: str) -> tuple[bytes, str] | None:
        """A job's serialized JobResult and its SHA-256, verified; None when there is none.

        Raises:
            CorruptResult: the bytes no longer match the stored checksum.
        """
        with self._lock:
            row = self._db.execute(
                "SELECT data, sha256 FROM results WHERE job_id = ?", (job_id,)
            ).fetchone()
        if row is None:
            return None
        data, digest = row
        if hashlib.sha256(data).hexdigest() != digest:
            raise CorruptResult(f"the stored result of job {job_id} fails its checksum")
        return data, digest

    def snapshot(self) -> Snapshot:
        """Every session and job record, the retained events, and the last revision used."""
        with self._lock:
            sessions = [json.loads(r) for (r,) in self._db.execute("SELECT record FROM sessions")]
            jobs = [
                json.loads(r) for (r,) in self._db.execute("SELECT record FROM jobs ORDER BY seq")
            ]
            events = [
                StoredEvent(*row)
                for row in self._db.execute(
                    "SELECT revision, kind, instance, time, payload FROM events ORDER BY revision"
                )
            ]
        last = events[-1].revision if events else 0
        return Snapshot(sessions=sessions, jobs=jobs, events=events, last_revision=last)
