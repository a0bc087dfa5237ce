"""Field checks for the API's JSON bodies, whoever sends them: each refusal is a 400 naming the field."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from ilertd.domain.timeutil import RANGE, parse_instant
from ilertd.errors import invalid

# Ids are 64-bit signed integers in the store.
MAX_ID = 2**63 - 1

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_USERNAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


def text(body: dict[str, Any], name: str, *, required: bool = False, max_length: int = 255,
         default: str | None = None) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise invalid(name, f"{name} is required")
        return default
    if not isinstance(value, str):
        raise invalid(name, f"{name} must be a string")
    if required and not value.strip():
        raise invalid(name, f"{name} must not be empty")
    if len(value) > max_length:
        raise invalid(name, f"{name} must be at most {max_length} characters")
    return value


def username(body: dict[str, Any], required: bool) -> str | None:
    value = text(body, "username", required=required, max_length=64)
    if value is not None and not _USERNAME.match(value):
        raise invalid("username", "username may hold letters, digits and . _ @ - (1 to 64)")
    return value


def email(body: dict[str, Any]) -> str | None:
    value = text(body, "email", max_length=254)
    if value and not _EMAIL.match(value):
        raise invalid("email", "email must be an e-mail address")
    return value


def timezone(body: dict[str, Any]) -> str | None:
    value = text(body, "timezone", max_length=64)
    if value is not None:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise invalid("timezone", f"{value!r} is not an IANA time zone") from None
    return value


def choice(body: dict[str, Any], name: str, options: tuple[str, ...]) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or value.upper() not in options:
        raise invalid(name, f"{name} must be one of {', '.join(options)}")
    return value.upper()


def instant_or_null(body: dict[str, Any], name: str) -> tuple[bool, datetime | None]:
    """(present, value): a field that may be set to an instant or cleared with null."""
    if name not in body:
        return False, None
    value = body[name]
    if value is None:
        return True, None
    try:
        return True, parse_instant(value)
    except (ValueError, TypeError):
        raise invalid(name, f"{name} must be null or an ISO-8601 instant {RANGE}") from None


def integer(body: dict[str, Any], name: str, low: int, high: int, default: int | None = None) -> int:
    value = body.get(name, default)
    if value is None:
        raise invalid(name, f"{name} is required")
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(name, f"{name} must be an integer from {low} to {high}")
    return value


def boolean(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise invalid(name, f"{name} must be true or false")
    return value


def ref_id(value: Any, name: str) -> int:
    """`{"id": 3}` → 3; an id the store cannot hold (beyond 64 bits) is refused here."""
    ident = value.get("id") if isinstance(value, dict) else None
    if isinstance(ident, bool) or not isinstance(ident, int) or not -MAX_ID - 1 <= ident <= MAX_ID:
        raise invalid(name, f"{name} must be an object with an integer id")
    return ident


def all_exist(existing: Callable[[list[int]], set[int]], ids: Iterable[int], field: str, what: str) -> None:
    """400 naming `field` and the first id in `ids` that `existing` (a store function: those of the
    ids that name a row) does not return."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return
    known = existing(wanted)
    missing = [i for i in wanted if i not in known]
    if missing:
        raise invalid(field, f"{what} {missing[0]} does not exist")
