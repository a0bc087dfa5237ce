"""Schedules as the API writes them: request bodies checked field by field into a stored definition.

A version's `definition` is kept in the store as the normalised API JSON of its layers or static
shifts (users as bare ids), so what a client wrote is what it reads back.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ilertd.app import fields as v
from ilertd.app.schema import ArrayOf, Choice, Instant, ObjectSpec, Text
from ilertd.domain import schedules as arithmetic
from ilertd.domain.schedules import Weekday
from ilertd.domain.timeutil import EARLIEST, LATEST, format_instant
from ilertd.errors import invalid
from ilertd.store.schedules import to_schedule

MAX_LAYERS = 20
MAX_LAYER_USERS = 100
MAX_RESTRICTIONS = 50
MAX_STATIC_SHIFTS = 2_000
# Shorter rotations would let one request ask for millions of hand-offs in a year's timeline.
SHORTEST_ROTATION = timedelta(minutes=15)
_HH_MM = re.compile(r"[0-9]{2}:[0-9]{2}")
DAYS = tuple(day.name for day in Weekday)

_LOCAL = ("a local date-time in the schedule's zone such as 2026-01-05T09:00 (one given with an offset "
          "is converted to the zone)")
# The document's pattern for a rotation; ilertd.domain.schedules.parse_rotation says what it refuses.
_ROTATION = r"^P(?:[0-9]+W)?(?:[0-9]+D)?(?:T(?:[0-9]+H)?(?:[0-9]+M)?(?:[0-9]+S)?)?$"
RESTRICTION_END = ObjectSpec(fields={
    "dayOfWeek": Choice(options=DAYS),
    "time": Text(max_length=5, pattern=r"^[0-9]{2}:[0-9]{2}$", description="HH:MM"),
}, required=("dayOfWeek", "time"))
RESTRICTION = ObjectSpec(fields={"from": RESTRICTION_END, "to": RESTRICTION_END}, required=("from", "to"),
                         description="on duty from..to each week; to is exclusive and may wrap past Sunday")
LAYER = ObjectSpec(fields={
    "name": Text(description='default ""'),
    "users": ArrayOf(item=v.REF, min_items=1, max_items=MAX_LAYER_USERS,
                     description="existing users, in hand-off order"),
    "rotation": Text(max_length=None, pattern=_ROTATION, description="an ISO-8601 duration of weeks, "
                     "days, hours, minutes or seconds, at least PT15M"),
    "startsOn": Text(max_length=None, description=f"{_LOCAL}: the hand-offs' anchor"),
    "endsOn": Text(max_length=None, nullable=True,
                   description=f"{_LOCAL}, after startsOn: off duty from then"),
    "restrictions": ArrayOf(item=RESTRICTION, max_items=MAX_RESTRICTIONS, nullable=True,
                            description="none: always on duty"),
}, required=("users", "rotation", "startsOn"))
INSTANT = Instant()
SHIFT = ObjectSpec(fields={"user": v.REF, "start": INSTANT, "end": Instant(description="after start")},
                   required=("user", "start", "end"))
SCHEDULE_BODY = ObjectSpec(title="ScheduleBody", fields={
    "name": v.NAME,
    "type": Choice(options=arithmetic.SCHEDULE_TYPES, description="default RECURRING"),
    "timezone": Text(max_length=64, description="an IANA time zone, fixed at creation: a PUT may repeat it"),
    "scheduleLayers": ArrayOf(item=LAYER, max_items=MAX_LAYERS, description="RECURRING: 1 or more layers; "
                              "the last is the bottom one and wins where it is on duty"),
    "shifts": ArrayOf(item=SHIFT, max_items=MAX_STATIC_SHIFTS, description="STATIC: the shifts"),
}, required=("name",), on_create=("timezone",), description="A PUT sends the whole schedule: it applies "
   "from now on.")


def parse_body(body: dict[str, Any], timezone: str | None, kind_now: str | None = None
               ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(schedule fields, version definition) from a POST (timezone None) or PUT body.

    A PUT must send the whole schedule, as iLert's does; its timezone and type (`kind_now`), fixed
    at creation, may be repeated but not changed: the versions before the edit are read with the
    schedule's one type, so a new type would rewrite the shifts before now.
    """
    name = SCHEDULE_BODY.read(body, "name")
    kind = SCHEDULE_BODY.read(body, "type") or kind_now or "RECURRING"
    if kind_now is not None and kind != kind_now:
        raise invalid("type", f"type is fixed at creation ({kind_now}): the shifts before now would "
                              "change with it; create a new schedule")
    zone_name = SCHEDULE_BODY.read(body, "timezone", creating=timezone is None)
    if timezone is None:
        assert zone_name is not None
        try:
            arithmetic.zone_info(zone_name)
        except ValueError as error:
            raise invalid("timezone", str(error)) from None
    elif zone_name is not None and zone_name != timezone:
        raise invalid("timezone", f"timezone is fixed at creation ({timezone}); create a new schedule")
    zone = ZoneInfo(zone_name if timezone is None else timezone)  # type: ignore[arg-type]
    if kind == "RECURRING":
        if body.get("shifts"):
            raise invalid("shifts", "shifts belong to STATIC schedules; a RECURRING one has scheduleLayers")
        definition = {"scheduleLayers": _layers(body.get("scheduleLayers"), zone)}
    else:
        if body.get("scheduleLayers"):
            raise invalid("scheduleLayers", "scheduleLayers belong to RECURRING schedules; a STATIC one "
                          "has shifts")
        definition = {"shifts": _static_shifts(body.get("shifts"))}
    fields = {"name": name, "type": kind}
    if timezone is None:
        fields["timezone"] = zone_name
    schedule = to_schedule(0, name or "", kind, zone.key, definition)
    try:
        arithmetic.validate_schedule(schedule)
    except ValueError as error:
        raise invalid("scheduleLayers" if kind == "RECURRING" else "shifts", str(error)) from None
    return fields, definition


def user_ids(definition: dict[str, Any]) -> set[int]:
    ids = {u for layer in definition.get("scheduleLayers", []) for u in layer["users"]}
    return ids | {shift["user"] for shift in definition.get("shifts", [])}


def _layers(value: Any, zone: ZoneInfo) -> list[dict[str, Any]]:
    layers: ArrayOf = SCHEDULE_BODY["scheduleLayers"]
    if not isinstance(value, list) or not value:
        raise invalid("scheduleLayers", "a RECURRING schedule needs a non-empty array scheduleLayers")
    if len(value) > (layers.max_items or len(value)):
        raise invalid("scheduleLayers", f"a schedule has at most {layers.max_items} layers")
    return [_layer(item, f"scheduleLayers[{i}]", zone) for i, item in enumerate(value)]


def _layer(value: Any, where: str, zone: ZoneInfo) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(where, f"{where} must be an object")
    name = value.get("name", "")
    longest = LAYER["name"].max_length
    if not isinstance(name, str) or len(name) > longest:
        raise invalid(f"{where}.name", f"{where}.name must be a string of at most {longest} characters")
    users = value.get("users")
    members: ArrayOf = LAYER["users"]
    if not isinstance(users, list) or len(users) < members.min_items:
        raise invalid(f"{where}.users", f"{where}.users must be a non-empty array of {{id}} objects")
    if len(users) > (members.max_items or len(users)):
        raise invalid(f"{where}.users", f"a layer has at most {members.max_items} users")
    ids = [v.REF.read(u, f"{where}.users[{i}]") for i, u in enumerate(users)]
    rotation = value.get("rotation")
    try:
        step = arithmetic.parse_rotation(rotation).step
    except ValueError as error:
        raise invalid(f"{where}.rotation", str(error)) from None
    if step < SHORTEST_ROTATION:
        raise invalid(f"{where}.rotation", f"{where}.rotation must be at least PT15M")
    starts_on = _local(value.get("startsOn"), f"{where}.startsOn", zone, required=True)
    ends_on = _local(value.get("endsOn"), f"{where}.endsOn", zone, required=False)
    if ends_on is not None and starts_on is not None and ends_on <= starts_on:
        raise invalid(f"{where}.endsOn", f"{where}.endsOn must be after its startsOn")
    restrictions = value.get("restrictions")
    if restrictions is None:
        restrictions = []
    most = LAYER["restrictions"].max_items
    if not isinstance(restrictions, list) or len(restrictions) > most:
        raise invalid(f"{where}.restrictions",
                      f"{where}.restrictions must be an array of at most {most} windows")
    return {
        "name": name,
        "users": ids,
        "rotation": rotation.strip().upper(),
        "startsOn": starts_on.isoformat() if starts_on else None,
        "endsOn": ends_on.isoformat() if ends_on else None,
        "restrictions": [_restriction(r, f"{where}.restrictions[{i}]") for i, r in enumerate(restrictions)],
    }


def _local(value: Any, where: str, zone: ZoneInfo, required: bool) -> datetime | None:
    """A local date-time in the schedule's zone; one written with an offset is converted to it."""
    if value is None:
        if required:
            raise invalid(where, f"{where} is required")
        return None
    repeated = False
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
        if parsed is not None and parsed.tzinfo is not None:
            local = parsed.astimezone(zone)
            # The second pass of an hour the clocks repeat: kept as a local date-time it would be
            # read as the first, an hour earlier, and every hand-off of the layer with it.
            repeated = local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()
            parsed = local.replace(tzinfo=None)
    except (ValueError, OverflowError):
        parsed = None
    if repeated:
        raise invalid(where, f"{where} falls in the second pass of an hour the clocks repeat in {zone.key}, "
                             "which a local date-time cannot name: give another instant")
    if parsed is None:
        raise invalid(where, f"{where} must be a local date-time such as 2026-01-05T09:00")
    if not EARLIEST.year <= parsed.year <= LATEST.year:
        raise invalid(where, f"{where} must lie in the years {EARLIEST.year} to {LATEST.year}")
    return parsed


def _restriction(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(where, f"{where} must be an object with from and to")
    ends = {}
    for end in ("from", "to"):
        part = value.get(end)
        if not isinstance(part, dict):
            raise invalid(f"{where}.{end}", f"{where}.{end} must be an object {{dayOfWeek, time}}")
        day = part.get("dayOfWeek")
        days = RESTRICTION_END["dayOfWeek"].options
        if not isinstance(day, str) or day.upper() not in days:
            raise invalid(f"{where}.{end}.dayOfWeek",
                          f"{where}.{end}.dayOfWeek must be one of {', '.join(days)}")
        moment = part.get("time")
        try:
            # HH:MM alone: fromisoformat also reads "09+01" or "0900Z", and would drop the offset.
            parsed = (time.fromisoformat(moment) if isinstance(moment, str) and _HH_MM.fullmatch(moment)
                      else None)
        except ValueError:
            parsed = None
        if parsed is None:
            raise invalid(f"{where}.{end}.time", f"{where}.{end}.time must be HH:MM")
        ends[end] = {"dayOfWeek": day.upper(), "time": parsed.strftime("%H:%M")}
    if ends["from"] == ends["to"]:
        raise invalid(where, f"{where} ends where it starts; leave out restrictions for a layer "
                      "always on duty")
    return ends


def _static_shifts(value: Any) -> list[dict[str, Any]]:
    shifts: ArrayOf = SCHEDULE_BODY["shifts"]
    if not isinstance(value, list):
        raise invalid("shifts", "a STATIC schedule needs an array shifts")
    if len(value) > (shifts.max_items or len(value)):
        raise invalid("shifts", f"a schedule has at most {shifts.max_items} static shifts")
    result = []
    spans: list[tuple[datetime, datetime, int, int]] = []
    for i, item in enumerate(value):
        where = f"shifts[{i}]"
        if not isinstance(item, dict):
            raise invalid(where, f"{where} must be an object {{user, start, end}}")
        user = SHIFT["user"].read(item.get("user"), f"{where}.user")
        start = instant(item.get("start"), f"{where}.start")
        end = instant(item.get("end"), f"{where}.end")
        if end <= start:
            raise invalid(f"{where}.end", f"{where}.end must be after its start")
        result.append({"user": user, "start": format_instant(start), "end": format_instant(end)})
        spans.append((start, end, user, i))
    # One user on call at a time: where two users' shifts overlap, which of them is paged would
    # be the store's choice, not the operator's (a shift may end as the next begins).
    spans.sort()
    latest: tuple[datetime, datetime, int, int] | None = None
    for span in spans:
        if latest is not None and span[0] < latest[1] and span[2] != latest[2]:
            raise invalid(f"shifts[{span[3]}]", f"shifts[{span[3]}] overlaps shifts[{latest[3]}] "
                          f"(from {format_instant(span[0])} to {format_instant(min(span[1], latest[1]))}): "
                          "a schedule has one user on call at a time")
        if latest is None or span[1] > latest[1]:
            latest = span
    return result


def instant(value: Any, where: str) -> datetime:
    """A body field holding an instant; 400 naming it when missing or malformed."""
    return INSTANT.parse(value, where)
