"""Large results as files beside the database, the database row holding only their name and
checksum.

A result of LARGE_RESULT_BYTES or more does not go into SQLite's row: written there it would
pass through the write-ahead log (written twice, checkpointed, kept in the log until then)
and every read of it would hold a read transaction for its whole length. It is written to
``<data dir>/results/<job id>.result`` first (a temporary name, flushed to the disk when the
store's durability is "disk", then renamed), and only then is the row that names it
committed: a committed row never names a file that is not whole. A file no row names (its
commit never happened, or its row was deleted before the file was) is removed when the store
opens.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

LARGE_RESULT_BYTES = 1 << 20
"""Results of at least this many bytes are stored as files."""
SUFFIX = ".result"
_JOB_ID = re.compile(r"^[0-9A-Za-z_-]{1,128}$")  # ids the server makes: UUIDs


class ResultFiles:
    """The directory of large results.

    Args:
        directory: where the files are (made if missing, owner-only).
        durable: flush each file and the directory to the disk before its row commits.
    """

    def __init__(self, directory: Path, durable: bool):
        self.directory = directory
        self.durable = durable
        directory.mkdir(mode=0o700, exist_ok=True)

    def name_for(self, job_id: str) -> str:
        """The file name of a job's result.

        Raises:
            ValueError: an id that is not a plain name (never made by the server).
        """
        if not _JOB_ID.match(job_id):
            raise ValueError(f"job id {job_id!r} cannot name a result file")
        return job_id + SUFFIX

    def write(self, job_id: str, data: bytes) -> str:
        """Write a job's result whole (replacing any earlier one); its file name."""
        name = self.name_for(job_id)
        final = self.directory / name
        temporary = final.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
            if self.durable:
                os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, final)
        if self.durable:
            self._sync_directory()
        return name

    def read(self, name: str) -> bytes | None:
        """A result file's bytes; None when it is missing."""
        try:
            return (self.directory / name).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, names: Iterable[str]) -> None:
        """Remove result files (those already gone are skipped)."""
        for name in names:
            try:
                (self.directory / name).unlink()
            except FileNotFoundError:
                pass

    def remove_orphans(self, named: set[str]) -> int:
        """Remove the files no row names (and unfinished temporaries); how many."""
        orphans = [
            entry.name
            for entry in os.scandir(self.directory)
            if entry.name not in named
            and (entry.name.endswith(SUFFIX) or entry.name.endswith(".tmp"))
        ]
        self.delete(orphans)
        return len(orphans)

    def _sync_directory(self) -> None:
        descriptor = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
