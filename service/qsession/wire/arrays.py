"""Float64 arrays and packed bit arrays on the wire."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from qiskit.primitives import BitArray

from qsession.v1 import types_pb2
from qsession.wire.errors import WireError


def encode_float64(array: np.typing.ArrayLike) -> types_pb2.Float64Array:
    """Little-endian float64 bytes (C order) and the shape of ``array``, 0-d included."""
    values = np.asarray(array, dtype="<f8", order="C")  # ascontiguousarray makes 0-d 1-d
    return types_pb2.Float64Array(data=values.tobytes(), shape=values.shape)


def decode_float64(message: types_pb2.Float64Array, field: str) -> npt.NDArray[np.float64]:
    """A read-only float64 array viewing the message's bytes (no copy).

    Raises:
        WireError: the byte length does not match the shape.
    """
    shape = tuple(message.shape)
    expected = 8 * math.prod(shape)
    if len(message.data) != expected:
        raise WireError(
            f"{field}.data",
            f"holds {len(message.data)} bytes but shape {shape} needs {expected} "
            "(8 bytes per little-endian float64)",
        )
    return np.frombuffer(message.data, dtype="<f8").reshape(shape)


def encode_bits(bits: BitArray) -> types_pb2.PackedBits:
    """The packed samples of a BitArray in its own layout (one copy, into the message)."""
    return types_pb2.PackedBits(
        data=np.ascontiguousarray(bits.array, dtype=np.uint8).tobytes(),
        shape=bits.shape,
        num_shots=bits.num_shots,
        num_bits=bits.num_bits,
    )


def decode_bits(
    message: types_pb2.PackedBits, field: str, cls: type[BitArray] = BitArray
) -> BitArray:
    """A BitArray of type ``cls`` viewing the message's bytes (no copy).

    Raises:
        WireError: the byte length does not match shape, num_shots and num_bits.
    """
    num_bytes = (message.num_bits + 7) // 8
    shape = (*message.shape, message.num_shots, num_bytes)
    expected = math.prod(shape)
    if len(message.data) != expected:
        raise WireError(
            f"{field}.data",
            f"holds {len(message.data)} bytes but shape {tuple(message.shape)} x "
            f"{message.num_shots} shots x {message.num_bits} bits needs {expected}",
        )
    array = np.frombuffer(message.data, dtype=np.uint8).reshape(shape)
    return cls(array, message.num_bits)


def encode_tensor(array: npt.ArrayLike) -> types_pb2.Tensor:
    """Any fixed-size array as its bytes (C order), shape and NumPy dtype string."""
    values = np.ascontiguousarray(array)
    return types_pb2.Tensor(data=values.tobytes(), shape=values.shape, dtype=values.dtype.str)


def decode_tensor(message: types_pb2.Tensor, field: str) -> npt.NDArray[Any]:
    """A read-only array viewing the message's bytes (no copy).

    Raises:
        WireError: a dtype NumPy does not know or that has no fixed size, or bytes that do
            not match the shape.
    """
    try:
        dtype = np.dtype(message.dtype)
    except TypeError as exc:
        raise WireError(f"{field}.dtype", f"is not a NumPy dtype: {message.dtype!r}") from exc
    if dtype.hasobject or dtype.itemsize == 0:
        raise WireError(f"{field}.dtype", f"must be a fixed-size dtype, got {message.dtype!r}")
    shape = tuple(message.shape)
    expected = dtype.itemsize * math.prod(shape)
    if len(message.data) != expected:
        raise WireError(
            f"{field}.data",
            f"holds {len(message.data)} bytes but shape {shape} of {dtype} needs {expected}",
        )
    return np.frombuffer(message.data, dtype=dtype).reshape(shape)
