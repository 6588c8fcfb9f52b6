"""Metadata dicts <-> google.protobuf.Struct."""

from __future__ import annotations

from typing import Any

import numpy as np
from google.protobuf.json_format import MessageToDict
from google.protobuf.struct_pb2 import Struct


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays, tuples and non-str keys made JSON-like."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _restore_ints(value: Any) -> Any:
    """Struct stores every number as a double: give integral ones back as ``int``."""
    if isinstance(value, dict):
        return {k: _restore_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore_ints(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def dict_to_struct(metadata: dict[str, Any] | None) -> Struct:
    """A Struct holding ``metadata`` (numpy values converted to plain numbers and lists)."""
    struct = Struct()
    if metadata:
        struct.update(_plain(metadata))
    return struct


def struct_to_dict(struct: Struct) -> dict[str, Any]:
    """The dict a Struct holds, with integral numbers as ``int``."""
    return _restore_ints(MessageToDict(struct))
