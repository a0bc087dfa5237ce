"""Tests of who is on call in a schedule: restrictions, layer precedence, overrides, static shifts."""

from __future__ import annotations

from datetime import time

import pytest

from ilertd.domain.schedules import (
    Layer,
    Override,
    Restriction,
    Schedule,
    Shift,
    StaticShift,
    Weekday,
    on_call,
    on_call_shift,
    shifts,
)
from tests.schedule_builders import BUSINESS_HOURS, DAILY, MON, SUN, WEEKEND, layer, recurring, timeline, z

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


def test_a_layer_is_worked_out_only_where_nothing_above_it_is_on_duty(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A year-long (or one-person) layer above a PT15M one had on_call_shift follow its shift across
    the year, every 15-minute hand-off beneath it computed too: a lookup took seconds, an alert
    paging that schedule timed out (503). The short layer is now asked only for the spans left open."""
    from ilertd.domain import schedules as arithmetic

    asked: list[tuple[str, object, object]] = []
    real = arithmetic.layer_pieces

    def recording(one: Layer, zone: object, start: object, end: object) -> object:
        asked.append((one.rotation, start, end))
        return real(one, zone, start, end)

    monkeypatch.setattr(arithmetic, "layer_pieces", recording)
    short = layer((1, 2), "PT15M", "2026-01-01T09:00")
    weekends = layer((3, 4), "P36525D", "2026-01-01T09:00", restrictions=WEEKEND)
    schedule = recurring("Europe/Berlin", short, weekends,
                         overrides=(Override(1, 5, z("2026-01-07T00:00"), z("2026-01-08T00:00")),))
    found = shifts(schedule, z("2026-01-05T00:00"), z("2026-01-12T00:00"))
    assert [s for s in found if s.user == 5] == [Shift(5, z("2026-01-07T00:00"), z("2026-01-08T00:00"))]
    spans = [(start, end) for rotation, start, end in asked if rotation == "PT15M"]
    # Not under the override, nor the weekend of the layer above (Berlin: 23:00Z Friday to Sunday).
    assert (z("2026-01-07T00:00"), z("2026-01-08T00:00")) not in spans
    assert all(not (start < z("2026-01-08T00:00") and end > z("2026-01-07T00:00")) for start, end in spans)
    assert all(not (start < z("2026-01-11T00:00") and end > z("2026-01-10T00:00")) for start, end in spans)
    # An unbroken on-call is followed a year at most, a century-long rotation too (it reached 2126).
    always = recurring("Europe/Berlin", short, layer((3, 4), "P36525D", "2026-01-01T09:00"))
    asked.clear()
    shift = on_call_shift(always, z("2026-06-01T12:00"))
    assert shift is not None and shift.user == 3
    assert shift.end <= z("2026-06-01T12:00") + arithmetic.ON_CALL_SHIFT_HORIZON
    assert asked and all(rotation != "PT15M" for rotation, _start, _end in asked)
