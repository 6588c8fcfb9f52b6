"""Unix seconds <-> google.protobuf.Timestamp, and a Timestamp as ISO 8601 text."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp


def to_timestamp(seconds: float) -> Timestamp:
    """A Timestamp for ``seconds`` since the Unix epoch (microsecond resolution)."""
    stamp = Timestamp()
    micros = round(seconds * 1_000_000)
    stamp.seconds, rest = divmod(micros, 1_000_000)
    stamp.nanos = rest * 1000
    return stamp


def from_timestamp(stamp: Timestamp) -> float:
    """Seconds since the Unix epoch of a Timestamp."""
    return stamp.seconds + stamp.nanos / 1e9


def to_datetime(stamp: Timestamp) -> datetime:
    """The UTC datetime of a Timestamp."""
    return datetime.fromtimestamp(from_timestamp(stamp), tz=UTC)


def iso(stamp: Timestamp, timespec: str = "auto") -> str | None:
    """ISO 8601 UTC text (``2026-01-15T07:53:15.123456Z``) of a set Timestamp, else ``None``;
    ``timespec`` as ``datetime.isoformat`` takes it."""
    if not stamp.ByteSize():
        return None
    return to_datetime(stamp).isoformat(timespec=timespec).replace("+00:00", "Z")
