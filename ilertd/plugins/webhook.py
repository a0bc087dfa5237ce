"""The generic JSON webhook as a built-in plugin: any JSON body, mapped by its alert source's fieldMapping.

The source's `fieldMapping` names, for each of summary, details, alertKey, eventType and
priority, the JSON pointer (RFC 6901) of the body that holds it. docs/integrations/webhook.md
has the rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ilertd import hookimpl
from ilertd.domain.events import MAX_ALERT_KEY, MAX_DETAILS, MAX_SUMMARY, Event, EventType, Priority
from ilertd.errors import ApiError
from ilertd.hookspecs import Integration, IntegrationRequest
from ilertd.plugins.payloads import clip, invalid_payload, priority_for

NAME = "webhook"
EVENT_TYPES: dict[str, EventType] = {
    "alert": "ALERT", "firing": "ALERT", "triggered": "ALERT", "trigger": "ALERT", "problem": "ALERT",
    "alerting": "ALERT",
    "accept": "ACCEPT", "accepted": "ACCEPT", "acknowledge": "ACCEPT", "acknowledged": "ACCEPT",
    "resolve": "RESOLVE", "resolved": "RESOLVE", "ok": "RESOLVE", "recovered": "RESOLVE",
    "recovery": "RESOLVE",
    "comment": "COMMENT",
}
PRIORITIES: dict[str, Priority] = {
    "high": "HIGH", "critical": "HIGH",
    "low": "LOW", "warning": "LOW", "info": "LOW",
}
# Event types whose event is nothing without a summary (a COMMENT's summary is its comment).
NEEDS_SUMMARY: tuple[EventType, ...] = ("ALERT", "COMMENT")
ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")


class PointerError(Exception):
    """A JSON pointer that is not well formed (RFC 6901 §3), or that matches nothing in a document."""


class NoMatch(PointerError):
    """A well-formed pointer that names nothing in the document."""


def pointer_tokens(pointer: str) -> list[str]:
    """The reference tokens of a JSON pointer, unescaped: "/a~1b/~0c/0" → ["a/b", "~c", "0"]."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PointerError(f"JSON pointer {pointer!r} must be empty or start with '/'")
    tokens = []
    for token in pointer[1:].split("/"):
        if re.search(r"~(?![01])", token):
            raise PointerError(f"JSON pointer {pointer!r} has a '~' not followed by 0 or 1")
        # ~1 first: "~01" is the token "~1", not "/".
        tokens.append(token.replace("~1", "/").replace("~0", "~"))
    return tokens


def resolve_pointer(document: Any, pointer: str) -> Any:
    """The value `pointer` (RFC 6901) names in `document`; NoMatch if it names nothing there."""
    value = document
    for depth, token in enumerate(pointer_tokens(pointer)):
        if isinstance(value, dict):
            if token not in value:
                raise NoMatch(f"no member {token!r} at token {depth + 1}")
            value = value[token]
        elif isinstance(value, list):
            # "-" (the element after the last) and "01" are well formed but name no element.
            if not ARRAY_INDEX.fullmatch(token) or int(token) >= len(value):
                raise NoMatch(f"no element {token!r} in an array of {len(value)} at token {depth + 1}")
            value = value[int(token)]
        else:
            raise NoMatch(f"token {depth + 1} ({token!r}) goes into a {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _invalid(message: str) -> ApiError:
    return invalid_payload(message, NAME)


class MappedBody:
    """A body read through a source's fieldMapping: each field's value, or a 400 naming field and pointer."""

    def __init__(self, body: Any, mapping: Mapping[str, str]) -> None:
        self.body = body
        self.mapping = mapping

    def mapped(self, field_name: str) -> bool:
        return field_name in self.mapping

    def where(self, field_name: str) -> str:
        return f"fieldMapping.{field_name} {self.mapping[field_name]!r}"

    def value(self, field_name: str, needed: bool = True) -> Any:
        """The value the field's pointer names; None if not mapped, or if it matches nothing and the
        field is not `needed`, else a 400 naming the field and its pointer."""
        if not self.mapped(field_name):
            return None
        try:
            return resolve_pointer(self.body, self.mapping[field_name])
        except NoMatch as error:
            if not needed:
                return None
            raise _invalid(f"{self.where(field_name)} matches nothing in the body ({error})") from None
        except PointerError as error:
            raise _invalid(f"fieldMapping.{field_name}: {error}") from None

    def text(self, field_name: str, needed: bool = True) -> str | None:
        """The field's value as text (a number or boolean as JSON writes it); None for null."""
        value = self.value(field_name, needed)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, bool | int | float):
            return json.dumps(value)
        raise _invalid(f"{self.where(field_name)} is an {_kind(value)}, not a string or number")


def event_type(body: MappedBody) -> EventType:
    """The mapped eventType, case-insensitive, with the common words tools use; ALERT if not mapped."""
    if not body.mapped("eventType"):
        return "ALERT"
    text = body.text("eventType")
    kind = EVENT_TYPES.get((text or "").strip().lower())
    if kind is None:
        raise _invalid(f"eventType {text!r} ({body.where('eventType')}) is not one of ALERT, ACCEPT, "
                       "RESOLVE, COMMENT (or firing, triggered, problem, resolved, ok, recovered, "
                       "acknowledged)")
    return kind


def priority(body: MappedBody) -> Priority | None:
    """The mapped priority; none (the alert source's) if not mapped or null."""
    text = body.text("priority")
    if text is None:
        return None
    found = priority_for(text, PRIORITIES)
    if found is None:
        raise _invalid(f"priority {text!r} ({body.where('priority')}) is not one of HIGH, LOW "
                       "(or critical, warning, info)")
    return found


def summary(body: MappedBody, kind: EventType) -> str | None:
    needed = kind in NEEDS_SUMMARY
    if needed and not body.mapped("summary"):
        raise _invalid(f"the alert source has no fieldMapping for summary, which {kind} events need")
    text = body.text("summary", needed)
    if needed and not (text and text.strip()):
        raise _invalid(f"summary ({body.where('summary')}) is empty, and {kind} events need one")
    return clip(text, MAX_SUMMARY) if text else None


def details(body: MappedBody, needed: bool) -> str | None:
    """The mapped details; an object or array is shown as its JSON."""
    value = body.value("details", needed)
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    return clip(text, MAX_DETAILS)


def alert_key(body: MappedBody, kind: EventType) -> str | None:
    """The mapped alertKey; an ALERT without one opens an incident of its own (a generated key)."""
    text = body.text("alertKey")
    key = text.strip() if text and text.strip() else None
    if kind != "ALERT" and key is None:
        why = (f"{body.where('alertKey')} is null or empty" if body.mapped("alertKey")
               else "the alert source has no fieldMapping for alertKey")
        raise _invalid(f"{kind} events need an alertKey to find their incident, and {why}")
    if key is not None and len(key) > MAX_ALERT_KEY:
        raise _invalid(f"alertKey ({body.where('alertKey')}) must be at most {MAX_ALERT_KEY} characters")
    return key


def parse_body(body: Any, mapping: Mapping[str, str]) -> list[Event]:
    """Any JSON body → its one event, through the source's fieldMapping.

    ALERT and COMMENT events read every mapped field, and a pointer that matches nothing is a 400.
    ACCEPT and RESOLVE need only eventType and alertKey: their summary and details are taken when
    their pointers match (a tool's resolve body often lacks the title) and priority is not read."""
    mapped = MappedBody(body, mapping)
    kind = event_type(mapped)
    complete = kind in NEEDS_SUMMARY
    return [Event(
        event_type=kind,
        alert_key=alert_key(mapped, kind),
        summary=summary(mapped, kind),
        details=details(mapped, needed=complete),
        priority=priority(mapped) if kind == "ALERT" else None,
    )]


def parse(request: IntegrationRequest) -> list[Event]:
    mapping = request.source.field_mapping if request.source is not None else None
    return parse_body(request.json(), mapping or {})


INTEGRATION = Integration(name=NAME, integration_type="WEBHOOK", parse=parse, description="any JSON body,"
                          " mapped by the alert source's fieldMapping (JSON pointers)")


@hookimpl
def register_integrations() -> list[Integration]:
    return [INTEGRATION]
