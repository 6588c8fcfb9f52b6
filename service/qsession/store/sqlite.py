"""The SQLite store (WAL): sessions, jobs, job inputs, results and events.

Every state change is written in one transaction together with its watch event, before the
server acknowledges it or publishes the event, so a crash at any moment leaves either the old
state or the new one. Results carry a SHA-256 checksum that is verified on every read; those
of 1 MiB or more are files beside the database, the row naming them (``result_files``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qsession.store.result_files import LARGE_RESULT_BYTES, ResultFiles

log = logging.getLogger("qsession.store")

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
CREATE INDEX IF NOT EXISTS jobs_instance_seq ON jobs (instance, seq);
CREATE INDEX IF NOT EXISTS jobs_seq ON jobs (seq);
CREATE TABLE IF NOT EXISTS results (
    job_id TEXT PRIMARY KEY,
    data   BLOB NOT NULL,
    sha256 TEXT NOT NULL,
    file   TEXT
);
CREATE TABLE IF NOT EXISTS events (
    revision INTEGER PRIMARY KEY,
    kind     TEXT NOT NULL,
    instance TEXT NOT NULL,
    time     REAL NOT NULL,
    payload  BLOB NOT NULL
);
"""


SYNCHRONOUS = {"disk": "FULL", "process": "NORMAL"}
"""SQLite's synchronous setting for each durability level of the [server] config."""


MAX_BLOB_BYTES = 900_000_000
"""The largest result a row is given: SQLite refuses strings and blobs over 1,000,000,000
bytes (its default SQLITE_MAX_LENGTH)."""


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
class ChangeRow:
    """A job's or session's new state and its watch event, to persist together.

    Attributes:
        kind: "job" or "session".
        record: the job's or session's row (a JSON-able dict with "id" and "instance").
        event: the watch event of the change.
        new_job_request: the serialized CreateJobRequest of a job seen for the first time.
    """

    kind: str
    record: dict[str, Any]
    event: StoredEvent
    new_job_request: bytes | None = None


@dataclass(frozen=True)
class ResultRow:
    """A job's serialized JobResult, to persist, with its SHA-256 if the caller already has
    it (else it is computed on write)."""

    job_id: str
    data: bytes
    sha256: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """Everything the server needs to resume after a restart.

    Attributes:
        sessions: every session record.
        jobs: the records of the jobs the scheduler still needs: unfinished ones, and the
            jobs of sessions that are not closed; finished jobs stay in the database only.
        events: the retained watch events, oldest first.
        last_revision: the newest revision used.
        last_seq: the newest job submission number used.
        usage: instance -> QPU seconds of all its jobs.
    """

    sessions: list[dict[str, Any]]
    jobs: list[dict[str, Any]]
    events: list[StoredEvent]
    last_revision: int
    last_seq: int
    usage: dict[str, float]


@dataclass(frozen=True)
class JobFilter:
    """ListJobs' filters (all combine with AND; empty or None: no filter).

    Attributes:
        session_id: only jobs of this session.
        backend: only jobs on this backend.
        states: only jobs in one of these states ("QUEUED", ...).
        tags: only jobs that carry every one of these tags.
        created_after: only jobs created at or after this time (epoch seconds).
        created_before: only jobs created before this time.
        program: only jobs of this program ("sampler" or "estimator").
        job_mode: only jobs in job mode (of no session or batch).
    """

    session_id: str | None = None
    backend: str | None = None
    states: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    created_after: float | None = None
    created_before: float | None = None
    program: str | None = None
    job_mode: bool = False

    def matches(self, record: dict[str, Any]) -> bool:
        """Whether a job's record passes the filters (as :meth:`sql` selects)."""
        created = record["created"]
        return (
            (not self.session_id or record.get("session_id") == self.session_id)
            and (not self.job_mode or not record.get("session_id"))
            and (not self.backend or record["backend"] == self.backend)
            and (not self.program or record["program"] == self.program)
            and (not self.states or record["status"] in self.states)
            and set(self.tags).issubset(record.get("tags", ()))
            and (self.created_after is None or created >= self.created_after)
            and (self.created_before is None or created < self.created_before)
        )

    def sql(self) -> tuple[str, list[Any]]:
        """The WHERE conditions (after ``instance = ?``) and their parameters."""
        where, params = [], []
        for key, value in (
            ("session_id", self.session_id),
            ("backend", self.backend),
            ("program", self.program),
        ):
            if value:
                where.append(f"json_extract(record, '$.{key}') = ?")
                params.append(value)
        if self.job_mode:
            where.append("json_extract(record, '$.session_id') IS NULL")
        if self.states:
            where.append(
                f"json_extract(record, '$.status') IN ({','.join('?' * len(self.states))})"
            )
            params.extend(self.states)
        for tag in self.tags:
            where.append("EXISTS (SELECT 1 FROM json_each(record, '$.tags') WHERE value = ?)")
            params.append(tag)
        if self.created_after is not None:
            where.append("json_extract(record, '$.created') >= ?")
            params.append(self.created_after)
        if self.created_before is not None:
            where.append("json_extract(record, '$.created') < ?")
            params.append(self.created_before)
        return "".join(f" AND {w}" for w in where), params


class MissingLog(Exception):
    """The database's write-ahead log is gone after an unclean stop: what it held is lost."""


def check_log(path: Path) -> None:
    """Refuse a database whose write-ahead log was deleted after the server stopped without
    closing it (killed, crashed, power lost). SQLite deletes the log and its shared-memory
    index together when the last connection closes; an index without its log means the log
    went missing while it may have held committed changes, acknowledged jobs among them, and
    opening the database would silently start without them.

    Raises:
        MissingLog: naming the missing file and what to do.
    """
    log = path.with_name(path.name + "-wal")
    index = path.with_name(path.name + "-shm")
    if index.exists() and not log.exists() and path.exists() and path.stat().st_size > 0:
        raise MissingLog(
            f"{log} is missing, but {index} shows the server stopped without closing the "
            "database: the changes the log held since the last checkpoint, acknowledged jobs "
            f"among them, are lost. Put {log} back (from a backup), or delete {index} to "
            f"start from what {path} holds"
        )


class Store:
    """One SQLite database file; safe to call from several threads: writes take one lock on
    one connection; reads use a connection of their own thread's, so that a long read (a
    filtered listing) never holds up another thread's (WAL lets readers run side by side)."""

    def __init__(self, path: Path, retain_events: int = 10_000, durability: str = "disk"):
        """Open (or create) the database at ``path``.

        Raises:
            MissingLog: its write-ahead log was deleted after an unclean stop.
        """
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        check_log(path)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # owner-only, as its WAL
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # "disk": a commit waits until the disk has it (survives power loss); "process": it
        # survives the server's crash or kill -9, not the machine's (no fsync per commit).
        self._db.execute(f"PRAGMA synchronous={SYNCHRONOUS[durability]}")
        self._db.executescript(SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(results)")}
        if "file" not in columns:  # a database made before large results became files
            self._db.execute("ALTER TABLE results ADD COLUMN file TEXT")
        self._lock = threading.Lock()
        self._files = ResultFiles(path.parent / "results", durable=durability == "disk")
        named = {
            name for (name,) in self._db.execute("SELECT file FROM results WHERE file IS NOT NULL")
        }
        removed = self._files.remove_orphans(named)
        if removed:
            log.warning("removed %d result files that no stored result names", removed)
        # Reads use their own connections: in WAL mode they never wait for a write's fsync.
        self._readers = threading.local()
        self._reader_connections: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._retain_events = retain_events

    def close(self) -> None:
        """Checkpoint and close the database."""
        with self._readers_lock:
            for reader in self._reader_connections:
                reader.close()
            self._reader_connections.clear()
        with self._lock:
            self._db.close()

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        reader = getattr(self._readers, "connection", None)
        if reader is None:
            reader = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            with self._readers_lock:
                self._reader_connections.append(reader)
            self._readers.connection = reader
        return reader.execute(sql, params).fetchall()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # a failed COMMIT (e.g. disk full) may leave it open
                    self._db.execute("ROLLBACK")
                raise

    def write(self, batch: Sequence[ChangeRow | ResultRow]) -> None:
        """Persist a batch in order, in ONE transaction (one fsync): each job's or session's
        new state with its watch event, and job results.

        A ``ChangeRow`` with ``new_job_request`` is a job seen for the first time: its row
        and inputs are inserted. A result stored before a change in the same batch (or an
        earlier one) is durable no later than that change.
        """
        files = {  # large results go to their files before the rows naming them commit
            row.job_id: self._files.write(row.job_id, row.data)
            for row in batch
            if isinstance(row, ResultRow) and len(row.data) >= LARGE_RESULT_BYTES
        }
        with self._transaction() as db:
            for row in batch:
                if isinstance(row, ResultRow):
                    file = files.get(row.job_id)
                    db.execute(
                        "INSERT OR REPLACE INTO results (job_id, data, sha256, file) "
                        "VALUES (?,?,?,?)",
                        (
                            row.job_id,
                            b"" if file else row.data,
                            row.sha256 or hashlib.sha256(row.data).hexdigest(),
                            file,
                        ),
                    )
                else:
                    self._write_change(db, row)

    def _write_change(self, db: sqlite3.Connection, row: ChangeRow) -> None:
        record, event = row.record, row.event
        if row.kind == "session":
            db.execute(
                "INSERT INTO sessions (id, instance, record) VALUES (?,?,?) "
                "ON CONFLICT (id) DO UPDATE SET record = excluded.record",
                (record["id"], record["instance"], json.dumps(record)),
            )
        elif row.new_job_request is not None:
            db.execute(
                "INSERT INTO jobs (id, instance, seq, request_id, record, request) "
                "VALUES (?,?,?,?,?,?)",
                (
                    record["id"],
                    record["instance"],
                    record["seq"],
                    record.get("request_id"),
                    json.dumps(record),
                    row.new_job_request,
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
                "DELETE FROM events WHERE revision <= ?", (event.revision - self._retain_events,)
            )

    def job_request(self, job_id: str) -> bytes:
        """The serialized CreateJobRequest a job was created from."""
        rows = self._read("SELECT request FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            raise KeyError(job_id)
        return rows[0][0]

    def get_result(self, job_id: str) -> tuple[bytes, str] | None:
        """A job's serialized JobResult and its SHA-256, verified; None when there is none.

        Raises:
            CorruptResult: the bytes no longer match the stored checksum.
        """
        rows = self._read("SELECT data, sha256, file FROM results WHERE job_id = ?", (job_id,))
        if not rows:
            return None
        data, digest, file = rows[0]
        if file is not None:
            data = self._files.read(file)
            if data is None:
                raise CorruptResult(
                    f"the stored result of job {job_id} is missing: its file "
                    f"{self._files.directory / file} was deleted"
                )
        if hashlib.sha256(data).hexdigest() != digest:
            raise CorruptResult(f"the stored result of job {job_id} fails its checksum")
        return data, digest

    def job(self, job_id: str) -> dict[str, Any] | None:
        """A job's record, or None."""
        rows = self._read("SELECT record FROM jobs WHERE id = ?", (job_id,))
        return json.loads(rows[0][0]) if rows else None

    def jobs_by_id(self, job_ids: Sequence[str], chunk: int = 500) -> dict[str, dict[str, Any]]:
        """The records of those of ``job_ids`` that are stored, by id (read ``chunk`` ids
        a query)."""
        found = {}
        for start in range(0, len(job_ids), chunk):
            ids = job_ids[start : start + chunk]
            marks = ", ".join("?" * len(ids))
            for job_id, record in self._read(
                f"SELECT id, record FROM jobs WHERE id IN ({marks})", tuple(ids)
            ):
                found[job_id] = json.loads(record)
        return found

    def job_for_request(self, instance: str, request_id: str) -> dict[str, Any] | None:
        """The record of the job ``instance`` created with ``request_id``, or None."""
        rows = self._read(
            "SELECT record FROM jobs WHERE instance = ? AND request_id = ?", (instance, request_id)
        )
        return json.loads(rows[0][0]) if rows else None

    def list_jobs(
        self,
        instance: str,
        where: JobFilter,
        start_seq: int | None,
        limit: int,
        oldest_first: bool = False,
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` records of ``instance``'s jobs that match ``where``, newest first
        (``oldest_first``: in submission order), after ``start_seq`` in that order (the
        keyset: the seq of the previous page's last job; None: the first page). Read along
        the ``(instance, seq)`` index in either direction from the keyset on: no row before
        it is read."""
        conditions, params = where.sql()
        if start_seq is not None:
            conditions += " AND seq > ?" if oldest_first else " AND seq < ?"
            params.append(start_seq)
        order = "ASC" if oldest_first else "DESC"
        rows = self._read(
            f"SELECT record FROM jobs WHERE instance = ?{conditions} "  # noqa: S608 - fixed SQL
            f"ORDER BY seq {order} LIMIT ?",
            (instance, *params, limit),
        )
        return [json.loads(r) for (r,) in rows]

    def count_jobs(self, instance: str, where: JobFilter) -> int:
        """How many of ``instance``'s jobs match ``where`` (counted in SQLite)."""
        conditions, params = where.sql()
        rows = self._read(
            f"SELECT COUNT(*) FROM jobs WHERE instance = ?{conditions}",  # noqa: S608 - fixed SQL
            (instance, *params),
        )
        return int(rows[0][0])

    def prune(
        self, finished_before: float | None, keep_newest: int | None, batch: int = 500
    ) -> int:
        """Delete finished jobs (their rows, requests and results), oldest first: each
        instance's beyond its newest ``keep_newest`` jobs (one instance's volume never prunes
        another's history), and those that finished before ``finished_before`` (epoch
        seconds). Unfinished jobs are never deleted. Works in batches, each its own
        transaction, so other calls wait at most one batch.

        Returns:
            How many jobs were deleted.
        """
        deleted = 0
        while keep_newest is not None:
            over = self._read(
                "SELECT instance, COUNT(*) FROM jobs GROUP BY instance HAVING COUNT(*) > ?",
                (keep_newest,),
            )
            removed = 0
            for instance, total in over:
                removed += self._delete_oldest_finished(
                    " AND instance = ?", (instance,), min(batch, total - keep_newest)
                )
            deleted += removed
            if removed == 0:
                break  # what is left beyond the count is unfinished
        while finished_before is not None:
            removed = self._delete_oldest_finished(
                " AND json_extract(record, '$.finished') < ?", (finished_before,), batch
            )
            deleted += removed
            if removed < batch:
                break
        return deleted

    def delete_job(self, job_id: str) -> None:
        """Delete a finished job: its row, request and result (its watch events stay)."""
        with self._transaction() as db:
            files = _files_of(db, [job_id])
            db.execute("DELETE FROM results WHERE job_id = ?", (job_id,))
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        self._files.delete(files)

    def delete_result(self, job_id: str) -> None:
        """Delete a job's result (a private job's, once read)."""
        with self._transaction() as db:
            files = _files_of(db, [job_id])
            db.execute("DELETE FROM results WHERE job_id = ?", (job_id,))
        self._files.delete(files)

    def delete_sessions(self, session_ids: Sequence[str], batch: int = 500) -> None:
        """Delete sessions (closed ones retention dropped), in batches of ``batch``."""
        for start in range(0, len(session_ids), batch):
            with self._transaction() as db:
                db.executemany(
                    "DELETE FROM sessions WHERE id = ?",
                    [(i,) for i in session_ids[start : start + batch]],
                )

    def _delete_oldest_finished(self, condition: str, params: tuple, limit: int) -> int:
        with self._transaction() as db:
            ids = [
                (job_id,)
                for (job_id,) in db.execute(
                    "SELECT id FROM jobs WHERE json_extract(record, '$.status') IN "
                    f"('DONE', 'ERROR', 'CANCELLED'){condition} ORDER BY seq LIMIT ?",
                    (*params, limit),
                )
            ]
            files = _files_of(db, [job_id for (job_id,) in ids])
            db.executemany("DELETE FROM results WHERE job_id = ?", ids)
            db.executemany("DELETE FROM jobs WHERE id = ?", ids)
        self._files.delete(files)
        return len(ids)

    def usage_since(self, since: float) -> list[tuple[str, float, float]]:
        """(instance, finished at, usage) of every job that finished at or after ``since``
        and used QPU time, oldest first: the fair-share window after a restart."""
        with self._lock:
            return list(
                self._db.execute(
                    "SELECT instance, json_extract(record, '$.finished') AS f, "
                    "json_extract(record, '$.usage') FROM jobs WHERE f >= ? AND "
                    "json_extract(record, '$.usage') > 0 ORDER BY f",
                    (since,),
                )
            )

    def snapshot(self) -> Snapshot:
        """What a restart needs (see :class:`Snapshot`)."""
        with self._lock:
            sessions = [json.loads(r) for (r,) in self._db.execute("SELECT record FROM sessions")]
            jobs = [
                json.loads(r)
                for (r,) in self._db.execute(
                    "SELECT record FROM jobs WHERE json_extract(record, '$.status') IN "
                    "('QUEUED', 'RUNNING') OR json_extract(record, '$.session_id') IN "
                    "(SELECT id FROM sessions WHERE json_extract(record, '$.state') != 'closed') "
                    "ORDER BY seq"
                )
            ]
            usage = dict(
                self._db.execute(
                    "SELECT instance, SUM(json_extract(record, '$.usage')) FROM jobs "
                    "GROUP BY instance"
                )
            )
            (last_seq,) = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM jobs").fetchone()
            events = [
                StoredEvent(*row)
                for row in self._db.execute(
                    "SELECT revision, kind, instance, time, payload FROM events ORDER BY revision"
                )
            ]
        last = events[-1].revision if events else 0
        return Snapshot(
            sessions=sessions,
            jobs=jobs,
            events=events,
            last_revision=last,
            last_seq=last_seq,
            usage=usage,
        )


def _files_of(db: sqlite3.Connection, job_ids: Sequence[str]) -> list[str]:
    """The result files of ``job_ids`` (to remove once their rows' deletion commits)."""
    files: list[str] = []
    for start in range(0, len(job_ids), 500):
        chunk = job_ids[start : start + 500]
        files += [
            name
            for (name,) in db.execute(
                f"SELECT file FROM results WHERE file IS NOT NULL AND job_id IN "
                f"({','.join('?' * len(chunk))})",
                chunk,
            )
        ]
    return files
