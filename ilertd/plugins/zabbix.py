"""Zabbix webhook media types as a built-in plugin: the `zabbix` integration (alias `zabbix-mt`).

Both ilertd's own media type (integrations/zabbix/) and the iLert media type shipped with
Zabbix POST the same flat object: media type parameter name -> resolved macro, all strings.
A macro that does not apply arrives as its own text (`{EVENT.UPDATE.MESSAGE}`) or as
`*UNKNOWN*`, never empty, so every value is read through `_macro`.

- `EVENT.UPDATE.STATUS` 1 (an update of an open problem): "acknowledged" -> ACCEPT (the update
  message as its comment), "closed" -> RESOLVE, anything else (a comment, a severity change,
  unacknowledged, suppressed) -> COMMENT;
- otherwise `EVENT.VALUE` 1 -> ALERT, 0 -> RESOLVE.
The alert key is `zabbix-<EVENT.ID>` (iLert's own): in a recovery or an update `{EVENT.ID}` is
still the problem's id, so every message of one problem lands on one incident.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ilertd import hookimpl
from ilertd.domain.events import MAX_DETAILS, MAX_SUMMARY, Comment, Event, EventType, Priority
from ilertd.hookspecs import Integration
from ilertd.plugins.payloads import clip, json_parser, tag_labels, web_url

NAME = "zabbix"
KEY_PREFIX = "zabbix-"

# {EVENT.NSEVERITY}: 0 Not classified, 1 Information, 2 Warning, 3 Average, 4 High, 5 Disaster.
# The number first: the names are editable in Zabbix (Administration > General > Trigger displaying).
NUMERIC_SEVERITIES: dict[str, Priority] = {"0": "LOW", "1": "LOW", "2": "LOW", "3": "LOW",
                                           "4": "HIGH", "5": "HIGH"}
NAMED_SEVERITIES: dict[str, Priority] = {"not classified": "LOW", "information": "LOW", "warning": "LOW",
                                         "average": "LOW", "high": "HIGH", "disaster": "HIGH"}
# "unacknowledged" must not count: \b does not match between "un" and "acknowledged".
ACKNOWLEDGED = re.compile(r"\backnowledged\b", re.IGNORECASE)
CLOSED = re.compile(r"\bclosed\b", re.IGNORECASE)
# What the incident keeps of the body besides summary and details, under Zabbix's own names.
DETAIL_MACROS = ("HOST.NAME", "HOST.HOST", "HOST.IP", "EVENT.ID", "EVENT.DATE", "EVENT.TIME",
                 "EVENT.SEVERITY", "EVENT.OPDATA", "EVENT.RECOVERY.DATE", "EVENT.RECOVERY.TIME",
                 "TRIGGER.ID", "TRIGGER.NAME", "TRIGGER.STATUS", "ITEM.NAME1", "ITEM.NAME2",
                 "ITEM.NAME3", "ITEM.NAME4", "ITEM.NAME5")
UNKNOWN = "*UNKNOWN*"
UNRESOLVED = re.compile(r"\{\$?[A-Z][A-Z0-9_.]*\}")


def _macro(body: Mapping[str, Any], name: str) -> str:
    """A parameter's value, or "" when absent, unresolved (`{NAME}`, `{$NAME}`) or `*UNKNOWN*`."""
    value = body.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(f"'{name}' must be a string, not {type(value).__name__}")
    text = str(value).strip()
    if text == UNKNOWN or UNRESOLVED.fullmatch(text):
        return ""
    return text


def _http_url(text: str) -> str:
    return web_url(text) or ""


def _priority(body: Mapping[str, Any]) -> Priority | None:
    number = _macro(body, "EVENT.NSEVERITY")
    if number in NUMERIC_SEVERITIES:
        return NUMERIC_SEVERITIES[number]
    name = _macro(body, "EVENT.SEVERITY") or _macro(body, "TRIGGER.SEVERITY")
    return NAMED_SEVERITIES.get(name.casefold())


def _summary(body: Mapping[str, Any]) -> str:
    """iLert's override parameter, else the subject of the action's message, else host: name."""
    name = _macro(body, "EVENT.NAME") or _macro(body, "TRIGGER.NAME")
    host = _macro(body, "HOST.NAME") or _macro(body, "HOST.HOST")
    fallback = f"{host}: {name}" if host and name else name or f"Zabbix problem {_macro(body, 'EVENT.ID')}"
    return clip(_macro(body, ".ILERT.INCIDENT.SUMMARY") or _macro(body, "ALERT.SUBJECT") or fallback,
                 MAX_SUMMARY)


def _details(body: Mapping[str, Any]) -> str | None:
    message = _macro(body, "ALERT.MESSAGE")
    description = _macro(body, "TRIGGER.DESCRIPTION")
    if description and description not in message:
        message = f"{message}\n\n{description}" if message else description
    return clip(message, MAX_DETAILS) if message else None


def _links(body: Mapping[str, Any]) -> tuple[dict[str, str], ...]:
    links: list[dict[str, str]] = []
    zabbix = _http_url(_macro(body, "ZABBIX.URL")).rstrip("/")
    trigger_id, event_id = _macro(body, "TRIGGER.ID"), _macro(body, "EVENT.ID")
    if zabbix and trigger_id:
        links.append({"href": f"{zabbix}/tr_events.php?triggerid={trigger_id}&eventid={event_id}",
                      "text": "Zabbix event"})
    trigger_url = _http_url(_macro(body, "TRIGGER.URL"))
    if trigger_url:
        links.append({"href": trigger_url, "text": "Trigger URL"})
    return tuple(links)


def _labels(body: Mapping[str, Any]) -> dict[str, str]:
    """`{EVENT.TAGS}` ("scope:performance, team:sre") as labels, plus host and severity."""
    # Tags named __* are a media type's own (written back with process_tags), not the user's.
    labels = {name: value.strip() for name, value in tag_labels(_macro(body, "EVENT.TAGS")).items()
              if not name.startswith("__")}
    for label, macro in (("host", "HOST.HOST"), ("severity", "EVENT.SEVERITY")):
        if _macro(body, macro):
            labels[label] = _macro(body, macro)
    return labels


def _update_events(body: Mapping[str, Any], key: str) -> list[Event]:
    """A problem update: acknowledged -> ACCEPT, closed -> RESOLVE, else a COMMENT."""
    action = _macro(body, "EVENT.UPDATE.ACTION")
    message = _macro(body, "EVENT.UPDATE.MESSAGE")
    user = _macro(body, "USER.FULLNAME")
    acknowledged = bool(ACKNOWLEDGED.search(action)) if action else _macro(body, "EVENT.ACK.STATUS") == "Yes"
    comments = (Comment(creator=user, content=message),) if message else ()
    events: list[Event] = []
    if acknowledged:
        events.append(Event(event_type="ACCEPT", alert_key=key, comments=comments))
    elif CLOSED.search(action):
        events.append(Event(event_type="RESOLVE", alert_key=key, comments=comments))
    else:
        what = " ".join(part for part in (user, action or "updated the problem") if part)
        text = clip(f"{what}: {message}" if message else what, MAX_SUMMARY)
        events.append(Event(event_type="COMMENT", alert_key=key, summary=text))
    return events


def zabbix_events(body: object) -> list[Event]:
    """The events one media type message carries (see the module's docstring)."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object of media type parameters")
    event_id = _macro(body, "EVENT.ID")
    if not event_id:
        raise ValueError("'EVENT.ID' is missing or unresolved: the media type must send {EVENT.ID}")
    key = f"{KEY_PREFIX}{event_id}"
    if _macro(body, "EVENT.UPDATE.STATUS") == "1":
        return _update_events(body, key)
    value = _macro(body, "EVENT.VALUE") or _macro(body, "TRIGGER.VALUE")
    if value not in ("0", "1"):
        raise ValueError("'EVENT.VALUE' must be 1 (problem) or 0 (recovery)")
    kind: EventType = "ALERT" if value == "1" else "RESOLVE"
    if kind == "RESOLVE":
        return [Event(event_type="RESOLVE", alert_key=key)]
    details = {name: _macro(body, name) for name in DETAIL_MACROS if _macro(body, name)}
    return [Event(
        event_type="ALERT",
        alert_key=key,
        summary=_summary(body),
        details=_details(body),
        priority=_priority(body),
        links=_links(body),
        labels=_labels(body),
        custom_details=details,
    )]


INTEGRATION = Integration(name=NAME, integration_type="ZABBIX", aliases=("zabbix-mt",),
                          parse=json_parser(zabbix_events, NAME),
                          description="Zabbix webhook media type: ilertd's (integrations/zabbix/)"
                          " or iLert's own")


@hookimpl
def register_integrations() -> list[Integration]:
    return [INTEGRATION]
