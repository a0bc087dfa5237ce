"""Schedules as the API writes them: request bodies checked field by field into a stored definition.

A version's `definition` is kept in the store as the normalised API JSON of its layers or static
shifts (users as bare ids), so what a client wrote is what it reads back.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ilertd.app import fields as v
from ilertd.domain import schedules as arithmetic
from ilertd.domain.schedules import Weekday
from ilertd.domain.timeutil import EARLIEST, LATEST, RANGE, format_instant, parse_instant
from ilertd.errors import invalid
from ilertd.store.schedules import to_schedule

MAX_LAYERS = 20
MAX_LAYER_USERS = 100
MAX_RESTRICTIONS = 50
MAX_STATIC_SHIFTS = 2_000
# Shorter rotations would let one request ask for millions of hand-offs in a year's timeline.
SHORTEST_ROTATION = timedelta(minutes=15)
DAYS = tuple(day.name for day in Weekday)


def parse_body(body: dict[str, Any], timezone: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(schedule fields, version definition) from a POST (timezone None) or PUT body.

    A PUT must send the whole schedule, as iLert's does; its timezone, fixed at creation, may be
    repeated but not changed.
    """
    name = v.text(body, "name", required=True)
    kind = v.choice(body, "type", arithmetic.SCHEDULE_TYPES) or "RECURRING"
    zone_name = v.text(body, "timezone", required=timezone is None, max_length=64)
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
    if not isinstance(value, list) or not value:
        raise invalid("scheduleLayers", "a RECURRING schedule needs a non-empty array scheduleLayers")
    if len(value) > MAX_LAYERS:
        raise invalid("scheduleLayers", f"a schedule has at most {MAX_LAYERS} layers")
    return [_layer(item, f"scheduleLayers[{i}]", zone) for i, item in enumerate(value)]


def _layer(value: Any, where: str, zone: ZoneInfo) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(where, f"{where} must be an object")
    name = value.get("name", "")
    if not isinstance(name, str) or len(name) > 255:
        raise invalid(f"{where}.name", f"{where}.name must be a string of at most 255 characters")
    users = value.get("users")
    if not isinstance(users, list) or not users:
        raise invalid(f"{where}.users", f"{where}.users must be a non-empty array of {{id}} objects")
    if len(users) > MAX_LAYER_USERS:
        raise invalid(f"{where}.users", f"a layer has at most {MAX_LAYER_USERS} users")
    ids = [v.ref_id(u, f"{where}.users[{i}]") for i, u in enumerate(users)]
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
    restrictions = value.get("restrictions") or []
    if not isinstance(restrictions, list) or len(restrictions) > MAX_RESTRICTIONS:
        raise invalid(f"{where}.restrictions",
                      f"{where}.restrictions must be an array of at most {MAX_RESTRICTIONS} windows")
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
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
        if parsed is not None and parsed.tzinfo is not None:
            parsed = parsed.astimezone(zone).replace(tzinfo=None)
    except (ValueError, OverflowError):
        parsed = None
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
        if not isinstance(day, str) or day.upper() not in DAYS:
            raise invalid(f"{where}.{end}.dayOfWeek",
                          f"{where}.{end}.dayOfWeek must be one of {', '.join(DAYS)}")
        moment = part.get("time")
        try:
            parsed = time.fromisoformat(moment) if isinstance(moment, str) and len(moment) == 5 else None
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
    if not isinstance(value, list):
        raise invalid("shifts", "a STATIC schedule needs an array shifts")
    if len(value) > MAX_STATIC_SHIFTS:
        raise invalid("shifts", f"a schedule has at most {MAX_STATIC_SHIFTS} static shifts")
    result = []
    for i, item in enumerate(value):
        where = f"shifts[{i}]"
        if not isinstance(item, dict):
            raise invalid(where, f"{where} must be an object {{user, start, end}}")
        user = v.ref_id(item.get("user"), f"{where}.user")
        start = instant(item.get("start"), f"{where}.start")
        end = instant(item.get("end"), f"{where}.end")
        if end <= start:
            raise invalid(f"{where}.end", f"{where}.end must be after its start")
        result.append({"user": user, "start": format_instant(start), "end": format_instant(end)})
    return result


def instant(value: Any, where: str) -> datetime:
    """A body field holding an instant; 400 naming it when missing or malformed."""
    try:
        return parse_instant(value)
    except (ValueError, TypeError):
        raise invalid(where, f"{where} must be an ISO-8601 instant {RANGE}") from None
