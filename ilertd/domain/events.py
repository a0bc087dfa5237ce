"""The event a monitoring tool sends, and validation of the native Event API body into one."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from ilertd.errors import ApiError, invalid

EventType = Literal["ALERT", "ACCEPT", "RESOLVE", "COMMENT"]
Priority = Literal["HIGH", "LOW"]
EVENT_TYPES: tuple[EventType, ...] = ("ALERT", "ACCEPT", "RESOLVE", "COMMENT")
PRIORITIES: tuple[Priority, ...] = ("HIGH", "LOW")

MAX_ALERT_KEY = 255
# Hex digits of the digest that ends a folded alert key longer than MAX_ALERT_KEY.
IDENTITY_DIGEST = 32
MAX_SUMMARY = 1024
MAX_DETAILS = 65536
MAX_ITEMS = 50

BodyKind = Literal["text", "choice", "object", "labels", "items"]


@dataclass(frozen=True)
class BodyField:
    """One field of the native Event API body: what `parse_native_event` reads and checks, and what
    the API's OpenAPI document (ilertd.web.openapi) says of it."""

    name: str
    kind: BodyKind
    description: str = ""
    aliases: tuple[str, ...] = ()
    required: bool = False
    choices: tuple[str, ...] = ()
    max_length: int | None = None
    # "items": the string fields of each item, the one each must have, and how many items at most.
    keys: tuple[str, ...] = ()
    needs: str = ""
    max_items: int = MAX_ITEMS


NATIVE_BODY: dict[str, BodyField] = {body_field.name: body_field for body_field in (
    BodyField("integrationKey", "text", "the alert source's key", aliases=("apiKey",), required=True),
    BodyField("eventType", "choice", "any case", choices=EVENT_TYPES, required=True),
    BodyField("summary", "text", "required for ALERT, not blank", max_length=MAX_SUMMARY),
    BodyField("details", "text", max_length=MAX_DETAILS),
    BodyField("alertKey", "text", "trimmed; required for ACCEPT, RESOLVE and COMMENT",
              aliases=("incidentKey",), max_length=MAX_ALERT_KEY),
    BodyField("priority", "choice", "any case; default: the alert source's", choices=PRIORITIES),
    BodyField("images", "items", keys=("src", "href", "alt"), needs="src"),
    BodyField("links", "items", keys=("href", "text"), needs="href"),
    BodyField("customDetails", "object", "any JSON object"),
    BodyField("labels", "labels", "string values"),
    BodyField("comments", "items", "each a COMMENT log entry; a COMMENT event needs comments or a summary",
              keys=("creator", "content"), needs="content"),
)}


@dataclass(frozen=True)
class Comment:
    creator: str
    content: str


@dataclass(frozen=True)
class Event:
    """One event, as every integration maps its tool's payload: the unit the store commits."""

    event_type: EventType
    alert_key: str | None = None
    summary: str | None = None
    details: str | None = None
    priority: Priority | None = None
    images: tuple[Mapping[str, str], ...] = ()
    links: tuple[Mapping[str, str], ...] = ()
    custom_details: Mapping[str, Any] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    comments: tuple[Comment, ...] = ()

    def __post_init__(self) -> None:
        validate_event(self)


def normalize_alert_key(alert_key: str | None) -> str | None:
    """Alert keys are trimmed; an empty one is no key at all."""
    if alert_key is None:
        return None
    trimmed = alert_key.strip()
    return trimmed or None


def alert_key_identity(alert_key: str) -> str:
    """The form in which two keys of one alert source are the same: case-insensitive, at most
    MAX_ALERT_KEY characters like the key (the column holding it is that wide, and PostgreSQL
    refuses longer text). Case folding can lengthen a key ("ß" is "ss"): a folded key too long
    keeps its start and ends in a digest of the whole, so keys that differ anywhere stay apart."""
    folded = alert_key.casefold()
    if len(folded) <= MAX_ALERT_KEY:
        return folded
    digest = hashlib.sha256(folded.encode("utf-8")).hexdigest()[:IDENTITY_DIGEST]
    return f"{folded[:MAX_ALERT_KEY - IDENTITY_DIGEST - 1]}#{digest}"


def validate_event(event: Event) -> None:
    if event.event_type not in EVENT_TYPES:
        raise invalid("eventType", f"eventType must be one of {', '.join(EVENT_TYPES)}")
    if normalize_alert_key(event.alert_key) is None and event.event_type != "ALERT":
        # Only an ALERT may go without one (it opens an incident of a new key).
        raise invalid("alertKey", f"alertKey is required for {event.event_type}")
    if event.event_type == "ALERT" and not (event.summary and event.summary.strip()):
        raise invalid("summary", "summary is required for ALERT")
    if event.event_type == "COMMENT" and not event.comments and not (event.summary and event.summary.strip()):
        raise invalid("comments", "a COMMENT event needs comments (or a summary, taken as its comment)")
    if event.summary is not None and len(event.summary) > MAX_SUMMARY:
        raise invalid("summary", f"summary must be at most {MAX_SUMMARY} characters")
    if event.details is not None and len(event.details) > MAX_DETAILS:
        raise invalid("details", f"details must be at most {MAX_DETAILS} characters")
    key = normalize_alert_key(event.alert_key)
    if key is not None and len(key) > MAX_ALERT_KEY:
        raise invalid("alertKey", f"alertKey must be at most {MAX_ALERT_KEY} characters")
    if event.priority is not None and event.priority not in PRIORITIES:
        raise invalid("priority", "priority must be HIGH or LOW")


def _optional_str(body: Mapping[str, Any], name: str, *aliases: str) -> str | None:
    for key in (name, *aliases):
        if key in body and body[key] is not None:
            value = body[key]
            if not isinstance(value, str):
                raise invalid(key, f"{key} must be a string")
            return value
    return None


def _object_list(body: Mapping[str, Any], spec: BodyField) -> tuple[dict[str, str], ...]:
    name, keys, required = spec.name, spec.keys, spec.needs
    value = body.get(name)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise invalid(name, f"{name} must be an array")
    if len(value) > spec.max_items:
        raise invalid(name, f"{name} may hold at most {spec.max_items} items")
    items: list[dict[str, str]] = []
    for index, item in enumerate(value):
        where = f"{name}[{index}]"
        if not isinstance(item, dict):
            raise invalid(where, f"{where} must be an object")
        entry: dict[str, str] = {}
        for key in keys:
            if item.get(key) is None:
                continue
            if not isinstance(item[key], str):
                raise invalid(f"{where}.{key}", f"{where}.{key} must be a string")
            entry[key] = item[key]
        if required not in entry:
            raise invalid(f"{where}.{required}", f"{where}.{required} is required")
        items.append(entry)
    return tuple(items)


def _object(body: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(name, f"{name} must be an object")
    return value


def parse_native_event(body: object) -> tuple[str, Event]:
    """iLert's Event API body → (integration key, event); every refusal names its field."""
    if not isinstance(body, dict):
        raise ApiError(400, "INVALID_BODY", "the body must be a JSON object")
    spec = NATIVE_BODY
    integration_key = _optional_str(body, "integrationKey", *spec["integrationKey"].aliases)
    if not integration_key:
        raise invalid("integrationKey", "integrationKey is required")
    event_type = body.get("eventType")
    if event_type is None:
        raise invalid("eventType", "eventType is required")
    event_types = spec["eventType"].choices
    if not isinstance(event_type, str) or event_type.upper() not in event_types:
        raise invalid("eventType", f"eventType must be one of {', '.join(event_types)}")
    priority = _optional_str(body, "priority")
    if priority is not None and priority.upper() not in spec["priority"].choices:
        raise invalid("priority", f"priority must be {' or '.join(spec['priority'].choices)}")
    labels = _object(body, "labels")
    for name, value in labels.items():
        if not isinstance(value, str):
            raise invalid(f"labels.{name}", f"labels.{name} must be a string")
    comments: list[Comment] = []
    for entry in _object_list(body, spec["comments"]):
        # A blank one says nothing: left out, where it was an empty COMMENT entry in the log (an
        # ALERT is not refused for it; a COMMENT event with nothing else to say is).
        if entry["content"].strip():
            comments.append(Comment(creator=entry.get("creator", ""), content=entry["content"]))
    event = Event(
        event_type=cast(EventType, event_type.upper()),
        alert_key=normalize_alert_key(_optional_str(body, "alertKey", *spec["alertKey"].aliases)),
        summary=_optional_str(body, "summary"),
        details=_optional_str(body, "details"),
        priority=cast(Priority, priority.upper()) if priority else None,
        images=_object_list(body, spec["images"]),
        links=_object_list(body, spec["links"]),
        custom_details=_object(body, "customDetails"),
        labels=labels,
        comments=tuple(comments),
    )
    return integration_key, event
