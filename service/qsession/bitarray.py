"""``qsession.BitArray``: Qiskit's :class:`~qiskit.primitives.BitArray`, per-shot work in Rust.

The subclass keeps Qiskit's data model (a ``uint8`` array of shape ``(*shape, num_shots,
ceil(num_bits / 8))``, big-endian bytes, bit 0 the least significant bit of the last byte) and
its results: every overridden method returns what Qiskit's returns, including dictionary order,
``loc`` handling, batch shapes, errors and ignored padding bits, and returns a
``qsession.BitArray`` wherever Qiskit returns a ``BitArray``. Counting, slicing, concatenating,
post-selecting and expectation values run in ``qsession._native`` over the packed bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from qiskit.primitives import BitArray as QiskitBitArray
from qiskit.primitives.containers.observables_array import ObservablesArray, ObservablesArrayLike

from qsession import _native

_DIAGONAL = frozenset("IZ01")


class BitArray(QiskitBitArray):
    """An array of packed bitstrings (see :class:`qiskit.primitives.BitArray`).

    Construct it over any ``uint8`` array of shape ``(*shape, num_shots, ceil(num_bits / 8))``
    without copying, e.g. ``BitArray(np.frombuffer(data, np.uint8).reshape(...), num_bits)``.
    """

    @classmethod
    def _of(cls, bit_array: QiskitBitArray) -> BitArray:
        """View a Qiskit ``BitArray`` as a ``qsession.BitArray`` (no copy)."""
        return cls(bit_array.array, bit_array.num_bits)

    @classmethod
    def from_hex_memory(cls, memory: list[str], num_bits: int) -> BitArray:
        """Pack per-shot hex strings (Aer's ``memory``, e.g. ``"0x1a3"``) into shape ``()``.

        Keeps the low ``num_bits`` bits of each value (the padding bits stay zero); for values
        that fit in ``num_bits`` this equals ``BitArray.from_samples(memory, num_bits)``.

        Raises:
            ValueError: Naming the first item that is not a hexadecimal string.
        """
        return cls(_native.hex_to_packed(memory, num_bits), num_bits)

    def _shot_rows(self, loc: int | tuple[int, ...] | None) -> NDArray[np.uint8] | None:
        """The ``(shots, nbytes)`` rows Qiskit reads for ``loc``, or None where only Qiskit's own
        code gives its answer (zero-width bits, or a ``loc`` that leaves batch axes)."""
        rows = self._array.reshape(-1, self._array.shape[-1]) if loc is None else self._array[loc]
        if rows.ndim != 2 or self.num_bits == 0:
            return None
        return np.ascontiguousarray(rows)

    def _flat_rows(self) -> NDArray[np.uint8]:
        """All shots of all positions as C-contiguous ``(size * num_shots, nbytes)`` rows."""
        return np.ascontiguousarray(self._array).reshape(-1, self._array.shape[-1])

    def get_counts(self, loc: int | tuple[int, ...] | None = None) -> dict[str, int]:
        """Counts of each bitstring (keys in order of first occurrence), as Qiskit's."""
        rows = self._shot_rows(loc)
        if rows is None:
            return super().get_counts(loc)
        return _native.get_counts(rows, self.num_bits)

    def get_int_counts(self, loc: int | tuple[int, ...] | None = None) -> dict[int, int]:
        """Counts of each outcome as an ``int`` (keys in order of first occurrence), as Qiskit's."""
        rows = self._shot_rows(loc)
        if rows is None:
            return super().get_int_counts(loc)
        return _native.get_int_counts(rows, self.num_bits)

    def get_bitstrings(self, loc: int | tuple[int, ...] | None = None) -> list[str]:
        """One bitstring per shot, as Qiskit's (equal shots share one ``str`` object)."""
        rows = self._shot_rows(loc)
        if rows is None:
            return super().get_bitstrings(loc)
        return _native.get_bitstrings(rows, self.num_bits)

    def slice_bits(self, indices: int | Sequence[int]) -> BitArray:
        """Bits ``indices`` of every shot (index 0 = least significant bit), without unpacking.

        Raises:
            IndexError: If an index is outside ``[0, num_bits)``.
        """
        if isinstance(indices, int):
            indices = (indices,)
        for index in indices:
            if index < 0 or index >= self.num_bits:
                raise IndexError(
                    f"index {index} is out of bounds for the number of bits {self.num_bits}."
                )
        if self.num_bits == 0:
            return BitArray._of(super().slice_bits(indices))
        wanted = np.asarray(indices, dtype=np.int64).reshape(-1)
        sliced = _native.slice_bits(self._flat_rows(), self.num_bits, wanted)
        return BitArray(sliced.reshape(self._array.shape[:-1] + sliced.shape[-1:]), wanted.size)

    def postselect(
        self,
        indices: Sequence[int] | int,
        selection: Sequence[bool | int] | bool | int,
    ) -> BitArray:
        """Shots (all positions flattened, shape ``()``) whose bits ``indices`` equal ``selection``.

        Raises:
            IndexError: If an index is ``>= num_bits`` or ``< -num_bits``.
            ValueError: If ``indices`` and ``selection`` differ in length.
        """
        if isinstance(indices, int):
            indices = (indices,)
        if isinstance(selection, (bool, int)):
            selection = (selection,)
        selection = np.asarray(selection, dtype=bool)
        if len(selection) != len(indices):
            raise ValueError("Lengths of indices and selection do not match.")
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size > 0:
            high, low = int(indices.max()), int(indices.min())
            bad = high if high >= self.num_bits else low if low < -self.num_bits else None
            if bad is not None:
                raise IndexError(
                    f"index {bad} out of bounds for the number of bits {self.num_bits}."
                )
        flattened = self.reshape((), self.size * self.num_shots)
        if indices.size == 0:
            return flattened
        num_bytes = self._array.shape[-1]
        indices %= self.num_bits
        if np.intersect1d(indices[selection], indices[~selection]).size > 0:
            return BitArray(np.empty((0, num_bytes), dtype=np.uint8), self.num_bits)
        byte_index = (num_bytes - 1) - indices // 8
        bit = (np.uint8(1) << (indices % 8).astype(np.uint8)).astype(np.uint8)
        mask = np.zeros(num_bytes, dtype=np.uint8)
        np.bitwise_or.at(mask, byte_index, bit)
        wanted = np.zeros(num_bytes, dtype=np.uint8)
        np.bitwise_or.at(wanted, byte_index, bit * selection.astype(np.uint8))
        kept = _native.postselect(flattened._flat_rows(), mask, wanted)
        return BitArray(kept, self.num_bits)

    def expectation_values(self, observables: ObservablesArrayLike) -> NDArray[np.float64]:
        """Expectation values of diagonal observables (I, Z, 0, 1) broadcast against this array.

        Returns:
            Shape ``broadcast(self.shape, observables.shape)``: per element, the mean over the
            shots of its position of the observable's value (real parts of coefficients).

        Raises:
            ValueError: If the shapes do not broadcast, a term's length is not ``num_bits``, or
                a term is not diagonal (the messages Qiskit gives).
        """
        observables = ObservablesArray.coerce(observables)
        if self.num_shots == 0 or self.num_bits == 0 or self.size == 0:
            return super().expectation_values(observables)
        np.broadcast_shapes(self.shape, observables.shape)  # numpy's ValueError, as Qiskit's
        shape, locs, obs_index = _native.broadcast_indices(self.shape, observables.shape)
        elements = np.asarray(observables).reshape(-1)
        terms: dict[str, int] = {}
        offsets = [0]
        term_indices: list[int] = []
        coeffs: list[float] = []
        for element in elements[obs_index]:
            for label, coeff in element.items():
                label = label.upper()
                if label not in terms:
                    if len(label) != self.num_bits:
                        raise ValueError(
                            f"One or more operators not same length ({self.num_bits}) as input "
                            "bitstrings"
                        )
                    if not _DIAGONAL.issuperset(label):
                        raise ValueError(f"Input operator {label} is not diagonal")
                    terms[label] = len(terms)
                term_indices.append(terms[label])
                coeffs.append(float(np.real(coeff)))
            offsets.append(len(term_indices))
        packed = np.ascontiguousarray(self._array).reshape(self.size, self.num_shots, -1)
        means, _ = _native.batched_expectations(
            packed,
            self.num_bits,
            list(terms),
            np.asarray(offsets, dtype=np.int64),
            np.asarray(term_indices, dtype=np.int64),
            np.asarray(coeffs, dtype=np.float64),
            locs,
        )
        return means.reshape(shape)

    @staticmethod
    def concatenate_bits(bit_arrays: Sequence[QiskitBitArray]) -> BitArray:
        """Join bit arrays bitwise per shot; the first array supplies the lowest bits.

        Raises:
            ValueError: If there are no arrays, or they differ in number of shots or shape.
        """
        if len(bit_arrays) == 0:
            raise ValueError("Need at least one bit array to stack")
        num_shots = bit_arrays[0].num_shots
        shape = bit_arrays[0].shape
        for i, ba in enumerate(bit_arrays):
            if ba.num_shots != num_shots:
                raise ValueError(
                    "All bit arrays must have same number of shots, "
                    f"but the bit array at index 0 has {num_shots} shots "
                    f"and the bit array at index {i} has {ba.num_shots} shots."
                )
            if ba.shape != shape:
                raise ValueError(
                    "All bit arrays must have same shape, "
                    f"but the bit array at index 0 has shape {shape} "
                    f"and the bit array at index {i} has shape {ba.shape}."
                )
        parts = [
            np.ascontiguousarray(ba.array).reshape(-1, ba.array.shape[-1]) for ba in bit_arrays
        ]
        widths = [ba.num_bits for ba in bit_arrays]
        joined = _native.concatenate_bits(parts, widths)
        return BitArray(joined.reshape(shape + (num_shots, joined.shape[-1])), sum(widths))

    # Qiskit methods that build a new BitArray: the same result, as a qsession.BitArray.

    def __and__(self, other: QiskitBitArray) -> BitArray:
        return BitArray._of(super().__and__(other))

    def __or__(self, other: QiskitBitArray) -> BitArray:
        return BitArray._of(super().__or__(other))

    def __xor__(self, other: QiskitBitArray) -> BitArray:
        return BitArray._of(super().__xor__(other))

    def __invert__(self) -> BitArray:
        return BitArray._of(super().__invert__())

    def __getitem__(self, indices) -> BitArray:
        return BitArray._of(super().__getitem__(indices))

    def reshape(self, *shape) -> BitArray:
        return BitArray._of(super().reshape(*shape))

    def transpose(self, *axes) -> BitArray:
        return BitArray._of(super().transpose(*axes))

    def slice_shots(self, indices: int | Sequence[int]) -> BitArray:
        return BitArray._of(super().slice_shots(indices))

    @staticmethod
    def from_bool_array(
        array: NDArray[np.bool_], order: Literal["big", "little"] = "big"
    ) -> BitArray:
        return BitArray._of(QiskitBitArray.from_bool_array(array, order))

    @staticmethod
    def from_counts(
        counts: Mapping[str | int, int] | Iterable[Mapping[str | int, int]],
        num_bits: int | None = None,
    ) -> BitArray:
        return BitArray._of(QiskitBitArray.from_counts(counts, num_bits))

    @staticmethod
    def from_samples(
        samples: Iterable[str] | Iterable[int], num_bits: int | None = None
    ) -> BitArray:
        return BitArray._of(QiskitBitArray.from_samples(samples, num_bits))

    @staticmethod
    def concatenate(bit_arrays: Sequence[QiskitBitArray], axis: int = 0) -> BitArray:
        return BitArray._of(QiskitBitArray.concatenate(bit_arrays, axis))

    @staticmethod
    def concatenate_shots(bit_arrays: Sequence[QiskitBitArray]) -> BitArray:
        return BitArray._of(QiskitBitArray.concatenate_shots(bit_arrays))
