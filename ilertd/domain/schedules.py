"""On-call schedules: who is on call when, from rotating layers, restrictions, static shifts and overrides.

A RECURRING schedule is a stack of layers. Each layer rotates through its users: hand-off k
(k = 0, 1, 2, ...) happens at the local wall-clock time `starts_on + k * rotation` in the
schedule's zone, and the shift that begins at hand-off k belongs to `users[k mod len(users)]`.
The rotation is added in local terms: days and weeks add calendar days at the same local time
(so a P1D shift lasts 23 or 25 real hours across a DST change), hours and minutes add local
wall-clock time (PT8H is 8 hours on the local clock). Before `starts_on`, and from `ends_on` on,
the layer is not on duty.

Local times are turned into instants one way everywhere (hand-offs, `ends_on`, restriction
windows): a local time that does not exist (the hour skipped when clocks spring forward) moves to
the next instant that exists, the end of the gap; an ambiguous local time (the hour repeated
when clocks fall back) means its first occurrence. A shift squeezed to nothing by this (two
hand-offs inside the same gap) is dropped, but k still counts, so the users after it keep their
places in the rotation.

Restrictions are weekly windows in local time, from `from_day from_time` up to, not including,
`to_day to_time`; a `to` at or before its `from` in the week wraps past Sunday into the next
week. A layer with restrictions is on duty only inside its windows: the windows clip its shifts
but do not move its hand-offs. A layer without restrictions is always on duty.

The last layer of `layers` is the bottom one and takes precedence wherever it is on duty; the
layers above it fill its gaps in turn (the last on duty wins). Where no layer is on duty there is
a gap: nobody is on call. A STATIC schedule ignores layers: its explicit shifts say who is on call
(where two of them overlap, the later one in `shifts` wins) and the rest is a gap. Overrides sit
above everything in both kinds; where two overlap, the newer one (higher id) wins.

`shifts()` reports the result as a timeline of UTC shifts over a half-open window: sorted,
non-overlapping, one user at a time, adjacent pieces of the same user merged, gaps absent, and
clipped to the window, so the timeline of a window split in two is the two halves joined.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import IntEnum
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ScheduleType = Literal["RECURRING", "STATIC"]
SCHEDULE_TYPES: tuple[str, ...] = ("RECURRING", "STATIC")

# How far on either side of `at` on_call_shift() follows a shift: an unbroken on-call (a
# one-person layer without an end) has no natural end, so its reported extent stops here.
ON_CALL_SHIFT_HORIZON = timedelta(days=366)

_WEEK = timedelta(days=7)
_TICK = timedelta(microseconds=1)


class Weekday(IntEnum):
    """Days as `datetime.weekday()` numbers them, so restriction windows are offsets into a week."""

    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6


@dataclass(frozen=True)
class Restriction:
    """A weekly window of local time in which a layer is on duty; `to` is exclusive and may wrap."""

    from_day: Weekday
    from_time: time
    to_day: Weekday
    to_time: time


@dataclass(frozen=True)
class Layer:
    """A rotation of users; `starts_on` and `ends_on` are naive local date-times in the schedule's zone."""

    name: str
    users: tuple[int, ...]
    rotation: str
    starts_on: datetime
    ends_on: datetime | None = None
    restrictions: tuple[Restriction, ...] = ()


@dataclass(frozen=True)
class StaticShift:
    user: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Override:
    id: int
    user: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Schedule:
    id: int
    name: str
    type: ScheduleType
    timezone: str
    layers: tuple[Layer, ...] = ()
    shifts: tuple[StaticShift, ...] = ()
    overrides: tuple[Override, ...] = ()


@dataclass(frozen=True)
class Shift:
    """One user on call over [start, end), both aware UTC."""

    user: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Rotation:
    """A rotation length: calendar days, then wall-clock seconds, both added to local date-times."""

    days: int
    seconds: int

    @property
    def step(self) -> timedelta:
        # Naive local date-times have no DST, so adding this to one adds calendar days at the same
        # wall-clock time and wall-clock hours on the local clock, as the rules ask.
        return timedelta(days=self.days, seconds=self.seconds)


_ROTATION = re.compile(
    r"^(?P<sign>[-+])?P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


# Longer rotations would reach past the instants the API accepts.
LONGEST_ROTATION_DAYS = 36525


@lru_cache(maxsize=256)
def parse_rotation(text: str) -> Rotation:
    """`PT8H`, `P1D`, `P1W`, `P14D`, `P1DT12H` → Rotation; ValueError saying why for anything else."""
    match = _ROTATION.match(text.strip().upper()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"rotation {text!r} is not an ISO-8601 duration in whole weeks, days, hours, minutes or "
            "seconds, such as PT8H, P1D or P1W"
        )
    parts = {name: int(value) for name, value in match.groupdict().items() if value and name != "sign"}
    if parts.get("years") or parts.get("months"):
        raise ValueError(
            f"rotation {text!r} uses months or years, whose length varies; use weeks or days (P4W, P30D)"
        )
    days = parts.get("weeks", 0) * 7 + parts.get("days", 0)
    seconds = parts.get("hours", 0) * 3600 + parts.get("minutes", 0) * 60 + parts.get("seconds", 0)
    if days == 0 and seconds == 0:
        raise ValueError(f"rotation {text!r} is zero; a rotation must be longer than that")
    if match.group("sign") == "-":
        raise ValueError(f"rotation {text!r} is negative; a rotation must be positive")
    if days + seconds / 86400 > LONGEST_ROTATION_DAYS:
        raise ValueError(f"rotation {text[:40]!r} is longer than a century")
    return Rotation(days, seconds)


def zone_info(name: str) -> ZoneInfo:
    """The IANA zone called `name`; ValueError for a name that is not one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError) as exc:
        raise ValueError(f"unknown time zone {name!r}; expected an IANA name such as Europe/Berlin") from exc


def validate_restriction(restriction: Restriction) -> None:
    for label, day in (("from", restriction.from_day), ("to", restriction.to_day)):
        if not isinstance(day, Weekday):
            raise ValueError(f"restriction {label} day {day!r} is not a Weekday MONDAY..SUNDAY")
    for label, moment in (("from", restriction.from_time), ("to", restriction.to_time)):
        if not isinstance(moment, time) or moment.tzinfo is not None:
            raise ValueError(f"restriction {label} time {moment!r} must be a local time without a zone")
    if _week_offset(restriction.from_day, restriction.from_time) == _week_offset(
        restriction.to_day, restriction.to_time
    ):
        # Equal ends could mean an empty window or the whole week; neither is worth a restriction.
        raise ValueError(
            f"restriction from {restriction.from_day.name} {restriction.from_time} ends where it starts; "
            "use no restrictions for a layer that is always on duty"
        )


def validate_layer(layer: Layer) -> None:
    if not layer.users:
        raise ValueError(f"layer {layer.name!r} has no users")
    for user in layer.users:
        if not isinstance(user, int) or isinstance(user, bool):
            raise ValueError(f"layer {layer.name!r} has a user {user!r} that is not an integer id")
    parse_rotation(layer.rotation)
    if not isinstance(layer.starts_on, datetime) or layer.starts_on.tzinfo is not None:
        raise ValueError(f"layer {layer.name!r} starts_on must be a naive local date-time")
    if layer.ends_on is not None:
        if not isinstance(layer.ends_on, datetime) or layer.ends_on.tzinfo is not None:
            raise ValueError(f"layer {layer.name!r} ends_on must be a naive local date-time")
        if layer.ends_on <= layer.starts_on:
            raise ValueError(
                f"layer {layer.name!r} ends_on {layer.ends_on.isoformat()} is not after its starts_on "
                f"{layer.starts_on.isoformat()}"
            )
    for restriction in layer.restrictions:
        validate_restriction(restriction)


def validate_schedule(schedule: Schedule) -> None:
    """ValueError with a message naming the first thing wrong with `schedule`."""
    if schedule.type not in SCHEDULE_TYPES:
        raise ValueError(f"schedule type {schedule.type!r} is not RECURRING or STATIC")
    zone_info(schedule.timezone)
    for layer in schedule.layers:
        validate_layer(layer)
    for shift in schedule.shifts:
        _check_span("static shift", shift.start, shift.end)
    for override in schedule.overrides:
        _check_span(f"override {override.id}", override.start, override.end)


def on_call(schedule: Schedule, at: datetime) -> int | None:
    """The user on call at the instant `at` (aware), or None in a gap."""
    at = _utc(at, "at")
    timeline = shifts(schedule, at, at + _TICK)
    return timeline[0].user if timeline else None


def on_call_shift(schedule: Schedule, at: datetime) -> Shift | None:
    """The merged shift containing `at`, as far as it reaches (within ON_CALL_SHIFT_HORIZON each side)."""
    at = _utc(at, "at")
    validate_schedule(schedule)
    zone = zone_info(schedule.timezone)
    earliest = _earliest_duty(schedule, zone)
    if earliest is None or at < earliest:
        return None
    longest = max((parse_rotation(layer.rotation).step for layer in schedule.layers), default=timedelta(0))
    before = after = longest + timedelta(days=1)
    while True:
        low = max(at - before, earliest)
        high = at + after
        timeline = shifts(schedule, low, high)
        index = bisect.bisect_right([shift.start for shift in timeline], at) - 1
        if index < 0 or timeline[index].end <= at:
            return None
        found = timeline[index]
        # A shift touching an edge of the window may go on beyond it: widen that side and look again.
        grow_before = found.start == low and low > earliest and before < ON_CALL_SHIFT_HORIZON
        grow_after = found.end == high and after < ON_CALL_SHIFT_HORIZON
        if not (grow_before or grow_after):
            return found
        if grow_before:
            before = min(before * 2, ON_CALL_SHIFT_HORIZON)
        if grow_after:
            after = min(after * 2, ON_CALL_SHIFT_HORIZON)


def shifts(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """The on-call timeline over [start, end): sorted, non-overlapping, merged, gaps absent, in UTC."""
    start = _utc(start, "start")
    end = _utc(end, "end")
    validate_schedule(schedule)
    if end <= start:
        return []
    zone = zone_info(schedule.timezone)
    # Each candidate piece carries a rank; at any instant the highest-ranked piece covering it wins.
    pieces: list[tuple[datetime, datetime, int, int]] = []
    if schedule.type == "RECURRING":
        for rank, layer in enumerate(schedule.layers):
            pieces.extend((s, e, rank, user) for s, e, user in _layer_pieces(layer, zone, start, end))
        base = len(schedule.layers)
    else:
        for rank, static in enumerate(schedule.shifts):
            _add_clipped(pieces, static.start, static.end, rank, static.user, start, end)
        base = len(schedule.shifts)
    newest_last = sorted(range(len(schedule.overrides)), key=lambda i: (schedule.overrides[i].id, i))
    for rank, position in enumerate(newest_last, start=base):
        override = schedule.overrides[position]
        _add_clipped(pieces, override.start, override.end, rank, override.user, start, end)
    return _paint(pieces)


def handoffs(
    layer: Layer, zone: ZoneInfo | str, start: datetime, end: datetime
) -> Iterator[tuple[int, datetime]]:
    """Hand-offs (k, UTC instant) of `layer` whose shifts reach into [start, end).

    From the hand-off running at `start` (or the first one after it) to the last one before `end`
    and before `ends_on`. A hand-off whose shift is empty (it shares its instant with the next one,
    inside a spring-forward gap) is yielded too, since it still counts.
    """
    zone = zone_info(zone) if isinstance(zone, str) else zone
    start = _utc(start, "start")
    end = _utc(end, "end")
    validate_layer(layer)
    step = parse_rotation(layer.rotation).step
    stop = end if layer.ends_on is None else min(end, _to_utc(layer.ends_on, zone))
    k = _first_handoff(layer, step, zone, start)
    instant = _to_utc(layer.starts_on + k * step, zone)
    while instant < stop:
        yield k, instant
        k += 1
        instant = _to_utc(layer.starts_on + k * step, zone)


def _layer_pieces(
    layer: Layer, zone: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[datetime, datetime, int]]:
    """The layer's own shifts within [start, end), restrictions applied: (start, end, user), sorted."""
    step = parse_rotation(layer.rotation).step
    stop = end if layer.ends_on is None else min(end, _to_utc(layer.ends_on, zone))
    pieces: list[tuple[datetime, datetime, int]] = []
    if len(set(layer.users)) == 1:
        # One person on every hand-off: the hand-offs change nothing, and skipping them keeps a long
        # window (on_call_shift following an unbroken on-call) cheap.
        first = max(_to_utc(layer.starts_on, zone), start)
        if first < stop:
            pieces.append((first, stop, layer.users[0]))
    else:
        users = layer.users
        k = _first_handoff(layer, step, zone, start)
        begin = _to_utc(layer.starts_on + k * step, zone)
        while begin < stop:
            following = _to_utc(layer.starts_on + (k + 1) * step, zone)
            finish = min(following, stop)
            lower = max(begin, start)
            # An empty shift (both hand-offs inside one gap) is dropped; k moves on all the same.
            if finish > lower:
                user = users[k % len(users)]
                if pieces and pieces[-1][1] == lower and pieces[-1][2] == user:
                    pieces[-1] = (pieces[-1][0], finish, user)
                else:
                    pieces.append((lower, finish, user))
            k += 1
            begin = following
    if layer.restrictions and pieces:
        return _intersect(pieces, _restriction_windows(layer.restrictions, zone, start, end))
    return pieces


def _first_handoff(layer: Layer, step: timedelta, zone: ZoneInfo, start: datetime) -> int:
    """The last k whose hand-off is at or before `start`, or 0 when the layer starts after it."""
    local = start.astimezone(zone).replace(tzinfo=None)
    # Counting steps on the local clock lands within a DST offset of the answer; the loops below
    # settle the last few steps against real instants instead of walking from k = 0.
    k = max(0, (local - layer.starts_on) // step)
    while k > 0 and _to_utc(layer.starts_on + k * step, zone) > start:
        k -= 1
    while _to_utc(layer.starts_on + (k + 1) * step, zone) <= start:
        k += 1
    return k


def _restriction_windows(
    restrictions: tuple[Restriction, ...], zone: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The union of the weekly windows that reach into [start, end), as sorted UTC intervals."""
    # Local wall-clock time and instants disagree by at most the largest UTC offset change
    # (Pacific/Apia skipped a whole day), so two days of slack on each side finds every window.
    slack = timedelta(days=2)
    first_local = start.astimezone(zone).replace(tzinfo=None) - slack
    last_local = end.astimezone(zone).replace(tzinfo=None) + slack
    spans: list[tuple[timedelta, timedelta]] = []
    for restriction in restrictions:
        opens = _week_offset(restriction.from_day, restriction.from_time)
        closes = _week_offset(restriction.to_day, restriction.to_time)
        spans.append((opens, closes + _WEEK if closes <= opens else closes))
    # A window lasts under a week, so one opening in the week before may still be open.
    monday = datetime.combine(first_local.date() - timedelta(days=first_local.weekday()), time()) - _WEEK
    windows: list[tuple[datetime, datetime]] = []
    while monday < last_local:
        for opens, closes in spans:
            if monday + closes <= first_local or monday + opens >= last_local:
                continue
            low = _to_utc(monday + opens, zone)
            high = _to_utc(monday + closes, zone)
            if high > start and low < end and high > low:
                windows.append((max(low, start), min(high, end)))
        monday += _WEEK
    windows.sort()
    merged: list[tuple[datetime, datetime]] = []
    for low, high in windows:
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _intersect(
    pieces: list[tuple[datetime, datetime, int]], windows: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime, int]]:
    result: list[tuple[datetime, datetime, int]] = []
    i = j = 0
    while i < len(pieces) and j < len(windows):
        low = max(pieces[i][0], windows[j][0])
        high = min(pieces[i][1], windows[j][1])
        if low < high:
            result.append((low, high, pieces[i][2]))
        if pieces[i][1] <= windows[j][1]:
            i += 1
        else:
            j += 1
    return result


def _paint(pieces: list[tuple[datetime, datetime, int, int]]) -> list[Shift]:
    """Flatten ranked pieces: each instant goes to the highest-ranked piece covering it."""
    if not pieces:
        return []
    pieces.sort(key=lambda piece: piece[0])
    points = sorted({p for piece in pieces for p in piece[:2]})
    # Max-heap on rank; pieces that have ended are discarded only when they surface at the top,
    # which is enough because only the top decides who is on call.
    active: list[tuple[int, datetime, int]] = []
    timeline: list[Shift] = []
    index = 0
    for low, high in itertools.pairwise(points):
        while index < len(pieces) and pieces[index][0] <= low:
            _, finish, rank, user = pieces[index]
            heapq.heappush(active, (-rank, finish, user))
            index += 1
        while active and active[0][1] <= low:
            heapq.heappop(active)
        if not active:
            continue
        user = active[0][2]
        if timeline and timeline[-1].end == low and timeline[-1].user == user:
            timeline[-1] = Shift(user, timeline[-1].start, high)
        else:
            timeline.append(Shift(user, low, high))
    return timeline


def _to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """The instant of a naive local date-time: a skipped one moves to the end of the gap, a repeated one
    is its first occurrence."""
    instant = local.replace(tzinfo=zone).astimezone(UTC)  # fold=0: the first occurrence when repeated
    if instant.astimezone(zone).replace(tzinfo=None) == local:
        return instant
    return _gap_end(local, zone)


def _gap_end(local: datetime, zone: ZoneInfo) -> datetime:
    """The transition instant that skips over the non-existent local time `local`."""
    # fold=0 reads a skipped time with the offset before the change (an instant after the change),
    # fold=1 with the offset after it (an instant before): the change lies between the two.
    after = local.replace(tzinfo=zone).astimezone(UTC)
    before = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
    old_offset = local.replace(tzinfo=zone).utcoffset()
    low = before.replace(microsecond=0)
    # Transitions fall on whole seconds, so search the seconds in between for the first with the new offset.
    lo, hi = 0, int((after - low).total_seconds()) + 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (low + timedelta(seconds=mid)).astimezone(zone).utcoffset() == old_offset:
            lo = mid
        else:
            hi = mid
    return low + timedelta(seconds=hi)


@lru_cache(maxsize=1024)
def _week_offset(day: Weekday, moment: time) -> timedelta:
    return timedelta(
        days=int(day), hours=moment.hour, minutes=moment.minute, seconds=moment.second,
        microseconds=moment.microsecond,
    )


def _earliest_duty(schedule: Schedule, zone: ZoneInfo) -> datetime | None:
    """The first instant anyone could be on call, or None when nobody ever is."""
    starts: list[datetime] = [_utc(override.start, "override start") for override in schedule.overrides]
    if schedule.type == "RECURRING":
        starts.extend(_to_utc(layer.starts_on, zone) for layer in schedule.layers)
    else:
        starts.extend(_utc(static.start, "static shift start") for static in schedule.shifts)
    return min(starts, default=None)


def _add_clipped(
    pieces: list[tuple[datetime, datetime, int, int]],
    low: datetime, high: datetime, rank: int, user: int, start: datetime, end: datetime,
) -> None:
    low = max(_utc(low, "start"), start)
    high = min(_utc(high, "end"), end)
    if low < high:
        pieces.append((low, high, rank, user))


def _check_span(label: str, start: datetime, end: datetime) -> None:
    if _utc(start, f"{label} start") >= _utc(end, f"{label} end"):
        raise ValueError(f"{label} ends at {end.isoformat()}, not after its start {start.isoformat()}")


def _utc(value: datetime, label: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{label} must be an aware date-time, got {value!r}")
    return value.astimezone(UTC)
