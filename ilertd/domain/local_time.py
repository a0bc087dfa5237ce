"""Local wall-clock time in a schedule's zone: the zone by name, and local date-times as UTC instants.

A local time that does not exist (the hour skipped when clocks spring forward) moves to the next
instant that exists, the end of the gap; an ambiguous one (the hour repeated when clocks fall back)
means its first occurrence.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone_info(name: str) -> ZoneInfo:
    """The IANA zone called `name`; ValueError for a name that is not one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError) as exc:
        raise ValueError(f"unknown time zone {name!r}; expected an IANA name such as Europe/Berlin") from exc


def local_to_utc(local: datetime, zone: ZoneInfo) -> datetime:
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
    low = before.replace(microsecond=0)
    return _offset_change(zone, low, int((after - low).total_seconds()) + 1)


def _offset_change(zone: ZoneInfo, low: datetime, seconds: int) -> datetime:
    """The first whole second after `low`, within `seconds`, at which the zone's offset is no
    longer the one it has at `low` (transitions fall on whole seconds)."""
    old_offset = low.astimezone(zone).utcoffset()
    lo, hi = 0, seconds
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (low + timedelta(seconds=mid)).astimezone(zone).utcoffset() == old_offset:
            lo = mid
        else:
            hi = mid
    return low + timedelta(seconds=hi)


def aware_utc(value: datetime, label: str) -> datetime:
    """`value` in UTC; ValueError naming it by `label` when it is not an aware date-time."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{label} must be an aware date-time, got {value!r}")
    return value.astimezone(UTC)


def offset_changes(zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """The instants from `start` to `end` at which the zone's offset from UTC changes (searched a
    day at a time, as zones change at most once a day; then to the second, as they change on one)."""
    changes = []
    day = start.replace(microsecond=0)
    while day < end:
        following = day + timedelta(days=1)
        if day.astimezone(zone).utcoffset() != following.astimezone(zone).utcoffset():
            changes.append(_offset_change(zone, day, 86_400))
        day = following
    return [change for change in changes if start <= change <= end]
