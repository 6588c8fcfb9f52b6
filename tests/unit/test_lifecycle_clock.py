"""Clocks: the virtual clock moves only when told, and never backwards."""

from __future__ import annotations

import time

import pytest

from qsession.lifecycle.clock import SystemClock, VirtualClock


def test_virtual_clock_moves_only_when_advanced() -> None:
    clock = VirtualClock(100.0)
    assert clock.now() == clock.now() == 100.0
    assert clock.advance(2.5) == 102.5
    assert clock.now() == 102.5


def test_virtual_clock_never_goes_back() -> None:
    with pytest.raises(ValueError):
        VirtualClock().advance(-1)


def test_system_clock_reads_unix_seconds() -> None:
    before = time.time()
    assert before <= SystemClock().now() <= time.time()
