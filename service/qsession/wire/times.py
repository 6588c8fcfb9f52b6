"""Unix seconds <-> google.protobuf.Timestamp."""

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
