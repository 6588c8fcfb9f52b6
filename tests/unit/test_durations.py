"""max_ttl parsing (strict, INVALID_ARGUMENT naming the field) and config durations."""

from __future__ import annotations

import pytest

from qsession.lifecycle.durations import format_duration, parse_config_duration, parse_max_ttl
from qsession.lifecycle.errors import InvalidArgument


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (600, 600),
        ("600", 600),
        (" 600 ", 600),
        ("2h 30m 40s", 9040),
        ("2h30m40s", 9040),
        ("25m", 1500),
        ("8h", 28800),
        ("1d", 86400),
        ("1d 2h", 93600),
        ("1d 1h 1m 1s", 90061),
        ("90s", 90),
        ("0h 5m", 300),
    ],
)
def test_max_ttl_accepts_integer_seconds_and_dhms_durations(value: str | int, seconds: int) -> None:
    assert parse_max_ttl(value) == seconds


@pytest.mark.parametrize(
    "value",
    [
        "abc",
        "5 parsecs",
        "1.5h",
        "-3",
        -3,
        "",
        "   ",
        "0",
        0,
        "0s",
        "2h 2h",
        "30m 2h",
        "2 h",
        "h",
        "+600",
        "600.0",
        "2h junk",
        "10y",
        "１０m",
        True,
        1.5,
    ],
)
def test_max_ttl_rejects_anything_else_naming_the_field_and_the_accepted_forms(
    value: object,
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        parse_max_ttl(value)  # type: ignore[arg-type]
    assert raised.value.field == "max_ttl"
    message = str(raised.value)
    assert "max_ttl" in message
    assert "2h 30m 40s" in message
    assert "seconds" in message


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("250ms", 0.25),
        ("0.3s", 0.3),
        ("2h 30m 40s", 9040.0),
        ("8h", 28800.0),
        ("1m 500ms", 60.5),
        ("1.5h", 5400.0),
        (30, 30.0),
        (0.3, 0.3),
        ("0.3", 0.3),
        (0, 0.0),
    ],
)
def test_config_durations_accept_units_and_plain_seconds(
    value: str | float, seconds: float
) -> None:
    assert parse_config_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value", ["junk", "", "5 parsecs", "-1", -1.0, "inf", float("nan"), "500ms 1s", "1s 1s", True]
)
def test_config_durations_reject_junk(value: object) -> None:
    with pytest.raises(ValueError):
        parse_config_duration(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(28800, "8h"), (9040, "2h 30m 40s"), (300, "5m"), (1.5, "1.5s"), (0, "0s")],
)
def test_durations_are_formatted_the_way_users_write_them(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
