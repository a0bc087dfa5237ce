"""The schedule model: layers, restrictions, static shifts, overrides and rotations, and their validation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import IntEnum
from functools import lru_cache
from typing import Literal

from ilertd.domain.local_time import aware_utc, zone_info

ScheduleType = Literal["RECURRING", "STATIC"]
SCHEDULE_TYPES: tuple[str, ...] = ("RECURRING", "STATIC")


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
    if match.group("sign") == "+":
        raise ValueError(f"rotation {text!r} carries a sign; write it without one, such as P1D")
    if match.group("sign") == "-":
        raise ValueError(f"rotation {text!r} is negative; a rotation must be positive")
    if days + seconds / 86400 > LONGEST_ROTATION_DAYS:
        raise ValueError(f"rotation {text[:40]!r} is longer than a century")
    return Rotation(days, seconds)


def validate_restriction(restriction: Restriction) -> None:
    for label, day in (("from", restriction.from_day), ("to", restriction.to_day)):
        if not isinstance(day, Weekday):
            raise ValueError(f"restriction {label} day {day!r} is not a Weekday MONDAY..SUNDAY")
    for label, moment in (("from", restriction.from_time), ("to", restriction.to_time)):
        if not isinstance(moment, time) or moment.tzinfo is not None:
            raise ValueError(f"restriction {label} time {moment!r} must be a local time without a zone")
    if week_offset(restriction.from_day, restriction.from_time) == week_offset(
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


@lru_cache(maxsize=1024)
def week_offset(day: Weekday, moment: time) -> timedelta:
    """How far into a Monday-to-Sunday week `day` at `moment` lies."""
    return timedelta(
        days=int(day), hours=moment.hour, minutes=moment.minute, seconds=moment.second,
        microseconds=moment.microsecond,
    )


def _check_span(label: str, start: datetime, end: datetime) -> None:
    if aware_utc(start, f"{label} start") >= aware_utc(end, f"{label} end"):
        raise ValueError(f"{label} ends at {end.isoformat()}, not after its start {start.isoformat()}")
