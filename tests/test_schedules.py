"""Tests of ilertd.domain.schedules: rotations across DST, restrictions, layers, overrides, static shifts."""

from __future__ import annotations

import time as clock
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

import pytest

from ilertd.domain.schedules import (
    ON_CALL_SHIFT_HORIZON,
    Layer,
    Override,
    Restriction,
    Rotation,
    Schedule,
    Shift,
    StaticShift,
    Weekday,
    handoffs,
    on_call,
    on_call_shift,
    parse_rotation,
    shifts,
    validate_schedule,
    zone_info,
)

MON, TUE, WED, THU, FRI, SAT, SUN = Weekday
BUSINESS_HOURS = tuple(Restriction(day, time(9), day, time(17)) for day in (MON, TUE, WED, THU, FRI))
WEEKEND = (Restriction(FRI, time(18), MON, time(8)),)


def z(text: str) -> datetime:
    """A UTC instant written without its zone, so expectations never go through the code under test."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text)


def recurring(zone: str, *layers: Layer, overrides: tuple[Override, ...] = ()) -> Schedule:
    return Schedule(1, "on-call", "RECURRING", zone, layers, (), overrides)


def layer(
    users: tuple[int, ...], rotation: str, starts_on: str, *, ends_on: str | None = None,
    restrictions: tuple[Restriction, ...] = (), name: str = "layer",
) -> Layer:
    return Layer(name, users, rotation, local(starts_on), local(ends_on) if ends_on else None, restrictions)


def timeline(*rows: tuple[int, str, str]) -> list[Shift]:
    return [Shift(user, z(start), z(end)) for user, start, end in rows]


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


RESTRICTIONS = [
    pytest.param(
        "America/Chicago",
        (layer((1, 2), "P7D", "2021-03-08T00:00", restrictions=BUSINESS_HOURS),),
        ("2021-03-08T00:00", "2021-03-22T00:00"),
        [(1, f"2021-03-{day:02}T15:00", f"2021-03-{day:02}T23:00") for day in range(8, 13)]
        + [(2, f"2021-03-{day:02}T14:00", f"2021-03-{day:02}T22:00") for day in range(15, 20)],
        id="business-hours-stay-09-17-local-across-dst",
    ),
    pytest.param(
        "Europe/Berlin",
        (
            layer((1, 2), "P1D", "2021-03-22T00:00", name="night",
                  restrictions=tuple(Restriction(day, time(0), day, time(8)) for day in Weekday)),
            layer((3, 4), "P1D", "2021-03-22T00:00", name="day",
                  restrictions=tuple(Restriction(day, time(8), day, time(16)) for day in Weekday)),
            layer((5, 6), "P1D", "2021-03-22T00:00", name="evening",
                  restrictions=tuple(
                      Restriction(day, time(16), Weekday((day + 1) % 7), time(0)) for day in Weekday
                  )),
        ),
        ("2021-03-26T23:00", "2021-03-28T22:00"),
        [(2, "2021-03-26T23:00", "2021-03-27T07:00"), (4, "2021-03-27T07:00", "2021-03-27T15:00"),
         (6, "2021-03-27T15:00", "2021-03-27T23:00"), (1, "2021-03-27T23:00", "2021-03-28T06:00"),
         (3, "2021-03-28T06:00", "2021-03-28T14:00"), (5, "2021-03-28T14:00", "2021-03-28T22:00")],
        id="follow-the-sun-three-8-hour-windows-short-night-on-dst-day",
    ),
    pytest.param(
        "America/Chicago",
        (layer((9,), "P7D", "2021-03-01T00:00", restrictions=WEEKEND),),
        ("2021-03-10T00:00", "2021-03-24T00:00"),
        [(9, "2021-03-13T00:00", "2021-03-15T13:00"), (9, "2021-03-19T23:00", "2021-03-22T13:00")],
        id="weekend-window-wraps-past-sunday",
    ),
    pytest.param(
        "UTC",
        (layer((1, 2), "P1D", "2021-12-27T00:00", restrictions=(Restriction(SUN, time(22), MON, time(2)),)),),
        ("2021-12-27T00:00", "2022-01-11T00:00"),
        [(1, "2021-12-27T00:00", "2021-12-27T02:00"), (1, "2022-01-02T22:00", "2022-01-03T00:00"),
         (2, "2022-01-03T00:00", "2022-01-03T02:00"), (2, "2022-01-09T22:00", "2022-01-10T00:00"),
         (1, "2022-01-10T00:00", "2022-01-10T02:00")],
        id="window-wrapping-into-monday-across-new-year-splits-at-handoff",
    ),
    pytest.param(
        "Australia/Lord_Howe",
        (layer((7,), "P1D", "2021-09-27T00:00",
               restrictions=tuple(Restriction(day, time(2), day, time(3)) for day in Weekday)),),
        ("2021-10-01T00:00", "2021-10-04T00:00"),
        [(7, "2021-10-01T15:30", "2021-10-01T16:30"), (7, "2021-10-02T15:30", "2021-10-02T16:00"),
         (7, "2021-10-03T15:00", "2021-10-03T16:00")],
        id="window-starting-in-missing-half-hour-is-shorter",
    ),
]


@pytest.mark.parametrize(("zone", "layers", "window", "expected"), RESTRICTIONS)
def test_restrictions(
    zone: str, layers: tuple[Layer, ...], window: tuple[str, str], expected: list[tuple[int, str, str]]
) -> None:
    schedule = recurring(zone, *layers)
    assert shifts(schedule, z(window[0]), z(window[1])) == timeline(*expected)


def test_outside_restriction_windows_nobody_is_on_call() -> None:
    business = layer((1,), "P7D", "2021-03-08T00:00", restrictions=BUSINESS_HOURS)
    schedule = recurring("America/Chicago", business)
    assert on_call(schedule, z("2021-03-09T14:59")) is None
    assert on_call(schedule, z("2021-03-09T15:00")) == 1
    assert on_call(schedule, z("2021-03-13T18:00")) is None  # Saturday
    assert on_call_shift(schedule, z("2021-03-13T18:00")) is None
    tuesday = Shift(1, z("2021-03-09T15:00"), z("2021-03-09T23:00"))
    assert on_call_shift(schedule, z("2021-03-09T18:00")) == tuesday


def test_window_opening_in_the_repeated_hour_is_seen_from_its_second_pass() -> None:
    # Sunday 01:30-04:00 opens at the first 01:30 (06:30Z); at 07:05Z the clock reads 01:05 again, before
    # the opening time on the wall, yet the window has been open for 35 minutes.
    sunday_night = (Restriction(SUN, time(1, 30), SUN, time(4)),)
    schedule = recurring("America/Chicago", layer((1,), "P7D", "2021-11-01T00:00", restrictions=sunday_night))
    assert shifts(schedule, z("2021-11-07T06:00"), z("2021-11-07T07:10")) == timeline(
        (1, "2021-11-07T06:30", "2021-11-07T07:10"))
    assert on_call(schedule, z("2021-11-07T07:05")) == 1
    whole = Shift(1, z("2021-11-07T06:30"), z("2021-11-07T10:00"))
    assert on_call_shift(schedule, z("2021-11-07T07:05")) == whole


PRECEDENCE = [
    pytest.param(
        (layer((1,), "P7D", "2021-03-01T00:00", name="top"),
         layer((2,), "P7D", "2021-03-01T00:00", name="bottom", restrictions=BUSINESS_HOURS)),
        [(1, "2021-03-08T00:00", "2021-03-08T15:00"), (2, "2021-03-08T15:00", "2021-03-08T23:00"),
         (1, "2021-03-08T23:00", "2021-03-09T15:00"), (2, "2021-03-09T15:00", "2021-03-09T23:00"),
         (1, "2021-03-09T23:00", "2021-03-10T00:00")],
        id="bottom-layer-wins-in-its-windows-top-fills-the-rest",
    ),
    pytest.param(
        (layer((1,), "P7D", "2021-03-01T00:00", name="top", restrictions=BUSINESS_HOURS),
         layer((2,), "P7D", "2021-03-01T00:00", name="bottom")),
        [(2, "2021-03-08T00:00", "2021-03-10T00:00")],
        id="bottom-layer-always-on-hides-the-top",
    ),
    pytest.param(
        (layer((1,), "P7D", "2021-03-01T00:00", name="top"),
         layer((2,), "P7D", "2021-03-09T00:00", name="bottom")),
        [(1, "2021-03-08T00:00", "2021-03-09T06:00"), (2, "2021-03-09T06:00", "2021-03-10T00:00")],
        id="bottom-layer-takes-over-from-its-starts-on",
    ),
    pytest.param(
        (layer((1,), "P7D", "2021-03-01T00:00", name="top"),
         layer((2,), "P7D", "2021-03-01T00:00", name="bottom", ends_on="2021-03-09T12:00")),
        [(2, "2021-03-08T00:00", "2021-03-09T18:00"), (1, "2021-03-09T18:00", "2021-03-10T00:00")],
        id="bottom-layer-hands-back-at-its-ends-on",
    ),
    pytest.param(
        (layer((1,), "P7D", "2021-03-01T00:00", name="top", ends_on="2021-03-08T12:00"),
         layer((2,), "P7D", "2021-03-01T00:00", name="bottom", restrictions=BUSINESS_HOURS)),
        [(1, "2021-03-08T00:00", "2021-03-08T15:00"), (2, "2021-03-08T15:00", "2021-03-08T23:00"),
         (2, "2021-03-09T15:00", "2021-03-09T23:00")],
        id="gap-where-no-layer-is-on-duty",
    ),
]


@pytest.mark.parametrize(("layers", "expected"), PRECEDENCE)
def test_layer_precedence(layers: tuple[Layer, ...], expected: list[tuple[int, str, str]]) -> None:
    schedule = recurring("America/Chicago", *layers)
    assert shifts(schedule, z("2021-03-08T00:00"), z("2021-03-10T00:00")) == timeline(*expected)


DAILY = layer((1, 2), "P1D", "2021-03-01T00:00")  # Chicago midnight is 06:00Z before 2021-03-14

OVERRIDES = [
    pytest.param(
        (Override(1, 9, z("2021-03-08T10:00"), z("2021-03-08T14:00")),),
        [(2, "2021-03-08T06:00", "2021-03-08T10:00"), (9, "2021-03-08T10:00", "2021-03-08T14:00"),
         (2, "2021-03-08T14:00", "2021-03-09T06:00"),
         (1, "2021-03-09T06:00", "2021-03-10T06:00")],
        id="override-inside-a-shift-splits-it",
    ),
    pytest.param(
        (Override(1, 9, z("2021-03-09T00:00"), z("2021-03-09T12:00")),),
        [(2, "2021-03-08T06:00", "2021-03-09T00:00"), (9, "2021-03-09T00:00", "2021-03-09T12:00"),
         (1, "2021-03-09T12:00", "2021-03-10T06:00")],
        id="override-across-a-handoff",
    ),
    pytest.param(
        (Override(1, 8, z("2021-03-08T10:00"), z("2021-03-08T14:00")),
         Override(2, 9, z("2021-03-08T12:00"), z("2021-03-08T16:00"))),
        [(2, "2021-03-08T06:00", "2021-03-08T10:00"), (8, "2021-03-08T10:00", "2021-03-08T12:00"),
         (9, "2021-03-08T12:00", "2021-03-08T16:00"), (2, "2021-03-08T16:00", "2021-03-09T06:00"),
         (1, "2021-03-09T06:00", "2021-03-10T06:00")],
        id="overlapping-overrides-newer-wins",
    ),
    pytest.param(
        (Override(5, 9, z("2021-03-08T12:00"), z("2021-03-08T13:00")),
         Override(3, 8, z("2021-03-08T10:00"), z("2021-03-08T16:00"))),
        [(2, "2021-03-08T06:00", "2021-03-08T10:00"), (8, "2021-03-08T10:00", "2021-03-08T12:00"),
         (9, "2021-03-08T12:00", "2021-03-08T13:00"), (8, "2021-03-08T13:00", "2021-03-08T16:00"),
         (2, "2021-03-08T16:00", "2021-03-09T06:00"),
         (1, "2021-03-09T06:00", "2021-03-10T06:00")],
        id="newer-override-wins-whatever-the-order-given",
    ),
    pytest.param(
        (Override(1, 2, z("2021-03-09T06:00"), z("2021-03-09T12:00")),),
        [(2, "2021-03-08T06:00", "2021-03-09T12:00"), (1, "2021-03-09T12:00", "2021-03-10T06:00")],
        id="override-by-the-same-user-merges",
    ),
]


@pytest.mark.parametrize(("overrides", "expected"), OVERRIDES)
def test_overrides(overrides: tuple[Override, ...], expected: list[tuple[int, str, str]]) -> None:
    schedule = recurring("America/Chicago", DAILY, overrides=overrides)
    assert shifts(schedule, z("2021-03-08T06:00"), z("2021-03-10T06:00")) == timeline(*expected)


def test_override_fills_a_gap_and_on_call_shift_reports_the_merged_piece() -> None:
    schedule = recurring(
        "America/Chicago", layer((1,), "P7D", "2021-03-01T00:00", restrictions=BUSINESS_HOURS),
        overrides=(Override(1, 1, z("2021-03-08T23:00"), z("2021-03-09T02:00")),
                   Override(2, 4, z("2021-03-13T12:00"), z("2021-03-13T13:00"))),
    )
    merged = Shift(1, z("2021-03-08T15:00"), z("2021-03-09T02:00"))
    assert on_call_shift(schedule, z("2021-03-09T00:00")) == merged
    assert on_call(schedule, z("2021-03-13T12:30")) == 4
    assert on_call(schedule, z("2021-03-13T13:00")) is None


STATIC = [
    pytest.param(
        (StaticShift(1, z("2021-03-08T00:00"), z("2021-03-08T08:00")),
         StaticShift(2, z("2021-03-08T12:00"), z("2021-03-08T20:00"))),
        (),
        [(1, "2021-03-08T00:00", "2021-03-08T08:00"), (2, "2021-03-08T12:00", "2021-03-08T20:00")],
        id="gaps-between-static-shifts",
    ),
    pytest.param(
        (StaticShift(1, z("2021-03-08T00:00"), z("2021-03-08T08:00")),
         StaticShift(1, z("2021-03-08T08:00"), z("2021-03-08T10:00"))),
        (),
        [(1, "2021-03-08T00:00", "2021-03-08T10:00")],
        id="adjacent-static-shifts-of-one-user-merge",
    ),
    pytest.param(
        (StaticShift(1, z("2021-03-08T00:00"), z("2021-03-08T08:00")),
         StaticShift(2, z("2021-03-08T06:00"), z("2021-03-08T10:00"))),
        (),
        [(1, "2021-03-08T00:00", "2021-03-08T06:00"), (2, "2021-03-08T06:00", "2021-03-08T10:00")],
        id="overlapping-static-shifts-later-wins",
    ),
    pytest.param(
        (StaticShift(1, z("2021-03-07T20:00"), z("2021-03-08T08:00")),),
        (Override(1, 3, z("2021-03-08T04:00"), z("2021-03-08T05:00")),
         Override(2, 4, z("2021-03-08T12:00"), z("2021-03-08T13:00"))),
        [(1, "2021-03-08T00:00", "2021-03-08T04:00"), (3, "2021-03-08T04:00", "2021-03-08T05:00"),
         (1, "2021-03-08T05:00", "2021-03-08T08:00"), (4, "2021-03-08T12:00", "2021-03-08T13:00")],
        id="overrides-on-top-of-static-shifts-clipped-to-window",
    ),
]


@pytest.mark.parametrize(("static", "overrides", "expected"), STATIC)
def test_static_schedules(
    static: tuple[StaticShift, ...], overrides: tuple[Override, ...], expected: list[tuple[int, str, str]]
) -> None:
    # A STATIC schedule ignores its layers, so one is given that would otherwise show.
    schedule = Schedule(2, "static", "STATIC", "Europe/Berlin", (DAILY,), static, overrides)
    assert shifts(schedule, z("2021-03-08T00:00"), z("2021-03-09T00:00")) == timeline(*expected)
    assert on_call(schedule, z("2021-03-08T11:00")) is None


ENDS_ON = [
    pytest.param("2021-03-09T12:00", "2021-03-09T18:00", id="ends-mid-shift"),
    pytest.param("2021-03-14T02:30", "2021-03-14T08:00", id="ends-in-missing-hour-at-end-of-gap"),
    pytest.param("2021-11-07T01:30", "2021-11-07T06:30", id="ends-in-repeated-hour-at-first-occurrence"),
]


@pytest.mark.parametrize(("ends_on", "last_instant"), ENDS_ON)
def test_ends_on(ends_on: str, last_instant: str) -> None:
    schedule = recurring("America/Chicago", layer((1, 2, 3), "PT8H", "2021-03-01T00:00", ends_on=ends_on))
    got = shifts(schedule, z("2021-03-01T00:00"), z("2021-12-01T00:00"))
    assert got[0].start == z("2021-03-01T06:00")
    assert got[-1].end == z(last_instant)
    assert on_call(schedule, z(last_instant) - timedelta(microseconds=1)) is not None
    assert on_call(schedule, z(last_instant)) is None
    assert on_call(schedule, z("2021-03-01T05:59")) is None
    assert shifts(schedule, z(last_instant) + timedelta(hours=1), z(last_instant) + timedelta(days=30)) == []


def test_on_call_shift_of_an_unbroken_on_call_stops_at_the_horizon() -> None:
    schedule = recurring("UTC", layer((5,), "PT8H", "2021-01-01T00:00"))
    at = z("2021-02-01T00:00")
    assert on_call_shift(schedule, at) == Shift(5, z("2021-01-01T00:00"), at + ON_CALL_SHIFT_HORIZON)
    later = z("2024-01-01T00:00")
    reach = ON_CALL_SHIFT_HORIZON
    assert on_call_shift(schedule, later) == Shift(5, later - reach, later + reach)


def test_on_call_shift_merges_consecutive_turns_of_one_user() -> None:
    schedule = recurring("UTC", layer((1, 1, 2), "P1D", "2021-01-01T00:00"))
    two_days = Shift(1, z("2021-01-04T00:00"), z("2021-01-06T00:00"))
    assert on_call_shift(schedule, z("2021-01-05T12:00")) == two_days
    assert on_call_shift(schedule, z("2020-12-31T23:59")) is None


def test_window_is_clipped_and_empty_window_is_empty() -> None:
    schedule = recurring("UTC", DAILY)
    assert shifts(schedule, z("2021-03-02T06:00"), z("2021-03-02T07:00")) == timeline(
        (2, "2021-03-02T06:00", "2021-03-02T07:00"))
    assert shifts(schedule, z("2021-03-02T06:00"), z("2021-03-02T06:00")) == []
    assert shifts(schedule, z("2021-03-03T00:00"), z("2021-03-02T00:00")) == []
    assert shifts(schedule, z("2020-01-01T00:00"), z("2021-03-01T00:00")) == []


def test_ninety_day_window_of_three_restricted_layers_is_fast() -> None:
    schedule = recurring(
        "America/Chicago",
        layer((1, 2, 3), "PT8H", "2020-01-01T00:00", restrictions=BUSINESS_HOURS),
        layer((4, 5, 6, 7), "PT8H", "2020-01-01T03:00", restrictions=WEEKEND),
        layer((8, 9), "PT8H", "2020-01-01T06:00", restrictions=(Restriction(MON, time(0), SUN, time(12)),)),
    )
    start = z("2031-03-01T00:00")
    best = min(_elapsed(lambda: shifts(schedule, start, start + timedelta(days=90))) for _ in range(3))
    # The target is well under 50 ms; the margin keeps a loaded machine from failing the test.
    assert best < 0.25


def _elapsed(call: Callable[[], object]) -> float:
    began = clock.perf_counter()
    call()
    return clock.perf_counter() - began


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
