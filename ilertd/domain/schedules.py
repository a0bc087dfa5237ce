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

This module stacks layers, static shifts and overrides into that timeline. The types and their
validation are in `schedule_model`, one layer's hand-offs and restriction windows in
`layer_timeline`, and local times as instants in `local_time`; every public name of the three is
importable from here too.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ilertd.domain.layer_timeline import handoffs, layer_pieces
from ilertd.domain.local_time import aware_utc, local_to_utc, zone_info
from ilertd.domain.schedule_model import (
    LONGEST_ROTATION_DAYS,
    SCHEDULE_TYPES,
    Layer,
    Override,
    Restriction,
    Rotation,
    Schedule,
    ScheduleType,
    Shift,
    StaticShift,
    Weekday,
    parse_rotation,
    validate_layer,
    validate_restriction,
    validate_schedule,
)

__all__ = [
    "LONGEST_ROTATION_DAYS",
    "ON_CALL_SHIFT_HORIZON",
    "SCHEDULE_TYPES",
    "Layer",
    "Override",
    "Restriction",
    "Rotation",
    "Schedule",
    "ScheduleType",
    "Shift",
    "StaticShift",
    "Weekday",
    "handoffs",
    "on_call",
    "on_call_shift",
    "parse_rotation",
    "shifts",
    "validate_layer",
    "validate_restriction",
    "validate_schedule",
    "zone_info",
]

# How far on either side of `at` on_call_shift() follows a shift: an unbroken on-call (a
# one-person layer without an end) has no natural end, so its reported extent stops here.
ON_CALL_SHIFT_HORIZON = timedelta(days=366)
# How far on either side on_call_shift() looks first; a shift reaching an edge widens it (doubling).
FIRST_WINDOW = timedelta(days=15)

_TICK = timedelta(microseconds=1)


def on_call(schedule: Schedule, at: datetime) -> int | None:
    """The user on call at the instant `at` (aware), or None in a gap."""
    at = aware_utc(at, "at")
    timeline = shifts(schedule, at, at + _TICK)
    return timeline[0].user if timeline else None


def on_call_shift(schedule: Schedule, at: datetime) -> Shift | None:
    """The merged shift containing `at`, as far as it reaches (within ON_CALL_SHIFT_HORIZON each side)."""
    at = aware_utc(at, "at")
    validate_schedule(schedule)
    zone = zone_info(schedule.timezone)
    earliest = _earliest_duty(schedule, zone)
    if earliest is None or at < earliest:
        return None
    longest = max((parse_rotation(layer.rotation).step for layer in schedule.layers), default=timedelta(0))
    # A whole rotation of the longest layer at once, as most shifts end within one; but no wider
    # than FIRST_WINDOW: a year-long layer beside a PT15M one had the window span its year (or
    # century), every hand-off of the short layer in it, and a lookup took a minute.
    before = after = min(longest + timedelta(days=1), FIRST_WINDOW)
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
    start = aware_utc(start, "start")
    end = aware_utc(end, "end")
    validate_schedule(schedule)
    if end <= start:
        return []
    zone = zone_info(schedule.timezone)
    # Each candidate piece carries a rank; at any instant the highest-ranked piece covering it wins.
    pieces: list[tuple[datetime, datetime, int, int]] = []
    if schedule.type == "RECURRING":
        # From the top layer down, each worked out only where no override or layer above it is on
        # duty: its hand-offs there would never show. A layer on duty throughout (one person, a
        # long rotation) then spares the window every hand-off of a short layer beneath it.
        covered = _union([(max(aware_utc(o.start, "start"), start), min(aware_utc(o.end, "end"), end))
                          for o in schedule.overrides])
        for rank in reversed(range(len(schedule.layers))):
            gaps = _gaps(covered, start, end)
            if not gaps:
                break
            layer = schedule.layers[rank]
            own = [piece for low, high in gaps for piece in layer_pieces(layer, zone, low, high)]
            pieces.extend((s, e, rank, user) for s, e, user in own)
            covered = _union(covered + [(s, e) for s, e, _user in own])
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


def _earliest_duty(schedule: Schedule, zone: ZoneInfo) -> datetime | None:
    """The first instant anyone could be on call, or None when nobody ever is."""
    starts: list[datetime] = [aware_utc(override.start, "override start") for override in schedule.overrides]
    if schedule.type == "RECURRING":
        starts.extend(local_to_utc(layer.starts_on, zone) for layer in schedule.layers)
    else:
        starts.extend(aware_utc(static.start, "static shift start") for static in schedule.shifts)
    return min(starts, default=None)


def _union(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Intervals merged where they touch or overlap, sorted; empty ones left out."""
    merged: list[tuple[datetime, datetime]] = []
    for low, high in sorted(span for span in spans if span[0] < span[1]):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _gaps(covered: list[tuple[datetime, datetime]], start: datetime, end: datetime
          ) -> list[tuple[datetime, datetime]]:
    """What of [start, end) the sorted, merged `covered` leaves open."""
    gaps: list[tuple[datetime, datetime]] = []
    cursor = start
    for low, high in covered:
        if low > cursor:
            gaps.append((cursor, min(low, end)))
        cursor = max(cursor, high)
        if cursor >= end:
            break
    if cursor < end:
        gaps.append((cursor, end))
    return [(low, high) for low, high in gaps if low < high]


def _add_clipped(
    pieces: list[tuple[datetime, datetime, int, int]],
    low: datetime, high: datetime, rank: int, user: int, start: datetime, end: datetime,
) -> None:
    low = max(aware_utc(low, "start"), start)
    high = min(aware_utc(high, "end"), end)
    if low < high:
        pieces.append((low, high, rank, user))
