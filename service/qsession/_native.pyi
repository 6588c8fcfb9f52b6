"""Stubs for ``qsession._native``, the Rust result core.

Every function borrows its numpy inputs (C-contiguous, exact dtype; otherwise ``TypeError`` or
``ValueError``), does not copy them, and releases the GIL while it works, except where it reads
Python objects (``hex_to_packed``) or makes them (the counts and bitstrings functions, which
release it while counting and hold it while building their results). Packed rows use
Qiskit's ``BitArray`` layout: ``ceil(num_bits / 8)`` big-endian bytes per shot, register bit 0
is the least significant bit of the last byte, and the unused high bits of the first byte
(padding) are ignored on input and zero on output. Results do not depend on the number of
threads.
"""

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

def sample_outcomes(
    probabilities: NDArray[np.float64], num_shots: int, seed: int
) -> NDArray[np.uint64]:
    """Draw ``num_shots`` outcome indices from a probability vector.

    Args:
        probabilities: Shape ``(num_outcomes,)``; normalised here, need not sum to one. Entries
            in ``[-1e-9, 0)`` are rounding noise and read as zero.
        num_shots: Number of shots to draw.
        seed: Random seed (0 .. 2**64 - 1); the same seed gives the same shots.

    Returns:
        Shape ``(num_shots,)``: each shot's outcome index.

    Raises:
        ValueError: If ``probabilities`` is empty, has more than 2**32 entries, has a non-finite
            or negative entry, or sums to zero.
    """

def pack_outcomes(outcomes: NDArray[np.uint64], positions: NDArray[np.int64]) -> NDArray[np.uint8]:
    """Pack integer outcomes into BitArray rows.

    Register bit ``i`` of shot ``s`` is bit ``positions[i]`` of ``outcomes[s]``, or 0 where
    ``positions[i] < 0``.

    Args:
        outcomes: Shape ``(num_shots,)``.
        positions: Shape ``(num_bits,)``, each ``< 64``.

    Returns:
        Shape ``(num_shots, ceil(num_bits / 8))``.

    Raises:
        ValueError: If a position is 64 or more.
    """

def hex_to_packed(memory: list[str], num_bits: int) -> NDArray[np.uint8]:
    """Pack Aer's per-shot hex memory strings (``"0x1a3"``) into BitArray rows.

    Keeps the low ``num_bits`` bits of each value; equivalent to
    ``BitArray.from_samples(memory, num_bits).array`` for values that fit in ``num_bits``. Holds
    the GIL (the strings are Python objects) while parsing them on all cores.

    Args:
        memory: One hex string per shot, ``0x`` prefix optional.
        num_bits: Bits per shot.

    Returns:
        Shape ``(len(memory), ceil(num_bits / 8))``.

    Raises:
        ValueError: Naming the index of the first item that is not a hexadecimal string.
    """

def diagonal_expectations(
    packed: NDArray[np.uint8],
    num_bits: int,
    terms: list[str],
    coeffs: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Means and standard errors of diagonal observables over packed shots, in one pass.

    Each term is a label of ``num_bits`` characters over ``I``, ``Z``, ``0``, ``1`` (last
    character = bit 0). Its value on a shot is the product over bits of ``Z -> (-1)**bit``,
    ``0 -> [bit == 0]``, ``1 -> [bit == 1]``, ``I -> 1``. Observable ``o`` takes the value
    ``v = sum_t coeffs[o, t] * term_t`` on each shot.

    Args:
        packed: Shape ``(num_shots, ceil(num_bits / 8))``.
        num_bits: Bits per shot.
        terms: ``num_terms`` labels.
        coeffs: Shape ``(num_obs, num_terms)``.

    Returns:
        ``(means, standard_errors)``, each of shape ``(num_obs,)``: the mean of ``v`` and
        ``sqrt(var(v, ddof=0) / num_shots)``. Both are NaN when there are no shots.

    Raises:
        ValueError: If a label has the wrong length or a character other than I, Z, 0, 1, if
            ``coeffs`` has a column count other than ``len(terms)``, or if ``packed`` has the
            wrong row width.
    """

def decode_parameter_values(
    data: bytes, shape: Sequence[int], num_parameters: int
) -> NDArray[np.float64]:
    """Decode and validate the wire's raw little-endian float64 parameter values.

    Args:
        data: ``8 * prod(shape)`` bytes (any C-contiguous buffer).
        shape: The values' shape; the last axis is the parameter axis. An empty shape means
            "no parameters" (``num_parameters == 0`` and empty ``data``) and decodes to shape
            ``(0,)``.
        num_parameters: The circuit's number of parameters.

    Returns:
        A float64 array of ``shape``: a read-only view of ``data`` when it is 8-byte aligned,
        otherwise one copy.

    Raises:
        ValueError: If ``len(data) != 8 * prod(shape)``, if ``shape[-1] != num_parameters``
            (stating expected and got), if a dimension is negative, or if a value is not finite
            (naming its flat index).
    """

def broadcast_indices(
    param_shape: Sequence[int], obs_shape: Sequence[int]
) -> tuple[tuple[int, ...], NDArray[np.int64], NDArray[np.int64]]:
    """Broadcast a parameter batch shape against an observables shape, as numpy does.

    Returns:
        ``(shape, param_index, obs_index)``: the broadcast shape and, for each flat element of
        it in C order, the flat index into the parameter array and into the observables array
        (both of shape ``(prod(shape),)``).

    Raises:
        ValueError: Naming both shapes when they cannot be broadcast together.
    """

def get_counts(packed: NDArray[np.uint8], num_bits: int) -> dict[str, int]:
    """Counts of each distinct row as a bitstring (most significant bit first).

    Args:
        packed: Shape ``(num_shots, ceil(num_bits / 8))``.
        num_bits: Bits per shot, at least 1.

    Returns:
        ``{bitstring: count}`` with keys in order of first occurrence, as
        ``qiskit.primitives.BitArray.get_counts``.

    Raises:
        ValueError: If ``num_bits`` is 0 or ``packed`` has the wrong row width.
    """

def get_int_counts(packed: NDArray[np.uint8], num_bits: int) -> dict[int, int]:
    """Counts of each distinct row as an ``int``; otherwise as :func:`get_counts`."""

def get_bitstrings(packed: NDArray[np.uint8], num_bits: int) -> list[str]:
    """One bitstring per row, in row order; equal rows share one ``str`` object.

    Shapes and errors as :func:`get_counts`.
    """

def slice_bits(
    packed: NDArray[np.uint8], num_bits: int, indices: NDArray[np.int64]
) -> NDArray[np.uint8]:
    """Gather bits: output bit ``j`` of each row is input bit ``indices[j]``.

    Args:
        packed: Shape ``(num_shots, ceil(num_bits / 8))``.
        num_bits: Bits per input row, at least 1.
        indices: Shape ``(k,)``; repeats and any order allowed.

    Returns:
        Shape ``(num_shots, ceil(k / 8))``.

    Raises:
        IndexError: If an index is outside ``[0, num_bits)``.
        ValueError: If ``num_bits`` is 0 or ``packed`` has the wrong row width.
    """

def concatenate_bits(parts: list[NDArray[np.uint8]], num_bits: list[int]) -> NDArray[np.uint8]:
    """Join rows bitwise; ``parts[0]`` supplies the lowest bits, then ``parts[1]``, and so on.

    Args:
        parts: Each of shape ``(num_shots, ceil(num_bits[i] / 8))``.
        num_bits: Bits per row of each part.

    Returns:
        Shape ``(num_shots, ceil(sum(num_bits) / 8))``.

    Raises:
        ValueError: If there are no parts, the lists differ in length, or a part's shape does not
            match.
    """

def postselect(
    packed: NDArray[np.uint8], mask: NDArray[np.uint8], selection: NDArray[np.uint8]
) -> NDArray[np.uint8]:
    """The rows whose bytes satisfy ``row & mask == selection``, unchanged and in order.

    Args:
        packed: Shape ``(num_shots, nbytes)``.
        mask: Shape ``(nbytes,)``, the selected bits in packed layout.
        selection: Shape ``(nbytes,)``, their required values (zero outside ``mask``).

    Returns:
        Shape ``(num_kept, nbytes)``.

    Raises:
        ValueError: If ``mask`` or ``selection`` is not ``nbytes`` long.
    """

def batched_expectations(
    packed: NDArray[np.uint8],
    num_bits: int,
    terms: list[str],
    offsets: NDArray[np.int64],
    term_indices: NDArray[np.int64],
    coeffs: NDArray[np.float64],
    locs: NDArray[np.int64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Means and standard errors of many diagonal observables over a batch of shot blocks.

    Observable ``o`` is ``sum(coeffs[k] * terms[term_indices[k]] for k in
    range(offsets[o], offsets[o + 1]))``, evaluated on the shots of block ``locs[o]``; terms are
    labels as in :func:`diagonal_expectations`. Each block is read once for all its observables.

    Args:
        packed: Shape ``(num_locs, num_shots, ceil(num_bits / 8))``.
        num_bits: Bits per shot.
        terms: Term labels.
        offsets: Shape ``(num_obs + 1,)``, non-decreasing, into ``term_indices``/``coeffs``.
        term_indices: Shape ``(nnz,)``, indices into ``terms``.
        coeffs: Shape ``(nnz,)``.
        locs: Shape ``(num_obs,)``, block of each observable.

    Returns:
        ``(means, standard_errors)``, each of shape ``(num_obs,)``; NaN when there are no shots.

    Raises:
        ValueError: If a label is invalid or an offset, term index or loc is out of range.
    """
