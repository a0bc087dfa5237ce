"""Nagios Core notifications as a built-in plugin: the `nagios` integration, and the parser Icinga shares.

The body is what `integrations/nagios/ilertd-notify.py` builds from the notification's
environment macros (docs/integrations/nagios.md lists its fields):

| notification_type | event |
|---|---|
| PROBLEM | ALERT; CRITICAL and DOWN are HIGH, WARNING, UNKNOWN and UNREACHABLE LOW |
| RECOVERY | RESOLVE |
| ACKNOWLEDGEMENT | ACCEPT, the acknowledgement's comment logged with it |
| FLAPPING*, DOWNTIME*, CUSTOM | COMMENT on the open incident, if any (else 2xx, nothing done) |

The alert key is `host` for a host and `host/service` for a service (or the body's `dedup_key`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ilertd import hookimpl
from ilertd.domain.events import (
    MAX_ALERT_KEY,
    MAX_DETAILS,
    MAX_ITEMS,
    MAX_SUMMARY,
    Comment,
    Event,
    EventType,
    Priority,
)
from ilertd.hookspecs import Integration
from ilertd.plugins.payloads import clip, json_parser, string_field

NAME = "nagios"

# Nagios Core's $NOTIFICATIONTYPE$ and Icinga 2's $notification.type$, both upper case.
EVENT_TYPES: dict[str, EventType] = {
    "PROBLEM": "ALERT",
    "RECOVERY": "RESOLVE",
    "ACKNOWLEDGEMENT": "ACCEPT",
    "FLAPPINGSTART": "COMMENT",
    "FLAPPINGSTOP": "COMMENT",
    "FLAPPINGEND": "COMMENT",
    "FLAPPINGDISABLED": "COMMENT",
    "DOWNTIMESTART": "COMMENT",
    "DOWNTIMEEND": "COMMENT",
    "DOWNTIMECANCELLED": "COMMENT",
    "DOWNTIMEREMOVED": "COMMENT",
    "CUSTOM": "COMMENT",
}
# How a COMMENT notification reads in the incident's log.
NOTES = {
    "FLAPPINGSTART": "Flapping started",
    "FLAPPINGSTOP": "Flapping stopped",
    "FLAPPINGEND": "Flapping stopped",
    "FLAPPINGDISABLED": "Flap detection disabled",
    "DOWNTIMESTART": "Downtime started",
    "DOWNTIMEEND": "Downtime ended",
    "DOWNTIMECANCELLED": "Downtime cancelled",
    "DOWNTIMEREMOVED": "Downtime cancelled",
    "CUSTOM": "Custom notification",
}
# UNREACHABLE is LOW: the parent whose failure made it unreachable pages as DOWN.
PRIORITIES: dict[str, Priority] = {"CRITICAL": "HIGH", "DOWN": "HIGH", "WARNING": "LOW", "UNKNOWN": "LOW",
                                   "UNREACHABLE": "LOW"}
OBJECTS = ("host", "service")


def _text(body: Mapping[str, Any], name: str) -> str:
    """An optional string field, trimmed; null or absent is "" (a TypeError, which `parse` words)."""
    return string_field(body, name, invalid=TypeError).strip()


def _links(body: Mapping[str, Any]) -> tuple[dict[str, str], ...]:
    value = body.get("links")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise TypeError("'links' must be an array")
    links = []
    for index, item in enumerate(value[:MAX_ITEMS]):
        if not isinstance(item, dict) or not isinstance(item.get("href"), str):
            raise TypeError(f"'links[{index}].href' is missing or not a string")
        text = item.get("text")
        links.append({"href": item["href"], "text": text if isinstance(text, str) and text else item["href"]})
    return tuple(links)


def _vars(body: Mapping[str, Any]) -> dict[str, str]:
    value = body.get("vars")
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise TypeError("'vars' must be an object of strings")
    return {str(k): v for k, v in value.items()}


def _scalar(body: Mapping[str, Any], name: str) -> str | int | None:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return value if value != "" else None


def notification_events(body: object, tool: str = NAME) -> list[Event]:
    """The event one Nagios or Icinga 2 notification body maps to (see the module's docstring)."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    kind = _text(body, "notification_type").upper()
    if kind not in EVENT_TYPES:
        raise ValueError(f"'notification_type' must be one of {', '.join(EVENT_TYPES)}, got {kind or 'none'}")
    host = _text(body, "host")
    if not host:
        raise ValueError("'host' is missing or blank")
    service = _text(body, "service")
    subject = _text(body, "object").lower() or ("service" if service else "host")
    if subject not in OBJECTS:
        raise ValueError("'object' must be host or service")
    if subject == "service" and not service:
        raise ValueError("'service' is missing or blank for a service notification")
    if subject == "host":
        service = ""
    state = _text(body, "state").upper()
    event_type = EVENT_TYPES[kind]
    if event_type in ("ALERT", "RESOLVE") and not state:
        raise ValueError(f"'state' is missing or blank for a {kind} notification")
    target = f"{host}/{service}" if service else host
    key = _text(body, "dedup_key") or target
    if len(key) > MAX_ALERT_KEY:
        raise ValueError(f"the alert key '{key[:40]}...' is longer than {MAX_ALERT_KEY} characters")
    output = _text(body, "output")
    long_output = _text(body, "long_output")
    author, comment = _text(body, "author"), _text(body, "comment")
    first_line = output.splitlines()[0] if output else ""
    headline = f"{state}: {target}" if state else target
    summary = f"{headline} - {first_line}" if first_line else headline
    comments: tuple[Comment, ...] = (Comment(creator=author, content=comment),) if comment else ()
    if event_type == "COMMENT":
        summary = f"{NOTES[kind]}: {target}"
    details = "\n".join(part for part in (output, long_output) if part)
    labels = {**_vars(body), "host": host, **({"service": service} if service else {})}
    facts = {
        "tool": tool,
        "notificationType": kind,
        "object": subject,
        "host": host,
        "hostDisplayName": _text(body, "host_display_name"),
        "address": _text(body, "address"),
        "service": service,
        "serviceDisplayName": _text(body, "service_display_name"),
        "state": state,
        "stateType": _text(body, "state_type").upper(),
        "notificationNumber": _scalar(body, "notification_number"),
        "timestamp": _scalar(body, "timestamp"),
        "author": author,
    }
    return [Event(
        event_type=event_type,
        alert_key=key,
        summary=clip(summary, MAX_SUMMARY),
        details=clip(details, MAX_DETAILS) if details else None,
        priority=PRIORITIES.get(state) if event_type == "ALERT" else None,
        links=_links(body),
        labels=labels,
        custom_details={name: value for name, value in facts.items() if value not in ("", None)},
        comments=comments,
    )]


INTEGRATION = Integration(name=NAME, integration_type="NAGIOS", parse=json_parser(notification_events, NAME),
                          description="Nagios Core notifications sent by"
                          " integrations/nagios/ilertd-notify.py")


@hookimpl
def register_integrations() -> list[Integration]:
    return [INTEGRATION]
