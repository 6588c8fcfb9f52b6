"""Execution spans: when each slice of a job's PUB results was executed.

Mirrors ``qiskit_ibm_runtime.execution_span`` (``SliceSpan`` and ``ExecutionSpans``), which
Qiskit itself does not ship, so that ``result.metadata["execution"]["execution_spans"]`` reads
the same against qsession as against IBM Quantum.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import datetime

import numpy as np
import numpy.typing as npt

ShapeType = tuple[int, ...]


class SliceSpan:
    """The execution window of a sliceable part of one or more PUBs' flattened (C order) data.

    Args:
        start: When execution started (UTC).
        stop: When execution stopped (UTC).
        data_slices: Map from PUB index to ``(shape, slice)`` over that PUB's flattened data.
    """

    def __init__(
        self, start: datetime, stop: datetime, data_slices: dict[int, tuple[ShapeType, slice]]
    ):
        self._start = start
        self._stop = stop
        self._data_slices = data_slices

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
        """The duration of the span, in seconds."""
        return (self._stop - self._start).total_seconds()

    @property
    def pub_idxs(self) -> list[int]:
        """The indices of the PUBs with data in this span."""
        return sorted(self._data_slices)

    @property
    def size(self) -> int:
        """The number of results, across all PUBs, that depend on this span."""
        return sum(len(range(math.prod(shape))[sl]) for shape, sl in self._data_slices.values())

    @property
    def data_slices(self) -> dict[int, tuple[ShapeType, slice]]:
        """Map from PUB index to ``(shape, slice)``."""
        return dict(self._data_slices)

    def mask(self, pub_idx: int) -> npt.NDArray[np.bool_]:
        """A boolean array of the PUB's shape, true where its data depends on this span."""
        if pub_idx not in self._data_slices:
            raise KeyError(f"Pub {pub_idx} is not included in the span.")
        shape, sl = self._data_slices[pub_idx]
        mask = np.zeros(shape, dtype=np.bool_)
        mask.ravel()[sl] = True
        return mask

    def contains_pub(self, pub_idx: int | Iterable[int]) -> bool:
        """Whether any of the given PUB indices has data in this span."""
        wanted = {pub_idx} if isinstance(pub_idx, int) else set(pub_idx)
        return not wanted.isdisjoint(self._data_slices)

    def filter_by_pub(self, pub_idx: int | Iterable[int]) -> SliceSpan:
        """A span restricted to the given PUB indices."""
        wanted = {pub_idx} if isinstance(pub_idx, int) else set(pub_idx)
        slices = {i: v for i, v in self._data_slices.items() if i in wanted}
        return SliceSpan(self._start, self._stop, slices)

    def __lt__(self, other: SliceSpan) -> bool:
        return (self._start, self._stop) < (other._start, other._stop)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SliceSpan) and (
            (self._start, self._stop, self._data_slices)
            == (other._start, other._stop, other._data_slices)
        )

    def __repr__(self) -> str:
        start, stop = f"{self._start:%Y-%m-%d %H:%M:%S}", f"{self._stop:%Y-%m-%d %H:%M:%S}"
        return f"SliceSpan(<start='{start}', stop='{stop}', size={self.size}>)"


class ExecutionSpans:
    """A sequence of :class:`SliceSpan` for the PUBs of one job."""

    def __init__(self, spans: Iterable[SliceSpan]):
        self._spans = list(spans)

    def __len__(self) -> int:
        return len(self._spans)

    def __getitem__(self, idx: int) -> SliceSpan:
        return self._spans[idx]

    def __iter__(self) -> Iterator[SliceSpan]:
        return iter(self._spans)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExecutionSpans) and self._spans == other._spans

    def __repr__(self) -> str:
        return f"ExecutionSpans({self._spans!r})"

    @property
    def pub_idxs(self) -> list[int]:
        """The indices of the PUBs with data in any span."""
        return sorted({i for span in self._spans for i in span.pub_idxs})

    @property
    def start(self) -> datetime:
        """The earliest start time of all spans."""
        return min(span.start for span in self._spans)

    @property
    def stop(self) -> datetime:
        """The latest stop time of all spans."""
        return max(span.stop for span in self._spans)

    @property
    def duration(self) -> float:
        """Seconds from the earliest start to the latest stop."""
        return (self.stop - self.start).total_seconds()

    def filter_by_pub(self, pub_idx: int | Iterable[int]) -> ExecutionSpans:
        """The spans that contain the given PUBs, each restricted to them."""
        return ExecutionSpans(
            span.filter_by_pub(pub_idx) for span in self._spans if span.contains_pub(pub_idx)
        )

    def sort(self, inplace: bool = True) -> ExecutionSpans:
        """Sort the spans by start then stop time."""
        target = self if inplace else ExecutionSpans(self._spans)
        target._spans.sort()
        return target
