"""When an alert source pages nobody: maintenance windows and support hours, as pure rules.

An incident opened while its source is in a maintenance window, or outside its support hours
when the source says NO_ESCALATION, is held: it opens as usual but pages nobody, and starts
escalating at level 0 when the hold ends: at the first instant no window covers its source (a
chain of windows overlapping or touching is followed to its end) and, with NO_ESCALATION, inside
support hours. Outside support hours with LOW_PRIORITY it opens with LOW priority instead (level 0
only). Incidents opened before a window, and escalating, are not touched by it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal

from ilertd.domain.incidents import HELD, Incident, LogEntry, Transition
from ilertd.domain.local_time import local_to_utc, offset_changes, zone_info
from ilertd.domain.timeutil import format_instant
from ilertd.domain.wording import quoted

WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
OUTSIDE = ("LOW_PRIORITY", "NO_ESCALATION")
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)|24:00")

Outside = Literal["LOW_PRIORITY", "NO_ESCALATION"]


@dataclass(frozen=True)
class MaintenanceWindow:
    id: int
    summary: str
    start: datetime
    end: datetime
    source_ids: frozenset[int]

    def covers(self, source_id: int, at: datetime) -> bool:
        return source_id in self.source_ids and self.start <= at < self.end


@dataclass(frozen=True)
class SupportHours:
    """Weekly local time ranges (end exclusive; "24:00" is the end of the day) in one zone."""

    timezone: str
    days: Mapping[int, tuple[time, time | None]]  # weekday (0 = Monday) -> (start, end; None = 24:00)
    outside: Outside

    def within(self, at: datetime) -> bool:
        local = at.astimezone(zone_info(self.timezone))
        hours = self.days.get(local.weekday())
        if hours is None:
            return False
        start, end = hours
        clock = local.time().replace(tzinfo=None)
        return start <= clock and (end is None or clock < end)

    def next_start(self, after: datetime) -> datetime | None:
        """The first instant at or after `after` inside support hours (None: there are none), as
        `within` reads them: by the local wall clock. Hours begin where a day's start comes round
        (in an hour the clocks repeat, at either pass; in one they skip, at the gap's end, if that
        is still within them) or where the clocks jump back into them. (Only a start's first pass
        was tried: one at 01:30 in the second held the incident a week, and a day the zone skips
        released it on the next day, outside its hours.)"""
        if self.within(after):
            return after
        zone = zone_info(self.timezone)
        local_day = after.astimezone(zone).date()
        # A week on, and a day more for a day the zone skips.
        candidates = offset_changes(zone, after, after + timedelta(days=10))
        for offset in range(10):
            day = local_day + timedelta(days=offset)
            hours = self.days.get(day.weekday())
            if hours is not None:
                begins = datetime.combine(day, hours[0])
                candidates += [begins.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)]
                candidates.append(local_to_utc(begins, zone))
        return next((c for c in sorted(candidates) if c >= after and self.within(c)), None)


@dataclass(frozen=True)
class Hold:
    """Page nobody until `until`; then escalation starts at level 0."""

    until: datetime
    reason: str


@dataclass(frozen=True)
class Opening:
    """What quiet times change about an incident that opens now."""

    hold: Hold | None = None
    priority: Literal["LOW"] | None = None
    note: str | None = None


def quiet_until(source_id: int, windows: Iterable[MaintenanceWindow], hours: SupportHours | None,
                at: datetime) -> datetime:
    """The first instant at or after `at` at which the quiet times of `source_id` hold nothing: no
    window covers it (a window that begins as, or before, another ends carries the hold on: an
    upgrade extended by a second window is one maintenance) and, with NO_ESCALATION support
    hours, they have begun; `at` itself when nothing holds it."""
    windows = [w for w in windows if source_id in w.source_ids]
    until = at
    # Each step passes a window's end or reaches the start of support hours: at most two a window.
    for _ in range(2 * len(windows) + 2):
        ends = [w.end for w in windows if w.covers(source_id, until)]
        if ends:
            until = max(ends)
        elif hours is not None and hours.outside == "NO_ESCALATION" and not hours.within(until):
            starts = hours.next_start(until)
            if starts is None:
                break
            until = starts
        else:
            break
    return until


def covering_window(source_id: int, windows: Iterable[MaintenanceWindow],
                    at: datetime) -> MaintenanceWindow | None:
    """The window covering `source_id` at `at` that runs longest, if any covers it."""
    return max((w for w in windows if w.covers(source_id, at)), key=lambda w: w.end, default=None)


def opening(source_id: int, windows: Iterable[MaintenanceWindow], hours: SupportHours | None,
            now: datetime) -> Opening:
    """How an incident of `source_id` opening at `now` is treated: held by a maintenance window
    (until no window covers its source, see `quiet_until`), held outside support hours (until
    they start), LOW priority outside them, or as usual. A window and LOW_PRIORITY hours both
    apply: held by the window, and LOW (level 0 only) when it ends."""
    low = None
    if hours is not None and hours.outside == "LOW_PRIORITY" and not hours.within(now):
        low = Opening(priority="LOW", note="Opened outside the source's support hours: LOW priority")
    windows = tuple(windows)
    window = covering_window(source_id, windows, now)
    if window is not None:
        held = Hold(quiet_until(source_id, windows, hours, now),
                    f"Opened during maintenance window {quoted(window.summary)}")
        return Opening(held, low.priority, low.note) if low is not None else Opening(held)
    if low is not None:
        return low
    if hours is None or hours.within(now):
        return Opening()
    starts = hours.next_start(now)
    if starts is None:
        return Opening()
    return Opening(Hold(starts, "Opened outside the source's support hours"))


# --- support hours as the API writes them -------------------------------------------------------


def _clock(value: Any, where: str, allow_end_of_day: bool) -> time | None:
    if not isinstance(value, str) or not _CLOCK.fullmatch(value):
        raise ValueError(f"{where} must be a time HH:MM")
    if value == "24:00":
        if not allow_end_of_day:
            raise ValueError(f"{where} must be before 24:00")
        return None
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def parse_support_hours(value: Any) -> SupportHours:
    """`{timezone, supportDays: {MONDAY: {start, end}, ...}, outside}` checked; ValueError says what
    is wrong (its first word is the field)."""
    if not isinstance(value, dict):
        raise ValueError("supportHours must be an object, or null")
    timezone = value.get("timezone")
    if not isinstance(timezone, str):
        raise ValueError("supportHours.timezone must be an IANA time zone name")
    try:
        zone_info(timezone)
    except ValueError as error:
        raise ValueError(f"supportHours.timezone: {error}") from None
    # Enumerated words are taken in any case, as everywhere in the API.
    outside = value.get("outside", "LOW_PRIORITY")
    outside = outside.upper() if isinstance(outside, str) else outside
    if outside not in OUTSIDE:
        raise ValueError(f"supportHours.outside must be one of {', '.join(OUTSIDE)}")
    days_in = value.get("supportDays")
    if not isinstance(days_in, dict) or not days_in:
        raise ValueError("supportHours.supportDays must name at least one day, e.g. {\"MONDAY\": "
                         "{\"start\": \"08:00\", \"end\": \"18:00\"}}")
    days: dict[int, tuple[time, time | None]] = {}
    for name, hours in days_in.items():
        where = f"supportHours.supportDays.{name}"
        day = name.upper() if isinstance(name, str) else name
        if day not in WEEKDAYS:
            raise ValueError(f"{where}: the days are {', '.join(WEEKDAYS)}")
        if not isinstance(hours, dict):
            raise ValueError(f"{where} must be an object {{start, end}}")
        start = _clock(hours.get("start"), f"{where}.start", allow_end_of_day=False)
        end = _clock(hours.get("end"), f"{where}.end", allow_end_of_day=True)
        assert start is not None
        if end is not None and end <= start:
            raise ValueError(f"{where}.end must be after its start (split a night over two days)")
        days[WEEKDAYS.index(day)] = (start, end)
    return SupportHours(timezone, days, outside)


def support_hours_json(hours: SupportHours) -> dict[str, Any]:
    def clock(value: time | None) -> str:
        return "24:00" if value is None else value.strftime("%H:%M")

    return {
        "timezone": hours.timezone,
        "supportDays": {WEEKDAYS[day]: {"start": clock(start), "end": clock(end)}
                        for day, (start, end) in sorted(hours.days.items())},
        "outside": hours.outside,
    }


# --- a hold that moves ----------------------------------------------------------------------


def hold_end(source_id: int, windows: Iterable[MaintenanceWindow], hours: SupportHours | None,
             now: datetime) -> datetime:
    """When a held incident of `source_id` starts escalating by its source's quiet times as they
    are now: at the first instant from `now` on that no window covers its source, however many
    windows follow one another, and NO_ESCALATION support hours have begun (`quiet_until`); `now`
    when nothing holds it any more. A window made after the incident opened holds it on too: it
    was held, and paging it in the middle of maintenance is what the window is there to prevent.
    The priority the incident opened with is kept (a LOW_PRIORITY source releases it at that
    priority)."""
    return quiet_until(source_id, windows, hours, now)


def hold_still(incident: Incident, windows: Iterable[MaintenanceWindow], hours: SupportHours | None,
               now: datetime) -> Transition | None:
    """A held incident whose hold is due, still held when its source's quiet times hold it now: a
    window covers the source (the next of a chain, one made since, one the daemon was stopped
    through the end of the hold into) or NO_ESCALATION support hours have not begun. The moved
    hold; None when the incident is released (or is not held, or not due)."""
    due = incident.next_escalation_at
    if incident.status != "PENDING" or incident.escalation_level != HELD or due is None or due > now:
        return None
    windows = tuple(windows)
    until = quiet_until(incident.alert_source_id, windows, hours, now)
    if until <= now:
        return None
    window = covering_window(incident.alert_source_id, windows, now)
    reason = (f"Maintenance window {quoted(window.summary)} covers the source" if window is not None
              else "Outside the source's support hours")
    return move_hold(incident, until, now, reason)


def move_hold(incident: Incident, until: datetime, now: datetime, reason: str) -> Transition:
    """A held incident's hold ends at `until` instead (now, if that has passed): a maintenance
    window or its source's support hours changed (see `hold_end`). An incident that is not held is
    left as it is."""
    if incident.status != "PENDING" or incident.escalation_level != HELD:
        return Transition(incident)
    ends = max(until, now)
    if ends == incident.next_escalation_at:
        return Transition(incident)
    text = (f"{reason}: escalation starts now" if ends == now
            else f"{reason}: nobody is paged until {format_instant(ends)}")
    return Transition(replace(incident, next_escalation_at=ends), (LogEntry("ESCALATION_HELD", text),))
