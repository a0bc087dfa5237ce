"""Tests of what schedules accept: rotation durations, schedule validation, aware instants in any offset."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from ilertd.domain.schedules import (
    Layer,
    Override,
    Restriction,
    Rotation,
    Schedule,
    StaticShift,
    on_call,
    parse_rotation,
    shifts,
    validate_schedule,
    zone_info,
)
from tests.schedule_builders import DAILY, MON, layer, recurring, timeline, z


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT8H", Rotation(0, 8 * 3600)),
        ("PT30M", Rotation(0, 1800)),
        ("P1D", Rotation(1, 0)),
        ("P7D", Rotation(7, 0)),
        ("P1W", Rotation(7, 0)),
        ("P2W", Rotation(14, 0)),
        ("P14D", Rotation(14, 0)),
        ("P1DT12H", Rotation(1, 12 * 3600)),
        ("pt1h30m", Rotation(0, 5400)),
        (" P1D ", Rotation(1, 0)),
    ],
)
def test_parse_rotation(text: str, expected: Rotation) -> None:
    assert parse_rotation(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("PT0S", "zero"),
        ("P0D", "zero"),
        ("-P1D", "negative"),
        ("P1M", "months or years"),
        ("P1Y2D", "months or years"),
        ("P1MT8H", "months or years"),
        ("", "not an ISO-8601 duration"),
        ("P", "not an ISO-8601 duration"),
        ("1D", "not an ISO-8601 duration"),
        ("PT1.5H", "not an ISO-8601 duration"),
        ("P1DT", "not an ISO-8601 duration"),
    ],
)
def test_parse_rotation_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_rotation(text)


GOOD = layer((1,), "P1D", "2021-03-01T00:00")

INVALID = [
    pytest.param(recurring("UTC", layer((), "P1D", "2021-03-01T00:00")), "has no users", id="no-users"),
    pytest.param(recurring("Mars/Olympus", GOOD), "unknown time zone", id="unknown-zone"),
    pytest.param(recurring("", GOOD), "unknown time zone", id="empty-zone"),
    pytest.param(recurring("America", GOOD), "unknown time zone", id="zone-directory"),
    pytest.param(
        recurring("UTC", layer((1,), "P1D", "2021-03-01T00:00",
                               restrictions=(Restriction(MON, time(9), MON, time(9)),))),
        "ends where it starts", id="restriction-equal-from-to",
    ),
    pytest.param(
        recurring("UTC", layer((1,), "P1D", "2021-03-01T00:00", ends_on="2021-02-01T00:00")),
        "is not after its starts_on", id="ends-before-starts",
    ),
    pytest.param(
        recurring("UTC", layer((1,), "P1D", "2021-03-01T00:00", ends_on="2021-03-01T00:00")),
        "is not after its starts_on", id="ends-at-starts",
    ),
    pytest.param(
        recurring("UTC", Layer("x", (1,), "P1D", z("2021-03-01T00:00"))), "naive local date-time",
        id="aware-starts-on",
    ),
    pytest.param(
        recurring("UTC", layer((1,), "P1M", "2021-03-01T00:00")), "months or years", id="monthly-rotation"
    ),
    pytest.param(Schedule(1, "x", "WEEKLY", "UTC"), "not RECURRING or STATIC", id="bad-type"),  # type: ignore[arg-type]
    pytest.param(
        recurring("UTC", GOOD, overrides=(Override(1, 2, z("2021-03-02T00:00"), z("2021-03-01T00:00")),)),
        "override 1 ends", id="override-backwards",
    ),
    pytest.param(
        Schedule(1, "x", "STATIC", "UTC", (), (StaticShift(1, datetime(2021, 3, 1), z("2021-03-02T00:00")),)),
        "must be an aware date-time", id="naive-static-shift",
    ),
]


@pytest.mark.parametrize(("schedule", "message"), INVALID)
def test_invalid_schedules_are_rejected(schedule: Schedule, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_schedule(schedule)
    with pytest.raises(ValueError, match=message):
        shifts(schedule, z("2021-03-01T00:00"), z("2021-03-02T00:00"))


def test_instants_must_be_aware() -> None:
    schedule = recurring("UTC", GOOD)
    with pytest.raises(ValueError, match="at must be an aware"):
        on_call(schedule, datetime(2021, 3, 1))
    with pytest.raises(ValueError, match="start must be an aware"):
        shifts(schedule, datetime(2021, 3, 1), z("2021-03-02T00:00"))


def test_instants_in_other_offsets_mean_the_same_instant() -> None:
    schedule = recurring("America/Chicago", DAILY)
    berlin = zone_info("Europe/Berlin")
    start = z("2021-03-08T06:00").astimezone(berlin)
    expected = timeline((2, "2021-03-08T06:00", "2021-03-09T06:00"))
    assert shifts(schedule, start, start + timedelta(days=1)) == expected
