"""Tests of the spans schedules answer with: ends_on, the on-call shift's reach, clipping, speed."""

from __future__ import annotations

import time as clock
from collections.abc import Callable
from datetime import time, timedelta

import pytest

from ilertd.domain.schedules import ON_CALL_SHIFT_HORIZON, Restriction, Shift, on_call, on_call_shift, shifts
from tests.schedule_builders import BUSINESS_HOURS, DAILY, MON, SUN, WEEKEND, layer, recurring, timeline, z

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
