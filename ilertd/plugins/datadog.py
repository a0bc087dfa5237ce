"""Datadog's webhook (a monitor's `@webhook-<name>` notification) as a built-in plugin.

Datadog has no fixed body: the user's payload template with `$VARIABLES` substituted, every value
a string, as JSON or (with "Encode as form") form-encoded. This reads the fields of the template
in docs/integrations/datadog.md, which also has the mapping and the choices made.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ilertd import hookimpl
from ilertd.domain.events import MAX_ALERT_KEY, MAX_DETAILS, MAX_SUMMARY, Event, EventType, Priority
from ilertd.errors import ApiError
from ilertd.hookspecs import Integration, IntegrationRequest
from ilertd.plugins.payloads import clip, invalid_payload, priority_for, tag_labels, template_text, web_link

NAME = "datadog"
# $ALERT_TRANSITION, lower case without spaces or dashes → (event type, priority it forces).
# Warn and No Data page at LOW priority: the monitor is not (yet) in alert, or it lost its data.
TRANSITIONS: dict[str, tuple[EventType, Priority | None]] = {
    "triggered": ("ALERT", None),
    "retriggered": ("ALERT", None),
    "renotify": ("ALERT", None),
    "warn": ("ALERT", "LOW"),
    "rewarn": ("ALERT", "LOW"),
    "nodata": ("ALERT", "LOW"),
    "renodata": ("ALERT", "LOW"),
    "recovered": ("RESOLVE", None),
}
KNOWN_TRANSITIONS = "Triggered, Re-Triggered, Renotify, Warn, Re-Warn, No Data, Re-No Data, Recovered"
# $ALERT_PRIORITY is the monitor's P1..P5; unset, the alert source's priority applies.
PRIORITIES: dict[str, Priority] = {"p1": "HIGH", "p2": "HIGH", "p3": "LOW", "p4": "LOW", "p5": "LOW"}
# $EVENT_TITLE starts with the transition: "[Triggered on {host:web-1}] ...", "[P1] [Recovered] ...".
TITLE_TRANSITION = re.compile(r"\[((?:Re-?)?(?:Triggered|Warn|No ?Data|Recovered)|Renotify)\b[^\]]*\]",
                              re.IGNORECASE)
CUSTOM_FIELDS = ("alert_id", "aggreg_key", "alert_cycle_key", "alert_transition", "alert_type",
                 "alert_priority", "alert_scope", "event_type", "hostname", "id", "date",
                 "last_updated", "org")


def _invalid(message: str) -> ApiError:
    return invalid_payload(message, NAME)


def _field(body: Mapping[str, Any], name: str) -> str:
    """A template field as trimmed text ('' when absent): a user's template may quote a number or not."""
    value = body.get(name)
    return "" if value is None else template_text(value, name, _invalid)


def _transition_key(text: str) -> str:
    return re.sub(r"[\s_-]", "", text).lower()


def transition(body: Mapping[str, Any]) -> str:
    """$ALERT_TRANSITION, else the one Datadog's title starts with (its default template has none)."""
    named = _field(body, "alert_transition")
    if named:
        return named
    found = TITLE_TRANSITION.search(_field(body, "title"))
    if found is None:
        raise _invalid('no alert_transition: add "alert_transition": "$ALERT_TRANSITION" to the '
                       "webhook's payload")
    return found.group(1)


def alert_key(body: Mapping[str, Any]) -> str:
    """$AGGREG_KEY (one per monitor and group, the same from trigger to recovery), else $ALERT_ID,
    the monitor, with $ALERT_SCOPE so that the groups of a multi-alert monitor stay apart."""
    key = _field(body, "aggreg_key")
    if not key:
        monitor = _field(body, "alert_id")
        scope = _field(body, "alert_scope")
        key = f"{monitor}:{scope}" if monitor and scope else monitor
    if not key:
        raise _invalid('no alert key: the payload needs "aggreg_key": "$AGGREG_KEY" or '
                       '"alert_id": "$ALERT_ID"')
    if len(key) > MAX_ALERT_KEY:
        raise _invalid(f"the alert key must be at most {MAX_ALERT_KEY} characters")
    return key


def labels(body: Mapping[str, Any]) -> dict[str, str]:
    """$TAGS ("env:prod,host:web-1,monitor") as labels; a tag without a value is a label of ''."""
    found = tag_labels(_field(body, "tags"))
    hostname = _field(body, "hostname")
    if hostname:
        found.setdefault("host", hostname)
    return found


def details(body: Mapping[str, Any]) -> str | None:
    """$EVENT_MSG without the %%% markers that wrap Datadog's markdown."""
    text = _field(body, "body")
    if text.startswith("%%%"):
        text = text[3:]
    if text.endswith("%%%"):
        text = text[:-3]
    text = text.strip()
    return clip(text, MAX_DETAILS) if text else None


def parse_body(body: object) -> list[Event]:
    """A Datadog webhook body → its one event."""
    if not isinstance(body, dict):
        raise _invalid("the body must be a JSON object (Datadog's webhook payload)")
    named = transition(body)
    if _transition_key(named) not in TRANSITIONS:
        raise _invalid(f"unknown alert_transition {named!r}; known: {KNOWN_TRANSITIONS}")
    event_type, forced_priority = TRANSITIONS[_transition_key(named)]
    key = alert_key(body)
    title = _field(body, "title") or f"Datadog monitor {_field(body, 'alert_id') or key}"
    priority = forced_priority or priority_for(_field(body, "alert_priority"), PRIORITIES)
    return [Event(
        event_type=event_type,
        alert_key=key,
        summary=clip(title, MAX_SUMMARY),
        details=details(body),
        priority=priority if event_type == "ALERT" else None,
        links=web_link(_field(body, "link"), "Datadog", any_case=True),
        custom_details={name: body[name] for name in CUSTOM_FIELDS if body.get(name) not in (None, "")},
        labels=labels(body),
    )]


def parse(request: IntegrationRequest) -> list[Event]:
    # "Encode as form" sends the template's top-level fields form-encoded.
    form = request.headers.get("content-type", "").lower().startswith("application/x-www-form-urlencoded")
    return parse_body(request.form() if form else request.json())


INTEGRATION = Integration(name=NAME, integration_type="DATADOG", parse=parse, description="Datadog webhook"
                          " (monitor notifications): one incident per aggregation key")


@hookimpl
def register_integrations() -> list[Integration]:
    return [INTEGRATION]
