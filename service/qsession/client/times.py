"""Protobuf timestamps as the SDK reports them: UTC datetimes and ISO 8601 text."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from qsession.wire.times import to_datetime

utc = to_datetime


def iso(stamp: Timestamp) -> str | None:
    """ISO 8601 UTC text (``2026-01-15T07:53:15.123456Z``) of a set Timestamp, else ``None``."""
    return utc(stamp).isoformat().replace("+00:00", "Z") if stamp.ByteSize() else None
