"""One layer's own timeline: its rotation's hand-offs and who holds each shift, within its restrictions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from ilertd.domain.local_time import aware_utc, local_to_utc, zone_info
from ilertd.domain.schedule_model import Layer, Restriction, parse_rotation, validate_layer, week_offset

_WEEK = timedelta(days=7)


def handoffs(
    layer: Layer, zone: ZoneInfo | str, start: datetime, end: datetime
) -> Iterator[tuple[int, datetime]]:
    """Hand-offs (k, UTC instant) of `layer` whose shifts reach into [start, end).

    From the hand-off running at `start` (or the first one after it) to the last one before `end`
    and before `ends_on`. A hand-off whose shift is empty (it shares its instant with the next one,
    inside a spring-forward gap) is yielded too, since it still counts.
    """
    zone = zone_info(zone) if isinstance(zone, str) else zone
    start = aware_utc(start, "start")
    end = aware_utc(end, "end")
    validate_layer(layer)
    step = parse_rotation(layer.rotation).step
    stop = end if layer.ends_on is None else min(end, local_to_utc(layer.ends_on, zone))
    k = _first_handoff(layer, step, zone, start)
    instant = local_to_utc(layer.starts_on + k * step, zone)
    while instant < stop:
        yield k, instant
        k += 1
        instant = local_to_utc(layer.starts_on + k * step, zone)


def layer_pieces(
    layer: Layer, zone: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[datetime, datetime, int]]:
    """The layer's own shifts within [start, end), restrictions applied: (start, end, user), sorted."""
    step = parse_rotation(layer.rotation).step
    stop = end if layer.ends_on is None else min(end, local_to_utc(layer.ends_on, zone))
    pieces: list[tuple[datetime, datetime, int]] = []
    if len(set(layer.users)) == 1:
        # One person on every hand-off: the hand-offs change nothing, and skipping them keeps a long
        # window (on_call_shift following an unbroken on-call) cheap.
        first = max(local_to_utc(layer.starts_on, zone), start)
        if first < stop:
            pieces.append((first, stop, layer.users[0]))
    else:
        users = layer.users
        k = _first_handoff(layer, step, zone, start)
        begin = local_to_utc(layer.starts_on + k * step, zone)
        while begin < stop:
            following = local_to_utc(layer.starts_on + (k + 1) * step, zone)
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
    while k > 0 and local_to_utc(layer.starts_on + k * step, zone) > start:
        k -= 1
    while local_to_utc(layer.starts_on + (k + 1) * step, zone) <= start:
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
        opens = week_offset(restriction.from_day, restriction.from_time)
        closes = week_offset(restriction.to_day, restriction.to_time)
        spans.append((opens, closes + _WEEK if closes <= opens else closes))
    # A window lasts under a week, so one opening in the week before may still be open.
    monday = datetime.combine(first_local.date() - timedelta(days=first_local.weekday()), time()) - _WEEK
    windows: list[tuple[datetime, datetime]] = []
    while monday < last_local:
        for opens, closes in spans:
            if monday + closes <= first_local or monday + opens >= last_local:
                continue
            low = local_to_utc(monday + opens, zone)
            high = local_to_utc(monday + closes, zone)
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
