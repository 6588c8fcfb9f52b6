"""How far a running job has got, from wherever the executor's loops are.

A job's work is a tree of loops: PUBs, then within a PUB its noise factors, randomizations
or trajectory batches. Each loop runs over :func:`iterate`, which narrows the share of the
job each item stands for, and reports the end of that share when the item is done. So a
job of one long PUB reports as its inner loops advance, and a job of many short PUBs once
per PUB, without any loop knowing what encloses it. :func:`reporting` installs the callback
for one job (the worker's ``ProgressReporter``, which bounds the rate); outside it,
:func:`iterate` only yields the items.

Reported fractions never decrease: a loop's share ends where the next one starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")

_reporter: ContextVar[Callable[[float], None] | None] = ContextVar(
    "qsession_progress", default=None
)
_share: ContextVar[tuple[float, float]] = ContextVar("qsession_share", default=(0.0, 1.0))


@contextmanager
def reporting(callback: Callable[[float], None] | None) -> Iterator[None]:
    """Report the job's progress (a fraction in ``[0, 1]``) to ``callback`` while the block
    runs; ``None`` reports nothing."""
    token = _reporter.set(callback)
    share = _share.set((0.0, 1.0))
    try:
        yield
    finally:
        _share.reset(share)
        _reporter.reset(token)


def iterate(items: Iterable[T], count: int) -> Iterator[T]:
    """``items`` (``count`` of them), each run as its ``1 / count`` share of the enclosing
    loop's: ``for x in progress.iterate(xs, len(xs))``. The end of an item's
    share is reported when the loop asks for the next item (or ends), so an item whose body
    raises is not reported."""
    callback = _reporter.get()
    if callback is None or count <= 0:
        yield from items
        return
    start, width = _share.get()
    try:
        for index, item in enumerate(items):
            _share.set((start + width * index / count, width / count))
            yield item
            _share.set((start, width))
            callback(start + width * (index + 1) / count)
    finally:
        _share.set((start, width))
