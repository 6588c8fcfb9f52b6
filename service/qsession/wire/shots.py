"""The rules for shots and precision, in one place for the SDK, admission and the executor.

A Sampler PUB runs ``shots > 0`` shots. An Estimator PUB asks for a target standard error
``precision > 0``, and runs ``ceil(1 / precision**2)`` shots per measurement basis. Each
function is pure; callers wrap a problem in their own error type, naming their field.
"""

from __future__ import annotations

import math


def shots_problem(shots: int) -> str | None:
    """Why ``shots`` is not a number of shots to run (it must be > 0), or ``None``."""
    if shots <= 0:
        return f"must be a positive number of shots, got {shots}"
    return None


def precision_problem(precision: float, *, finite: bool = False) -> str | None:
    """Why ``precision`` is not a target standard error (it must be > 0, so not NaN; with
    ``finite``, not infinite either), or ``None``."""
    if finite and not (precision > 0 and math.isfinite(precision)):
        return f"must be a positive finite standard error, got {precision}"
    if not precision > 0:
        return f"must be a positive standard error, got {precision}"
    return None


def shots_for_precision(precision: float) -> int:
    """Shots per measurement basis for a target ``precision`` (> 0): ``ceil(1 / precision**2)``."""
    return math.ceil(1.0 / precision**2)


def precision_for_shots(shots: int) -> float:
    """The precision for which :func:`shots_for_precision` gives exactly ``shots`` (> 0).

    ``1/sqrt(shots)`` can round so that ``ceil`` gives ``shots + 1``; a relative nudge of
    1e-12 keeps ``1/precision**2`` just under ``shots`` for any realistic count.
    """
    return (1.0 + 1e-12) / math.sqrt(shots)


def smallest_precision(max_shots: int) -> float:
    """The smallest precision whose shots stay within ``max_shots``: ``1/sqrt(max_shots)``."""
    return 1 / math.sqrt(max_shots)
