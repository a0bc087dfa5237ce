"""Tests of ilertd.domain.timeutil: ISO-8601 durations and instants in, UTC `Z` instants out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ilertd.domain.timeutil import format_instant, parse_duration, parse_instant


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT30M", timedelta(minutes=30)),
        ("PT0S", timedelta(0)),
        ("P1D", timedelta(days=1)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("P2W", timedelta(weeks=2)),
        ("PT1.5S", timedelta(seconds=1, milliseconds=500)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("PT36H", timedelta(hours=36)),
        ("P1DT2H3M4S", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("pt30m", timedelta(minutes=30)),
        ("  PT5M ", timedelta(minutes=5)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "   ", "P", "PT", "P1DT", "30M", "1h", "PT30", "T30M", "PT-5M", "P1.5D", "PT30M1H", "P1Y", "x"],
)
def test_parse_duration_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("value", [None, 30, 1.5, b"PT30M"])
def test_parse_duration_refuses_non_strings(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, 0, tzinfo=UTC)),
        ("2024-05-01T12:00:00.250Z", datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)),
        ("2024-05-01T14:00:00+02:00", datetime(2024, 5, 1, 12, 0, tzinfo=UTC)),
        ("2024-05-01T01:30:00+02:00", datetime(2024, 4, 30, 23, 30, tzinfo=UTC)),
        ("2024-05-01T07:00:00-05:00", datetime(2024, 5, 1, 12, 0, tzinfo=UTC)),
        ("2024-05-01T12:00:00", datetime(2024, 5, 1, 12, 0, tzinfo=UTC)),
        (" 2024-05-01T12:00:00Z ", datetime(2024, 5, 1, 12, 0, tzinfo=UTC)),
    ],
    ids=["Z", "Z with millis", "+02:00", "+02:00 across midnight", "-05:00", "naive is UTC", "padded"],
)
def test_parse_instant_gives_utc(text: str, expected: datetime) -> None:
    value = parse_instant(text)
    assert value == expected
    assert value.utcoffset() == timedelta(0)
    assert value.tzinfo is UTC


@pytest.fixture
def host_zone_utc_plus_3(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local zone set to UTC+3 (a POSIX TZ string: no zone database needed)."""
    monkeypatch.setenv("TZ", "XXX-03")
    time.tzset()
    assert time.timezone == -3 * 3600
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("host_zone_utc_plus_3")
def test_a_naive_instant_is_utc_whatever_the_hosts_zone() -> None:
    assert parse_instant("2024-05-01T12:00:00") == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert format_instant(parse_instant("2024-05-01T12:00:00")) == "2024-05-01T12:00:00.000Z"
    assert format_instant(parse_instant("2024-05-01T15:00:00+03:00")) == "2024-05-01T12:00:00.000Z"


@pytest.mark.parametrize(
    "text", ["", "   ", "yesterday", "2024-13-01T00:00:00Z", "2024-05-01T25:00Z", "12:00", "1714564800"]
)
def test_parse_instant_refuses_bad_strings(text: str) -> None:
    with pytest.raises(ValueError):
        parse_instant(text)


@pytest.mark.parametrize("value", [None, 1714564800])
def test_parse_instant_refuses_non_strings(value: object) -> None:
    with pytest.raises(ValueError):
        parse_instant(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2024, 5, 1, 12, 0, tzinfo=UTC), "2024-05-01T12:00:00.000Z"),
        (datetime(2024, 5, 1, 12, 0, 1, 234567, tzinfo=UTC), "2024-05-01T12:00:01.234Z"),
        (datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))), "2024-05-01T12:00:00.000Z"),
        (datetime(2024, 5, 1, 1, 0, tzinfo=timezone(timedelta(hours=3))), "2024-04-30T22:00:00.000Z"),
    ],
)
def test_format_instant_writes_utc_with_z(value: datetime, expected: str) -> None:
    text = format_instant(value)
    assert text == expected
    assert text is not None and text.endswith("Z")
    assert "+" not in text


def test_format_instant_of_none_is_none() -> None:
    assert format_instant(None) is None


@pytest.mark.parametrize("text", ["2024-05-01T12:00:00.125Z", "2024-02-29T23:59:59.999+05:30"])
def test_format_and_parse_round_trip(text: str) -> None:
    value = parse_instant(text)
    formatted = format_instant(value)
    assert formatted is not None and formatted.endswith("Z")
    assert parse_instant(formatted) == value
