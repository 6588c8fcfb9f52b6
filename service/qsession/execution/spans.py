"""Execution spans: when each part of a job's results was taken.

A port of ``qiskit_ibm_runtime.execution_span`` (``ExecutionSpan``, ``SliceSpan``,
``ExecutionSpans``; (C) Copyright IBM 2024, Apache License 2.0; modified: the plotting method
is left out) so results carry the same ``metadata["execution"]["execution_spans"]`` object
without depending on qiskit-ibm-runtime.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Iterable, Iterator
from datetime import datetime

import numpy as np
import numpy.typing as npt

ShapeType = tuple[int, ...]


class ExecutionSpan(abc.ABC):
    """The time window (UTC ``start``..``stop``) in which a subset of a job's data was taken.

    Spans compare equal by value and sort by ``(start, stop)``.
    """

    def __init__(self, start: datetime, stop: datetime) -> None:
        self._start = start
        self._stop = stop

    @abc.abstractmethod
    def __eq__(self, other: object) -> bool: ...

    def __lt__(self, other: ExecutionSpan) -> bool:
        return (self.start, self.stop) < (other.start, other.stop)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(<start='{self.start:%Y-%m-%d %H:%M:%S}', "
            f"stop='{self.stop:%Y-%m-%d %H:%M:%S}', size={self.size}>)"
        )

    @property
    def start(self) -> datetime:
        """The start time of the span, in UTC."""
        return self._start

    @property
    def stop(self) -> datetime:
        """The stop time of the span, in UTC."""
        return self._stop

    @property
    def duration(self) -> float:
        """The duration of this span, in seconds."""
        return (self.stop - self.start).total_seconds()

    @property
    @abc.abstractmethod
    def pub_idxs(self) -> list[int]:
        """Which PUBs, by index, have data in this span."""

    @property
    def size(self) -> int:
        """The number of results (for the Sampler: shots) in this span, across all PUBs."""
        return int(sum(self.mask(pub_idx).sum() for pub_idx in self.pub_idxs))

    @abc.abstractmethod
    def mask(self, pub_idx: int) -> npt.NDArray[np.bool_]:
        """A boolean array shaped like the PUB's data, true where the data is in this span.

        Raises:
            KeyError: the PUB is not in this span.
        """

    def contains_pub(self, pub_idx: int | Iterable[int]) -> bool:
        """Whether any of the given PUB indices has data in this span."""
        wanted = {pub_idx} if isinstance(pub_idx, int) else set(pub_idx)
        return not wanted.isdisjoint(self.pub_idxs)

    @abc.abstractmethod
    def filter_by_pub(self, pub_idx: int | Iterable[int]) -> ExecutionSpan:
        """The same span restricted to the given PUB indices."""


class SliceSpan(ExecutionSpan):
    """A span whose data, per PUB, is a slice of the row-major flattened PUB data.

    Args:
        start: the start time, UTC.
        stop: the stop time, UTC.
        data_slices: PUB index -> ``(data shape, slice of the flattened data)``; for the Sampler
            the data shape is ``pub.shape + (shots,)``, for the Estimator ``pub.shape``.
    """

    def __init__(
        self, start: datetime, stop: datetime, data_slices: dict[int, tuple[ShapeType, slice]]
    ) -> None:
        super().__init__(start, stop)
        self._data_slices = data_slices

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, SliceSpan)
            and self.start == other.start
            and self.stop == other.stop
            and self._data_slices == other._data_slices
        )

    @property
    def data_slices(self) -> dict[int, tuple[ShapeType, slice]]:
        """PUB index -> ``(data shape, slice of the flattened data)``."""
        return dict(self._data_slices)

    @property
    def pub_idxs(self) -> list[int]:
        return sorted(self._data_slices)

    @property
    def size(self) -> int:
        return sum(len(range(math.prod(shape))[sl]) for shape, sl in self._data_slices.values())

    def mask(self, pub_idx: int) -> npt.NDArray[np.bool_]:
        if pub_idx not in self._data_slices:
            raise KeyError(f"Pub {pub_idx} is not included in the span.")
        shape, sl = self._data_slices[pub_idx]
        mask = np.zeros(shape, dtype=np.bool_)
        mask.ravel()[sl] = True
        return mask

    def filter_by_pub(self, pub_idx: int | Iterable[int]) -> SliceSpan:
        wanted = {pub_idx} if isinstance(pub_idx, int) else set(pub_idx)
        return SliceSpan(
            self.start,
            self.stop,
            {idx: val for idx, val in self._data_slices.items() if idx in wanted},
        )


class ExecutionSpans:
    """A list-like collection of :class:`ExecutionSpan`, as in
    ``result.metadata["execution"]["execution_spans"]``."""

    def __init__(self, spans: Iterable[ExecutionSpan]) -> None:
        self._spans = list(spans)

    def __len__(self) -> int:
        return len(self._spans)

    def __getitem__(self, idxs: int | slice | list[int]) -> ExecutionSpan | ExecutionSpans:
        if isinstance(idxs, int):
            return self._spans[idxs]
        if isinstance(idxs, slice):
            return ExecutionSpans(self._spans[idxs])
        return ExecutionSpans(self._spans[idx] for idx in idxs)

    def __iter__(self) -> Iterator[ExecutionSpan]:
        return iter(self._spans)

    def __repr__(self) -> str:
        return f"ExecutionSpans({self._spans!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExecutionSpans) and self._spans == other._spans

    @property
    def pub_idxs(self) -> list[int]:
        """Which PUBs, by index, have data in any span."""
        return sorted({idx for span in self for idx in span.pub_idxs})

    @property
    def start(self) -> datetime:
        """The earliest start, UTC."""
        return min(span.start for span in self)

    @property
    def stop(self) -> datetime:
        """The latest stop, UTC."""
        return max(span.stop for span in self)

    @property
    def duration(self) -> float:
        """``stop - start`` in seconds."""
        return (self.stop - self.start).total_seconds()

    def filter_by_pub(self, pub_idx: int | Iterable[int]) -> ExecutionSpans:
        """Every span restricted to the given PUB indices."""
        return ExecutionSpans(span.filter_by_pub(pub_idx) for span in self)

    def sort(self, inplace: bool = True) -> ExecutionSpans:
        """Sort by start time, in place (returning self) or into a copy."""
        obj = self if inplace else ExecutionSpans(self)
        obj._spans.sort()
        return obj
