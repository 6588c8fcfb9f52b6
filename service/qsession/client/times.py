"""Protobuf timestamps as the SDK reports them: UTC datetimes and ISO 8601 text."""

from __future__ import annotations

from qsession.wire.times import iso, to_datetime

utc = to_datetime

__all__ = ["iso", "utc"]
