"""Property tests of ilertd.domain.schedules: random schedules across DST, checked against a slow oracle."""

from __future__ import annotations

import functools
import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

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
from ilertd.domain.timeutil import parse_duration

ZONES = ["America/Chicago", "Europe/Berlin", "Australia/Lord_Howe", "UTC", "Asia/Kolkata"]
ROTATIONS = ["PT30M", "PT1H", "PT2H", "PT7H", "PT8H", "PT12H", "PT25H", "P1D", "P1DT12H", "P2D", "P7D", "P1W",
             "P14D"]
USERS = st.integers(min_value=1, max_value=6)
TICK = timedelta(microseconds=1)

# Local dates of the DST changes of 2020-2023, where the interesting cases live.
TRANSITION_DAYS: dict[str, list[date]] = {
    zone: [date(year, month, day) for year, month, day in days]
    for zone, days in {
        "America/Chicago": [(2020, 3, 8), (2020, 11, 1), (2021, 3, 14), (2021, 11, 7), (2022, 3, 13),
                            (2022, 11, 6), (2023, 3, 12), (2023, 11, 5)],
        "Europe/Berlin": [(2020, 3, 29), (2020, 10, 25), (2021, 3, 28), (2021, 10, 31), (2022, 3, 27),
                          (2022, 10, 30), (2023, 3, 26), (2023, 10, 29)],
        "Australia/Lord_Howe": [(2020, 4, 5), (2020, 10, 4), (2021, 4, 4), (2021, 10, 3), (2022, 4, 3),
                                (2022, 10, 2), (2023, 4, 2), (2023, 10, 1)],
        "UTC": [],
        "Asia/Kolkata": [],
    }.items()
}

# Local times around the skipped and repeated ones (Chicago 01:00-03:00 for either change, Berlin
# 02:00-03:00, Lord Howe 01:30-02:30), a quarter of an hour wider on each side.
CHANGING_HOURS = {
    "America/Chicago": (time(0, 45), time(3, 15)),
    "Europe/Berlin": (time(1, 45), time(3, 15)),
    "Australia/Lord_Howe": (time(1, 15), time(2, 45)),
}

# Quarter hours, so that hand-offs and windows land on DST gaps and repeats often; the small hours
# (00:00-03:45) hold every skipped or repeated local time of these zones, so they get extra weight.
quarter_hours = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
small_hours = st.builds(time, st.integers(0, 3), st.sampled_from([0, 15, 30, 45]))
anywhere = st.builds(
    lambda day, moment: datetime.combine(date(2020, 1, 1) + timedelta(days=day), moment),
    st.integers(0, 4 * 365 - 1), quarter_hours,
)


@functools.cache
def local_times(zone: str) -> st.SearchStrategy[datetime]:
    """Local date-times in 2020-2023, many of them on (or a day or two before) a DST change of `zone`."""
    if not TRANSITION_DAYS[zone]:
        return anywhere
    near_change = st.builds(
        lambda day, moment, before: datetime.combine(day - timedelta(days=before), moment),
        st.sampled_from(TRANSITION_DAYS[zone]), st.one_of(small_hours, quarter_hours), st.integers(0, 2),
    )
    return st.one_of(near_change, anywhere)


# Strategies are built once, not in every draw: hypothesis validates each new one, and that had
# been a third of these tests' time.
weekdays = st.sampled_from(list(Weekday))
times_of_day = st.one_of(quarter_hours, small_hours)
user_lists = st.one_of(
    st.integers(2, 4).map(lambda count: tuple(range(1, count + 1))),
    st.lists(USERS, min_size=1, max_size=4).map(tuple),
)
rotations = st.sampled_from(ROTATIONS)
zones = st.sampled_from(ZONES)


@st.composite
def restrictions(draw: st.DrawFn) -> Restriction:
    from_day = draw(weekdays)
    from_time = draw(times_of_day)
    to_day = draw(weekdays)
    to_time = draw(times_of_day)
    # A window from a moment to itself is no window. Discarding the rare case costs nothing, where
    # a filter built in each draw was validated anew: a sixth of these tests' time.
    assume(to_day != from_day or to_time != from_time)
    return Restriction(from_day, from_time, to_day, to_time)


@st.composite
def layers(
    draw: st.DrawFn, zone: str, starts: st.SearchStrategy[datetime] | None = None, most_restrictions: int = 3
) -> Layer:
    starts_on = draw(starts if starts is not None else local_times(zone))
    ends_on = None
    if draw(st.booleans()):
        ends_on = starts_on + timedelta(minutes=15 * draw(st.integers(1, 4 * 24 * 400)))
    return Layer(
        name="layer",
        # Distinct users half the time, so that a wrong rotation index or a misplaced hand-off shows.
        users=draw(user_lists),
        rotation=draw(rotations),
        starts_on=starts_on,
        ends_on=ends_on,
        restrictions=tuple(draw(restriction_lists(most_restrictions))),
    )


@functools.cache
def restriction_lists(most: int) -> st.SearchStrategy[list[Restriction]]:
    return st.lists(restrictions(), max_size=most)


@functools.cache
def layer_stacks(zone: str) -> st.SearchStrategy[list[Layer]]:
    return st.lists(layers(zone), min_size=1, max_size=3)


# Mostly windows of hours to weeks (left alone, hypothesis favours the shortest).
window_minutes = st.one_of(
    st.sampled_from([60, 6 * 60, 24 * 60, 3 * 24 * 60, 7 * 24 * 60, 15 * 24 * 60]),
    st.integers(1, 15 * 24 * 60),
)


def instants_near(anchor: datetime) -> st.SearchStrategy[datetime]:
    return st.integers(-3 * 24 * 60, 20 * 24 * 60).map(lambda minutes: anchor + timedelta(minutes=minutes))


@st.composite
def spans(draw: st.DrawFn, anchor: datetime) -> tuple[datetime, datetime]:
    start = draw(instants_near(anchor))
    return start, start + timedelta(minutes=draw(st.integers(1, 3 * 24 * 60)))


@st.composite
def general_cases(draw: st.DrawFn) -> tuple[Schedule, datetime, datetime]:
    """Any schedule, with a window around a layer's start, its next DST change, or years later."""
    zone = draw(zones)
    stack = tuple(draw(layer_stacks(zone)))
    first = min(layer.starts_on for layer in stack)
    changes = [datetime.combine(day, time(2)) for day in TRANSITION_DAYS[zone] if day >= first.date()]
    anchor = draw(st.one_of(
        st.sampled_from(stack).map(lambda layer: layer.starts_on),
        st.just(changes[0] if changes else first),
        st.integers(1, 4 * 365).map(lambda days: first + timedelta(days=days)),
    ))
    return draw(completed(zone, stack, anchor))


@st.composite
def dst_cases(draw: st.DrawFn) -> tuple[Schedule, datetime, datetime]:
    """Layers whose hand-offs fall in, on or next to a skipped or repeated local time, and a window over it.

    Left to general_cases alone, such hand-offs with several users and a window over them are rare.
    """
    zone = draw(st.sampled_from(sorted(CHANGING_HOURS)))
    change = draw(st.sampled_from(TRANSITION_DAYS[zone]))
    first, last = CHANGING_HOURS[zone]
    # Quarter hours from just before the skipped or repeated local times to just after them.
    moments = [
        (datetime.combine(change, first) + timedelta(minutes=15 * step)).time()
        for step in range((last.hour * 60 + last.minute - first.hour * 60 - first.minute) // 15 + 1)
    ]
    # Days before the change that rotations of every length bring back to the same local time.
    starts = st.builds(
        lambda lag, moment: datetime.combine(change - timedelta(days=lag), moment),
        st.sampled_from([0, 1, 2, 7, 14]), st.sampled_from(moments),
    )
    # Few restrictions and no STATIC schedules here: either would mostly hide the hand-offs.
    stack = tuple(draw(st.lists(layers(zone, starts, most_restrictions=1), min_size=1, max_size=2)))
    return draw(completed(zone, stack, datetime.combine(change, time(2)), static=False))


@st.composite
def completed(
    draw: st.DrawFn, zone: str, stack: tuple[Layer, ...], anchor: datetime, static: bool = True
) -> tuple[Schedule, datetime, datetime]:
    """The schedule of `stack`, with overrides (or as a STATIC one), and a window holding `anchor`."""
    at = anchor.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    # Off the minute now and then, so window edges also fall between hand-offs.
    lead = timedelta(minutes=draw(st.integers(0, 2 * 24 * 60)), microseconds=draw(st.integers(0, 1)))
    start = at - lead
    end = max(at + TICK, start + timedelta(minutes=draw(window_minutes)))
    ids = draw(st.lists(st.integers(1, 20), unique=True, max_size=3))
    overrides = tuple(Override(oid, draw(USERS), *draw(spans(start))) for oid in ids)
    # One schedule in six is STATIC; hypothesis starts from the simplest draws, which stay RECURRING.
    if static and draw(st.integers(0, 5)) == 5:
        count = draw(st.integers(0, 4))
        explicit = tuple(StaticShift(draw(USERS), *draw(spans(start))) for _ in range(count))
        return Schedule(1, "static", "STATIC", zone, stack, explicit, overrides), start, end
    return Schedule(1, "recurring", "RECURRING", zone, stack, (), overrides), start, end


cases = st.one_of(general_cases(), dst_cases())


# -- A slow reference: each instant on its own, no window, no arithmetic shortcuts -------------------


def reference_instant(local: datetime, zone: ZoneInfo) -> datetime:
    """First occurrence of a local time; a skipped one becomes the first minute the clock has passed it."""
    found = [
        instant
        for fold in (0, 1)
        if (instant := local.replace(tzinfo=zone, fold=fold).astimezone(UTC)).astimezone(zone).replace(
            tzinfo=None) == local
    ]
    if found:
        return min(found)
    # Every transition in these zones falls on a whole minute.
    instant = local.replace(tzinfo=zone, fold=1).astimezone(UTC).replace(second=0, microsecond=0)
    while instant.astimezone(zone).replace(tzinfo=None) < local:
        instant += timedelta(minutes=1)
    return instant


def reference_layer_user(layer: Layer, zone: ZoneInfo, at: datetime) -> int | None:
    step = parse_duration(layer.rotation)

    def handoff(k: int) -> datetime:
        return reference_instant(layer.starts_on + k * step, zone)

    if at < handoff(0) or (layer.ends_on is not None and at >= reference_instant(layer.ends_on, zone)):
        return None
    # The shift running at `at` is the one of the last hand-off at or before it: search k by halving.
    high = 1
    while handoff(high) <= at:
        high *= 2
    low = 0
    while high - low > 1:
        middle = (low + high) // 2
        if handoff(middle) <= at:
            low = middle
        else:
            high = middle
    if layer.restrictions and not reference_in_windows(layer.restrictions, zone, at):
        return None
    return layer.users[low % len(layer.users)]


def reference_in_windows(windows: tuple[Restriction, ...], zone: ZoneInfo, at: datetime) -> bool:
    wall = at.astimezone(zone).replace(tzinfo=None)
    this_monday = datetime.combine(wall.date() - timedelta(days=wall.weekday()), time())
    for weeks in range(-2, 2):
        monday = this_monday + timedelta(weeks=weeks)
        for window in windows:
            opens = monday + timedelta(days=window.from_day, hours=window.from_time.hour,
                                       minutes=window.from_time.minute)
            closes = monday + timedelta(days=window.to_day, hours=window.to_time.hour,
                                        minutes=window.to_time.minute)
            if closes <= opens:
                closes += timedelta(weeks=1)
            if reference_instant(opens, zone) <= at < reference_instant(closes, zone):
                return True
    return False


def reference_on_call(schedule: Schedule, at: datetime) -> int | None:
    covering = [(o.id, i, o.user) for i, o in enumerate(schedule.overrides) if o.start <= at < o.end]
    if covering:
        return max(covering)[2]
    if schedule.type == "STATIC":
        return next((s.user for s in reversed(schedule.shifts) if s.start <= at < s.end), None)
    zone = ZoneInfo(schedule.timezone)
    for layer in reversed(schedule.layers):
        user = reference_layer_user(layer, zone, at)
        if user is not None:
            return user
    return None


# -- Properties ----------------------------------------------------------------------------------------


def assert_well_formed(timeline: list[Shift], start: datetime, end: datetime) -> None:
    for shift in timeline:
        assert start <= shift.start < shift.end <= end, shift
        assert shift.start.tzinfo is UTC and shift.end.tzinfo is UTC
    for before, after in itertools.pairwise(timeline):
        assert before.end <= after.start, (before, after)
        assert not (before.end == after.start and before.user == after.user), (before, after)


def join(left: list[Shift], right: list[Shift]) -> list[Shift]:
    if left and right and left[-1].end == right[0].start and left[-1].user == right[0].user:
        return [*left[:-1], Shift(left[-1].user, left[-1].start, right[0].end), *right[1:]]
    return left + right


def sample(items: list[Shift], count: int) -> list[Shift]:
    return items[:: max(1, len(items) // count)]


PROPERTIES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTIES
@given(cases)
def test_timeline_is_sorted_disjoint_merged_and_within_the_window(
    case: tuple[Schedule, datetime, datetime],
) -> None:
    schedule, start, end = case
    assert_well_formed(shifts(schedule, start, end), start, end)


@PROPERTIES
@given(cases, st.data())
def test_timeline_agrees_with_on_call_and_the_reference(
    case: tuple[Schedule, datetime, datetime], data: st.DataObject
) -> None:
    schedule, start, end = case
    timeline = shifts(schedule, start, end)
    changes = [datetime.combine(day, time(2), ZoneInfo(schedule.timezone)).astimezone(UTC)
               for day in TRANSITION_DAYS[schedule.timezone]]
    # Every shift with an edge within a day of a DST change, where mistakes hide, and a sample of the rest.
    near_change = [shift for shift in timeline
                   if any(abs(edge - change) < timedelta(days=1) for edge in (shift.start, shift.end)
                          for change in changes)]
    for shift in [*near_change[:24], *sample(timeline, 8)]:
        middle = shift.start + (shift.end - shift.start) / 2
        for at in (shift.start, middle, shift.end - TICK):
            assert on_call(schedule, at) == shift.user, (shift, at)
            assert reference_on_call(schedule, at) == shift.user, (shift, at)
        # The edges are exact: just outside a shift (within the window) someone else, or nobody, is on call.
        if shift.start > start:
            assert reference_on_call(schedule, shift.start - TICK) != shift.user, shift
        if shift.end < end:
            assert reference_on_call(schedule, shift.end) != shift.user, shift
    edges = [start, *(p for shift in timeline for p in (shift.start, shift.end)), end]
    gaps = [(low, high) for low, high in zip(edges[::2], edges[1::2], strict=True) if low < high]
    for low, high in gaps[:8]:
        fraction = data.draw(st.floats(0, 1, exclude_max=True))
        at = min(low + (high - low) * fraction, high - TICK)
        assert on_call(schedule, at) is None, (low, high, at)
        assert reference_on_call(schedule, at) is None, (low, high, at)
    for fraction in data.draw(st.lists(st.floats(0, 1, exclude_max=True), max_size=4)):
        at = min(start + (end - start) * fraction, end - TICK)
        assert on_call(schedule, at) == reference_on_call(schedule, at), at


@PROPERTIES
@given(cases, st.data())
def test_splitting_the_window_changes_nothing(
    case: tuple[Schedule, datetime, datetime], data: st.DataObject
) -> None:
    schedule, start, end = case
    whole = shifts(schedule, start, end)
    boundaries = [p for shift in whole for p in (shift.start, shift.end) if start < p < end]
    fraction = data.draw(st.floats(0, 1))
    split = data.draw(st.one_of(
        st.just(start + (end - start) * fraction),
        st.sampled_from(boundaries) if boundaries else st.just(start),
        st.just(end),
    ))
    assert join(shifts(schedule, start, split), shifts(schedule, split, end)) == whole


@PROPERTIES
@given(cases, st.data())
def test_on_call_shift_is_the_whole_shift_around_the_instant(
    case: tuple[Schedule, datetime, datetime], data: st.DataObject
) -> None:
    schedule, start, end = case
    timeline = shifts(schedule, start, end)
    inner = [shift for shift in timeline if start < shift.start and shift.end < end]
    if not inner:
        return
    shift = data.draw(st.sampled_from(inner))
    at = shift.start + (shift.end - shift.start) * data.draw(st.floats(0, 1, exclude_max=True))
    assert on_call_shift(schedule, min(at, shift.end - TICK)) == shift
