"""Metadata dicts <-> google.protobuf.Struct."""

from __future__ import annotations

from typing import Any

import numpy as np
from google.protobuf.struct_pb2 import Struct, Value


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


def _from_value(value: Value) -> Any:
    """A Struct ``Value`` as Python; Struct stores every number as a double, so integral
    ones are given back as ``int`` (NaN and infinities stay floats)."""
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return {key: _from_value(item) for key, item in value.struct_value.fields.items()}
    if kind == "list_value":
        return [_from_value(item) for item in value.list_value.values]
    return None


def dict_to_struct(metadata: dict[str, Any] | None) -> Struct:
    """A Struct holding ``metadata`` (numpy values converted to plain numbers and lists)."""
    struct = Struct()
    if metadata:
        struct.update(_plain(metadata))
    return struct


def struct_to_dict(struct: Struct) -> dict[str, Any]:
    """The dict a Struct holds, with integral numbers as ``int``.

    Read value by value rather than with ``json_format.MessageToDict``, which refuses NaN and
    infinities (JSON has none) and needed a second pass to restore the ints.
    """
    return {key: _from_value(value) for key, value in struct.fields.items()}
