"""A schedule taken apart for display: each layer's own shifts, the overrides' alone, and "tonight"."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from ilertd.domain import schedules as arithmetic
from ilertd.domain.local_time import local_to_utc
from ilertd.domain.schedule_history import History
from ilertd.domain.schedules import Schedule, Shift


@dataclass(frozen=True)
class Lane:
    """One part of a schedule over a window: a layer as it alone would be on call, or the static shifts."""

    name: str
    shifts: tuple[Shift, ...]


def lanes(history: History, start: datetime, end: datetime) -> list[Lane]:
    """Each layer's own shifts within [start, end), restrictions applied, as if it were the only one.

    Layers are matched by their place in the definition across the versions the window spans (an
    edit made now rules from now on, so a window starting now usually sees only the current one)
    and named as the latest of those versions names them. A STATIC schedule has one lane: its
    static shifts. Overrides are in none of them (see `override_shifts`).
    """
    found: dict[int, list[Shift]] = {}
    names: dict[int, str] = {}
    versions = history.versions
    for index, version in enumerate(versions):
        low = max(version.effective_from, start)
        high = min(versions[index + 1].effective_from, end) if index + 1 < len(versions) else end
        if low >= high:
            continue
        schedule = replace(version.schedule, overrides=())
        if schedule.type == "STATIC":
            parts = [("Static shifts", schedule)]
        else:
            parts = [(layer.name or f"Layer {place + 1}", replace(schedule, layers=(layer,)))
                     for place, layer in enumerate(schedule.layers)]
        for place, (name, alone) in enumerate(parts):
            names[place] = name
            _join(found.setdefault(place, []), arithmetic.shifts(alone, low, high))
    return [Lane(names[place], tuple(found[place])) for place in sorted(found)]


def override_shifts(history: History, start: datetime, end: datetime) -> list[Shift]:
    """The overrides alone within [start, end): where two overlap the newer one, as in the final timeline."""
    if not history.overrides:
        return []
    alone = Schedule(history.current.id, history.current.name, "STATIC", history.current.timezone,
                     overrides=history.overrides)
    return arithmetic.shifts(alone, start, end)


# "Tonight" as an on-call team means it: from the evening to the next morning, local time.
EVENING = time(18)
MORNING = time(9)


def tonight(now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The night in `zone` that is running or comes next, from `now` at the earliest, as UTC instants.

    Before the morning it is the night still running (until this morning); from the morning on,
    this evening until tomorrow morning, starting now once the evening has begun.
    """
    local = now.astimezone(zone)
    evening = local.date() - timedelta(days=1) if local.time() < MORNING else local.date()
    start = local_to_utc(datetime.combine(evening, EVENING), zone)
    end = local_to_utc(datetime.combine(evening + timedelta(days=1), MORNING), zone)
    return max(start, now), end


def _join(timeline: list[Shift], following: list[Shift]) -> None:
    """Append `following` to `timeline`, one shift where the same user runs on across an edit."""
    for shift in following:
        if timeline and timeline[-1].end == shift.start and timeline[-1].user == shift.user:
            timeline[-1] = Shift(shift.user, timeline[-1].start, shift.end)
        else:
            timeline.append(shift)


# A form's start field has no seconds and is pre-filled with the next whole minute: submitted a
# little later it lies in the past, and would be refused however often it was sent again.
OVERRIDE_START_GRACE = timedelta(minutes=5)


def override_start(start: datetime, now: datetime) -> datetime:
    """An override's start as a form means it: one less than OVERRIDE_START_GRACE in the past is
    now (the form was filled in a minute ago); any other is as given (further back is refused)."""
    return now if now - OVERRIDE_START_GRACE < start < now else start
