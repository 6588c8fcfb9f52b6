"""Duration parsing: the user's ``max_ttl`` and durations in the TOML config.

``parse_max_ttl`` is deliberately stricter than qiskit-ibm-runtime's ``hms_to_seconds``,
which silently ignores text it does not understand: every character must belong to the
accepted forms, or the request is refused with INVALID_ARGUMENT.
"""

from __future__ import annotations

import math
import re

from qsession.lifecycle.errors import InvalidArgument

_UNIT_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}

# "2h 30m 40s": integer amounts, units d/h/m/s each at most once and in that order,
# whitespace optional between the parts (not inside one).
_MAX_TTL = re.compile(
    r"(?:(?P<d>[0-9]+)d)?\s*(?:(?P<h>[0-9]+)h)?\s*(?:(?P<m>[0-9]+)m)?\s*(?:(?P<s>[0-9]+)s)?",
    re.ASCII,
)

_MAX_TTL_FORMS = (
    'a positive whole number of seconds (e.g. 600 or "600") or a duration such as '
    '"2h 30m 40s" (whole amounts of d, h, m, s, each at most once, in that order)'
)

_CONFIG_UNIT_SECONDS = {"d": 86_400.0, "h": 3_600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_CONFIG_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?|\.[0-9]+)(ms|d|h|m|s)\s*", re.ASCII)


def parse_max_ttl(value: str | int) -> int:
    """Parse a session's max TTL as the user wrote it.

    Args:
        value: integer seconds (``600`` or ``"600"``) or a duration string such as
            ``"2h 30m 40s"`` / ``"25m"`` / ``"1d 2h"``: whole amounts of d, h, m and s,
            each unit at most once, in the order d, h, m, s, whitespace optional between
            parts. Surrounding whitespace is ignored.

    Returns:
        The max TTL in whole seconds (> 0). Plan limits are checked by the scheduler.

    Raises:
        InvalidArgument: (field ``max_ttl``) for anything else, e.g. ``"abc"``,
            ``"5 parsecs"``, ``"1.5h"``, ``"-3"``, ``""``, ``"0"``, ``True``.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _bad_max_ttl(value)
    if isinstance(value, int):
        seconds = value
    else:
        text = value.strip()
        if text.isascii() and text.isdigit():
            seconds = int(text)
        else:
            match = _MAX_TTL.fullmatch(text)
            if match is None or not text or not any(match.groupdict().values()):
                raise _bad_max_ttl(value)
            seconds = sum(
                int(amount) * _UNIT_SECONDS[unit]
                for unit, amount in match.groupdict().items()
                if amount is not None
            )
    if seconds <= 0:
        raise _bad_max_ttl(value)
    return seconds


def _bad_max_ttl(value: object) -> InvalidArgument:
    return InvalidArgument(
        f"max_ttl {value!r} is not a valid duration: use {_MAX_TTL_FORMS}.",
        field="max_ttl",
        reason="MAX_TTL_INVALID",
    )


def parse_config_duration(value: str | float) -> float:
    """Parse a duration from the server's TOML config.

    Args:
        value: a number of seconds (``30``, ``0.3``, ``"0.3"``) or a string of parts
            ``<amount><unit>`` with units d, h, m, s, ms, decimal amounts allowed, each
            unit at most once, largest first, whitespace optional between parts:
            ``"250ms"``, ``"0.3s"``, ``"8h"``, ``"2h 30m 40s"``, ``"1m 500ms"``.

    Returns:
        The duration in seconds (finite, >= 0).

    Raises:
        ValueError: for booleans, negative, infinite or NaN numbers, and any other text.
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            return _parse_config_parts(text, value)
        return _checked_seconds(number, value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _checked_seconds(float(value), value)
    raise ValueError(f"not a duration: {value!r}")


def _parse_config_parts(text: str, value: str) -> float:
    total = 0.0
    units_seen: list[str] = []
    position = 0
    while position < len(text):
        part = _CONFIG_PART.match(text, position)
        if part is None:
            raise ValueError(_config_help(value))
        amount, unit = part.groups()
        if units_seen and _CONFIG_UNIT_SECONDS[unit] >= _CONFIG_UNIT_SECONDS[units_seen[-1]]:
            raise ValueError(_config_help(value))
        units_seen.append(unit)
        total += float(amount) * _CONFIG_UNIT_SECONDS[unit]
        position = part.end()
    if not units_seen:
        raise ValueError(_config_help(value))
    return total


def _checked_seconds(seconds: float, original: object) -> float:
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be a finite number of seconds >= 0, got {original!r}")
    return seconds


def _config_help(value: object) -> str:
    return (
        f"not a duration: {value!r}; use seconds (30, 0.3) or parts such as "
        '"250ms", "0.3s", "8h", "2h 30m 40s" (units d, h, m, s, ms, largest first)'
    )


def format_duration(seconds: float) -> str:
    """Format seconds the way users write max TTLs: ``28800 -> "8h"``, ``9040 -> "2h 30m 40s"``.

    Whole seconds are split into d/h/m/s parts; a fractional remainder is kept on the
    seconds part (``1.5 -> "1.5s"``); ``0 -> "0s"``.
    """
    whole = int(seconds)
    fraction = seconds - whole
    parts = []
    for unit, size in _UNIT_SECONDS.items():
        amount, whole = divmod(whole, size)
        shown: float = amount + fraction if unit == "s" else amount
        if shown:
            parts.append(f"{shown:g}{unit}")
    return " ".join(parts) or "0s"
