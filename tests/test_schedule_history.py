"""Edits that apply from now on, and shift-start reminder plans: pure functions, tables and properties."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ilertd.domain import schedule_history as hist
from ilertd.domain import shift_reminders
from ilertd.domain.schedule_history import History, Version
from ilertd.domain.schedules import Layer, Override, Schedule, Shift
from ilertd.domain.shift_reminders import DutyRule

ANN, BEN, CAT = 1, 2, 3


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def daily(*users: int, starts_on: str = "2026-01-05T10:00", rotation: str = "P1D") -> Schedule:
    layer = Layer("days", users, rotation, datetime.fromisoformat(starts_on))
    return Schedule(1, "primary", "RECURRING", "Europe/Berlin", (layer,))


def test_an_edit_changes_only_what_follows_it() -> None:
    original = History((Version(hist.BEGINNING, daily(ANN, BEN)),))
    edited = hist.edit(original, daily(CAT), utc("2026-01-06T15:00"))
    assert hist.shifts(edited, utc("2026-01-05T00:00"), utc("2026-01-07T12:00")) == [
        Shift(ANN, utc("2026-01-05T09:00"), utc("2026-01-06T09:00")),
        Shift(BEN, utc("2026-01-06T09:00"), utc("2026-01-06T15:00")),
        Shift(CAT, utc("2026-01-06T15:00"), utc("2026-01-07T12:00")),
    ]
    assert hist.on_call(edited, utc("2026-01-06T14:59:59")) == BEN
    assert hist.on_call(edited, utc("2026-01-06T15:00")) == CAT


def test_a_user_on_call_on_both_sides_of_an_edit_keeps_one_shift() -> None:
    original = History((Version(hist.BEGINNING, daily(ANN, BEN)),))
    # The edit makes ann's Monday shift run on until Tuesday 12:00Z, then ben.
    edited = hist.edit(original, daily(ANN, BEN, starts_on="2026-01-05T13:00"), utc("2026-01-05T12:00"))
    assert hist.shifts(edited, utc("2026-01-05T09:00"), utc("2026-01-06T20:00")) == [
        Shift(ANN, utc("2026-01-05T09:00"), utc("2026-01-06T12:00")),
        Shift(BEN, utc("2026-01-06T12:00"), utc("2026-01-06T20:00")),
    ]
    assert hist.on_call_shift(edited, utc("2026-01-05T11:00")) == Shift(
        ANN, utc("2026-01-05T09:00"), utc("2026-01-06T12:00"))
    assert hist.on_call_shift(edited, utc("2026-01-06T11:00")) == Shift(
        ANN, utc("2026-01-05T09:00"), utc("2026-01-06T12:00"))


def test_an_edit_at_the_instant_of_the_last_one_replaces_it() -> None:
    at = utc("2026-01-06T15:00")
    once = hist.edit(History((Version(hist.BEGINNING, daily(ANN)),)), daily(BEN), at)
    twice = hist.edit(once, daily(CAT), at)
    assert [v.schedule.layers[0].users for v in twice.versions] == [(ANN,), (CAT,)]


def test_nothing_is_on_call_before_the_schedule_began() -> None:
    created = utc("2026-01-05T12:00")
    history = hist.edit(History((Version(hist.BEGINNING, daily(ANN, BEN)),), begins=created),
                        daily(CAT), utc("2026-01-06T15:00"))
    assert history.begins == created
    assert hist.shifts(history, utc("2026-01-01T00:00"), utc("2026-01-07T00:00")) == [
        Shift(ANN, created, utc("2026-01-06T09:00")),
        Shift(BEN, utc("2026-01-06T09:00"), utc("2026-01-06T15:00")),
        Shift(CAT, utc("2026-01-06T15:00"), utc("2026-01-07T00:00")),
    ]
    assert hist.shifts(history, utc("2026-01-01T00:00"), created) == []
    assert hist.on_call(history, created - timedelta(microseconds=1)) is None
    assert hist.on_call_shift(history, created - timedelta(microseconds=1)) is None
    assert hist.on_call(history, created) == ANN
    first = Shift(ANN, created, utc("2026-01-06T09:00"))
    assert hist.on_call_shift(history, utc("2026-01-06T08:00")) == first
    assert hist.handoffs(history, utc("2026-01-01T00:00"), created) == 0


def test_a_schedule_stamped_by_a_clock_ahead_pages_as_soon_as_it_exists() -> None:
    """Created by a command whose clock is ahead of the daemon's (another host's, or the real one
    beside the manual clock): paging reads it as in effect now, not nobody on call until then."""
    history = History((Version(hist.BEGINNING, daily(ANN, BEN)),), begins=utc("2026-01-05T12:00"))
    now = utc("2026-01-05T11:59:58")
    assert hist.on_call(history, now) is None
    in_effect = hist.in_effect_at(history, now)
    assert hist.on_call(in_effect, now) == ANN
    assert hist.shifts(in_effect, utc("2026-01-05T00:00"), utc("2026-01-05T12:00")) == [
        Shift(ANN, now, utc("2026-01-05T12:00"))]
    assert hist.in_effect_at(history, utc("2026-01-05T13:00")) is history


def test_an_on_call_older_than_a_year_is_followed_back_to_its_start() -> None:
    """One person on call since 2024 (a schedule made then): on_call_shift looks back a year at
    most, shift_began further; a calendar feed names the event by that start."""
    history = History((Version(hist.BEGINNING, daily(ANN, starts_on="2024-01-01T09:00")),),
                      begins=utc("2023-12-20T00:00"))
    now = utc("2026-01-05T09:00")
    running = hist.on_call_shift(history, now)
    assert running is not None and running.start > utc("2024-01-01T08:00")
    assert hist.shift_began(history, running) == utc("2024-01-01T08:00")


def test_taking_back_an_override_never_reaches_into_the_past() -> None:
    now = utc("2026-01-05T13:00")
    future = Override(1, BEN, utc("2026-01-05T14:00"), utc("2026-01-05T16:00"))
    running = Override(2, BEN, utc("2026-01-05T12:00"), utc("2026-01-05T18:00"))
    over = Override(3, BEN, utc("2026-01-05T10:00"), utc("2026-01-05T12:00"))
    assert hist.end_override(future, now) is None
    assert hist.end_override(running, now) == Override(2, BEN, utc("2026-01-05T12:00"), now)
    with pytest.raises(ValueError, match="past"):
        hist.end_override(over, now)


def next_change(history: History, at: datetime, horizon: timedelta) -> datetime | None:
    return hist.outlook(history, at, at + horizon).next_change


def plan(history: History, rules: dict[int, list[DutyRule]], now: datetime, until: datetime,
         since: datetime | None = None) -> list[shift_reminders.PlannedReminder]:
    starts = hist.outlook(history, now, until + shift_reminders.LONGEST_LEAD, since).starts
    return shift_reminders.plan(starts, rules, now, until)


def test_the_outlook_says_who_is_on_call_the_next_hand_off_and_the_shifts_that_begin() -> None:
    history = History((Version(hist.BEGINNING, daily(ANN, BEN)),))
    seen = hist.outlook(history, utc("2026-01-05T12:00"), utc("2026-01-08T12:00"))
    assert (seen.on_call, seen.next_change) == (ANN, utc("2026-01-06T09:00"))
    # The shift running at `now` is not a start.
    assert [s.start for s in seen.starts] == [utc(f"2026-01-0{d}T09:00") for d in (6, 7, 8)]
    assert next_change(history, utc("2026-01-01T00:00"), timedelta(days=2)) is None  # beyond the horizon
    assert next_change(history, utc("2026-01-01T00:00"), timedelta(days=5)) == utc("2026-01-05T09:00")
    assert hist.outlook(history, utc("2026-01-01T00:00"), utc("2026-01-02T00:00")).on_call is None
    one = History((Version(hist.BEGINNING, daily(ANN)),))
    assert next_change(one, utc("2026-01-05T12:00"), timedelta(days=2)) is None


def test_reminders_are_planned_before_each_shift_start_and_late_ones_are_due_now() -> None:
    history = History((Version(hist.BEGINNING, daily(ANN, BEN)),))
    email = DutyRule(7, BEN, "EMAIL", "ben@example.com", 60)
    sms = DutyRule(8, BEN, "SMS", "+4915100000001", 1440)
    now = utc("2026-01-05T12:00")
    planned = plan(history, {BEN: [email, sms]}, now, now + timedelta(days=1))
    ben_tuesday = Shift(BEN, utc("2026-01-06T09:00"), utc("2026-01-07T09:00"))
    # The 1440-minute SMS for Tuesday was due on Monday 09:00Z, before `now`: it is due now.
    assert [(p.rule.id, p.shift, p.due_at) for p in planned] == [
        (8, ben_tuesday, now),
        (7, ben_tuesday, utc("2026-01-06T08:00")),
    ]
    assert all(shift_reminders.still_due(history, p, [email, sms]) for p in planned)
    # Once the rule changed, or someone else took the shift, a planned reminder no longer stands.
    moved = DutyRule(7, BEN, "EMAIL", "new@example.com", 60)
    assert not shift_reminders.still_due(history, planned[1], [moved])
    swapped = hist.edit(history, daily(ANN), now)
    assert not shift_reminders.still_due(swapped, planned[1], [email, sms])


def test_a_shift_already_running_gets_no_reminder() -> None:
    history = History((Version(hist.BEGINNING, daily(ANN, BEN)),))
    rule = DutyRule(7, ANN, "EMAIL", "ann@example.com", 0)
    now = utc("2026-01-05T12:00")
    planned = plan(history, {ANN: [rule]}, now, now + timedelta(hours=23))
    assert planned == []


USERS = st.lists(st.sampled_from([ANN, BEN, CAT]), min_size=1, max_size=3).map(tuple)
HOURS = st.integers(min_value=0, max_value=24 * 20)


@settings(max_examples=60, deadline=None)
@given(first=USERS, second=USERS, third=USERS, edits=st.lists(HOURS, min_size=2, max_size=2, unique=True),
       start=HOURS, length=HOURS, cut=st.floats(min_value=0, max_value=1))
def test_history_timelines_are_contiguous_agree_with_on_call_and_split_cleanly(
    first: tuple[int, ...], second: tuple[int, ...], third: tuple[int, ...], edits: list[int],
    start: int, length: int, cut: float,
) -> None:
    base = utc("2026-03-20T00:00")  # Berlin's spring change falls inside the windows
    history = History((Version(hist.BEGINNING, daily(*first)),))
    for hours, users in zip(sorted(edits), (second, third), strict=True):
        history = hist.edit(history, daily(*users, rotation="PT8H", starts_on="2026-03-19T07:00"),
                            base + timedelta(hours=hours))
    low = base + timedelta(hours=start)
    high = low + timedelta(hours=length)
    timeline = hist.shifts(history, low, high)
    for before, after in itertools.pairwise(timeline):
        assert before.end <= after.start
        assert before.end < after.start or before.user != after.user
    for shift in timeline:
        assert low <= shift.start < shift.end <= high
        assert hist.on_call(history, shift.start) == shift.user
        assert hist.on_call(history, shift.end - timedelta(microseconds=1)) == shift.user
    middle = low + (high - low) * cut
    halves = hist.shifts(history, low, middle) + hist.shifts(history, middle, high)
    merged: list[Shift] = []
    for shift in halves:
        if merged and merged[-1].end == shift.start and merged[-1].user == shift.user:
            merged[-1] = Shift(shift.user, merged[-1].start, shift.end)
        else:
            merged.append(shift)
    assert merged == timeline


def test_a_before_min_0_reminder_is_planned_at_the_hand_off_itself() -> None:
    history = History((Version(hist.BEGINNING, daily(ANN, BEN)),))
    rule = DutyRule(9, BEN, "PUSH", "ben", 0)
    handoff = utc("2026-01-06T09:00")
    planned = plan(history, {BEN: [rule]}, handoff, handoff + timedelta(hours=1))
    assert [(p.shift.start, p.due_at) for p in planned] == [(handoff, handoff)]
    later = handoff + timedelta(seconds=1)
    assert plan(history, {BEN: [rule]}, later, later + timedelta(hours=1)) == []


def test_a_plan_made_by_a_late_timer_goes_on_from_where_the_last_one_ended() -> None:
    history = History((Version(hist.BEGINNING, daily(ANN, BEN)),))
    rule = DutyRule(9, BEN, "PUSH", "ben", 0)
    handoff = utc("2026-01-06T09:00")
    late = handoff + timedelta(milliseconds=40)
    planned = plan(history, {BEN: [rule]}, late, late + timedelta(hours=1), since=handoff)
    assert [(p.shift.start, p.due_at) for p in planned] == [(handoff, late)]
