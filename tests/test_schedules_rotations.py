"""Tests of rotating layers in ilertd.domain.schedules: hand-offs across DST and far from starts_on."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ilertd.domain.schedules import Shift, handoffs, on_call, on_call_shift, shifts, zone_info
from tests.schedule_builders import layer, recurring, timeline, z

# Each case: zone, rotation, starts_on, users, window, and the shifts expected in it (UTC).
# Chicago: CST -6 / CDT -5; 2021-03-14 02:00 CST -> 03:00 CDT at 08:00Z, 2021-11-07 02:00 CDT -> 01:00 CST
# at 07:00Z. Berlin: CET +1 / CEST +2; 2021-03-28 02:00 -> 03:00 at 01:00Z, 2021-10-31 03:00 -> 02:00 at
# 01:00Z. Lord Howe: +10:30 / +11; 2021-10-03 02:00 -> 02:30 at 2021-10-02 15:30Z, 2021-04-04 02:00 ->
# 01:30 at 2021-04-03 15:00Z.
ROTATIONS = [
    pytest.param(
        "America/Chicago", "P1D", "2021-03-12T02:30", (1, 2, 3, 4), ("2021-03-13T08:30", "2021-03-16T07:30"),
        [(2, "2021-03-13T08:30", "2021-03-14T08:00"), (3, "2021-03-14T08:00", "2021-03-15T07:30"),
         (4, "2021-03-15T07:30", "2021-03-16T07:30")],
        id="chicago-daily-handoff-in-missing-hour",
    ),
    pytest.param(
        "America/Chicago", "PT1H", "2021-03-14T00:00", (1, 2, 3, 4, 5),
        ("2021-03-14T06:00", "2021-03-14T10:00"),
        [(1, "2021-03-14T06:00", "2021-03-14T07:00"), (2, "2021-03-14T07:00", "2021-03-14T08:00"),
         (4, "2021-03-14T08:00", "2021-03-14T09:00"), (5, "2021-03-14T09:00", "2021-03-14T10:00")],
        id="chicago-hourly-empty-shift-in-missing-hour-still-counts",
    ),
    pytest.param(
        "America/Chicago", "PT1H", "2021-11-07T00:00", (1, 2, 3), ("2021-11-07T05:00", "2021-11-07T09:00"),
        [(1, "2021-11-07T05:00", "2021-11-07T06:00"), (2, "2021-11-07T06:00", "2021-11-07T08:00"),
         (3, "2021-11-07T08:00", "2021-11-07T09:00")],
        id="chicago-hourly-repeated-hour-lasts-two-hours",
    ),
    pytest.param(
        "America/Chicago", "P1D", "2021-11-06T01:30", (1, 2, 3), ("2021-11-06T06:30", "2021-11-09T07:30"),
        [(1, "2021-11-06T06:30", "2021-11-07T06:30"), (2, "2021-11-07T06:30", "2021-11-08T07:30"),
         (3, "2021-11-08T07:30", "2021-11-09T07:30")],
        id="chicago-daily-handoff-in-repeated-hour-is-first-occurrence",
    ),
    pytest.param(
        "America/Chicago", "P1D", "2021-03-13T03:00", (1, 2), ("2021-03-13T09:00", "2021-03-15T08:00"),
        [(1, "2021-03-13T09:00", "2021-03-14T08:00"), (2, "2021-03-14T08:00", "2021-03-15T08:00")],
        id="chicago-daily-handoff-just-after-missing-hour-23h-day",
    ),
    pytest.param(
        "America/Chicago", "P1D", "2021-03-13T01:59", (1, 2), ("2021-03-13T07:59", "2021-03-15T06:59"),
        [(1, "2021-03-13T07:59", "2021-03-14T07:59"), (2, "2021-03-14T07:59", "2021-03-15T06:59")],
        id="chicago-daily-handoff-just-before-missing-hour",
    ),
    pytest.param(
        "America/Chicago", "P1D", "2021-11-06T02:00", (1, 2), ("2021-11-06T07:00", "2021-11-08T08:00"),
        [(1, "2021-11-06T07:00", "2021-11-07T08:00"), (2, "2021-11-07T08:00", "2021-11-08T08:00")],
        id="chicago-daily-handoff-just-after-repeated-hour-25h-day",
    ),
    pytest.param(
        "America/Chicago", "P7D", "2021-03-07T02:30", (1, 2), ("2021-03-07T08:30", "2021-03-28T07:30"),
        [(1, "2021-03-07T08:30", "2021-03-14T08:00"), (2, "2021-03-14T08:00", "2021-03-21T07:30"),
         (1, "2021-03-21T07:30", "2021-03-28T07:30")],
        id="chicago-weekly-handoff-in-missing-hour",
    ),
    pytest.param(
        "America/Chicago", "P14D", "2021-10-24T01:30", (1, 2, 3), ("2021-10-24T06:30", "2021-12-05T07:30"),
        [(1, "2021-10-24T06:30", "2021-11-07T06:30"), (2, "2021-11-07T06:30", "2021-11-21T07:30"),
         (3, "2021-11-21T07:30", "2021-12-05T07:30")],
        id="chicago-two-weekly-handoff-in-repeated-hour",
    ),
    pytest.param(
        "Europe/Berlin", "PT8H", "2021-03-27T18:00", (1, 2, 3), ("2021-03-27T17:00", "2021-03-28T16:00"),
        [(1, "2021-03-27T17:00", "2021-03-28T01:00"), (2, "2021-03-28T01:00", "2021-03-28T08:00"),
         (3, "2021-03-28T08:00", "2021-03-28T16:00")],
        id="berlin-8-hourly-handoff-in-missing-hour",
    ),
    pytest.param(
        "Europe/Berlin", "P1D", "2021-03-27T02:30", (1, 2, 3), ("2021-03-27T01:30", "2021-03-30T00:30"),
        [(1, "2021-03-27T01:30", "2021-03-28T01:00"), (2, "2021-03-28T01:00", "2021-03-29T00:30"),
         (3, "2021-03-29T00:30", "2021-03-30T00:30")],
        id="berlin-daily-handoff-in-missing-hour",
    ),
    pytest.param(
        "Europe/Berlin", "PT1H", "2021-10-31T00:00", (1, 2, 3, 4), ("2021-10-30T22:00", "2021-10-31T03:00"),
        [(1, "2021-10-30T22:00", "2021-10-30T23:00"), (2, "2021-10-30T23:00", "2021-10-31T00:00"),
         (3, "2021-10-31T00:00", "2021-10-31T02:00"), (4, "2021-10-31T02:00", "2021-10-31T03:00")],
        id="berlin-hourly-repeated-hour",
    ),
    pytest.param(
        "Europe/Berlin", "P7D", "2021-10-24T02:30", (1, 2, 3), ("2021-10-24T00:30", "2021-11-14T01:30"),
        [(1, "2021-10-24T00:30", "2021-10-31T00:30"), (2, "2021-10-31T00:30", "2021-11-07T01:30"),
         (3, "2021-11-07T01:30", "2021-11-14T01:30")],
        id="berlin-weekly-handoff-in-repeated-hour",
    ),
    pytest.param(
        "Europe/Berlin", "P14D", "2021-03-14T03:00", (1, 2), ("2021-03-14T02:00", "2021-04-11T01:00"),
        [(1, "2021-03-14T02:00", "2021-03-28T01:00"), (2, "2021-03-28T01:00", "2021-04-11T01:00")],
        id="berlin-two-weekly-handoff-just-after-missing-hour",
    ),
    pytest.param(
        "Australia/Lord_Howe", "P1D", "2021-10-02T02:15", (1, 2, 3), ("2021-10-01T15:45", "2021-10-04T15:15"),
        [(1, "2021-10-01T15:45", "2021-10-02T15:30"), (2, "2021-10-02T15:30", "2021-10-03T15:15"),
         (3, "2021-10-03T15:15", "2021-10-04T15:15")],
        id="lord-howe-daily-handoff-in-missing-half-hour",
    ),
    pytest.param(
        "Australia/Lord_Howe", "PT30M", "2021-10-03T01:00", (1, 2, 3, 4, 5),
        ("2021-10-02T14:30", "2021-10-02T16:30"),
        [(1, "2021-10-02T14:30", "2021-10-02T15:00"), (2, "2021-10-02T15:00", "2021-10-02T15:30"),
         (4, "2021-10-02T15:30", "2021-10-02T16:00"), (5, "2021-10-02T16:00", "2021-10-02T16:30")],
        id="lord-howe-half-hourly-empty-shift-in-missing-half-hour",
    ),
    pytest.param(
        "Australia/Lord_Howe", "PT1H", "2021-04-04T00:00", (1, 2, 3),
        ("2021-04-03T13:00", "2021-04-03T16:30"),
        [(1, "2021-04-03T13:00", "2021-04-03T14:00"), (2, "2021-04-03T14:00", "2021-04-03T15:30"),
         (3, "2021-04-03T15:30", "2021-04-03T16:30")],
        id="lord-howe-hourly-repeated-half-hour",
    ),
    pytest.param(
        "Australia/Lord_Howe", "P1D", "2021-04-03T01:45", (1, 2, 3), ("2021-04-02T14:45", "2021-04-05T15:15"),
        [(1, "2021-04-02T14:45", "2021-04-03T14:45"), (2, "2021-04-03T14:45", "2021-04-04T15:15"),
         (3, "2021-04-04T15:15", "2021-04-05T15:15")],
        id="lord-howe-daily-handoff-in-repeated-half-hour",
    ),
    pytest.param(
        "Australia/Lord_Howe", "P7D", "2021-09-26T02:30", (1, 2), ("2021-09-25T16:00", "2021-10-09T15:30"),
        [(1, "2021-09-25T16:00", "2021-10-02T15:30"), (2, "2021-10-02T15:30", "2021-10-09T15:30")],
        id="lord-howe-weekly-handoff-at-end-of-missing-half-hour",
    ),
    pytest.param(
        "Asia/Kolkata", "PT7H", "2021-01-01T00:00", (1, 2, 3), ("2020-12-31T18:30", "2021-01-01T22:30"),
        [(1, "2020-12-31T18:30", "2021-01-01T01:30"), (2, "2021-01-01T01:30", "2021-01-01T08:30"),
         (3, "2021-01-01T08:30", "2021-01-01T15:30"), (1, "2021-01-01T15:30", "2021-01-01T22:30")],
        id="kolkata-odd-rotation-no-dst",
    ),
]


@pytest.mark.parametrize(("zone", "rotation", "starts_on", "users", "window", "expected"), ROTATIONS)
def test_rotation_across_dst(
    zone: str, rotation: str, starts_on: str, users: tuple[int, ...], window: tuple[str, str],
    expected: list[tuple[int, str, str]],
) -> None:
    schedule = recurring(zone, layer(users, rotation, starts_on))
    assert shifts(schedule, z(window[0]), z(window[1])) == timeline(*expected)
    for user, start, end in expected:
        assert on_call(schedule, z(start)) == user
        assert on_call(schedule, z(end) - timedelta(microseconds=1)) == user
        assert on_call_shift(schedule, z(start)) == Shift(user, z(start), z(end))


def test_worked_example_daily_handoff_moves_to_end_of_gap_then_returns() -> None:
    # P1D at 02:30: 03:00 CDT on the spring-forward day, 02:30 CDT again the day after.
    daily = layer((1, 2), "P1D", "2021-03-13T02:30")
    instants = [instant for _, instant in handoffs(daily, "America/Chicago", z("2021-03-13T08:30"),
                                                  z("2021-03-15T08:00"))]
    assert instants == [z("2021-03-13T08:30"), z("2021-03-14T08:00"), z("2021-03-15T07:30")]


def test_worked_example_hourly_handoffs_meet_in_gap_and_k_still_counts() -> None:
    hourly = layer((10, 11, 12, 13), "PT1H", "2021-03-14T00:00")
    got = list(handoffs(hourly, "America/Chicago", z("2021-03-14T06:00"), z("2021-03-14T09:00")))
    # 02:00 CST does not exist: hand-offs 2 and 3 both happen at 03:00 CDT.
    assert got == [(0, z("2021-03-14T06:00")), (1, z("2021-03-14T07:00")), (2, z("2021-03-14T08:00")),
                   (3, z("2021-03-14T08:00"))]
    schedule = recurring("America/Chicago", hourly)
    assert on_call(schedule, z("2021-03-14T08:00")) == 13  # users[3 mod 4]
    assert 12 not in {shift.user for shift in shifts(schedule, z("2021-03-14T06:00"), z("2021-03-14T09:00"))}


def test_worked_example_hourly_shift_over_repeated_hour_lasts_two_real_hours() -> None:
    schedule = recurring("America/Chicago", layer((1, 2, 3), "PT1H", "2021-11-07T00:00"))
    expected = Shift(2, z("2021-11-07T06:00"), z("2021-11-07T08:00"))
    assert on_call_shift(schedule, z("2021-11-07T07:30")) == expected


def test_handoffs_start_with_the_running_one_and_resume_far_from_starts_on() -> None:
    daily = layer((1, 2, 3), "P1D", "2020-01-01T09:00")
    got = list(handoffs(daily, zone_info("Europe/Berlin"), z("2043-07-01T12:00"), z("2043-07-03T00:00")))
    days = (datetime(2043, 7, 1) - datetime(2020, 1, 1)).days
    assert got == [(days, z("2043-07-01T07:00")), (days + 1, z("2043-07-02T07:00"))]


def test_far_future_window_computes_users_arithmetically() -> None:
    schedule = recurring("America/Chicago", layer(tuple(range(1, 8)), "P1D", "2020-01-06T09:00"))
    got = shifts(schedule, z("2045-01-02T15:00"), z("2045-01-04T15:00"))
    days = (datetime(2045, 1, 2) - datetime(2020, 1, 6)).days
    assert got == [Shift(days % 7 + 1, z("2045-01-02T15:00"), z("2045-01-03T15:00")),
                   Shift((days + 1) % 7 + 1, z("2045-01-03T15:00"), z("2045-01-04T15:00"))]
