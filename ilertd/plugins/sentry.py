"""Sentry's alert webhooks (metric alerts, issue alerts, issue changes) as the `sentry` integration.

Sentry signs each webhook with the integration's client secret: `Sentry-Hook-Signature` is the
hex HMAC-SHA256 of the raw body. When the alert source has a signing secret it is checked;
without one it is not. docs/integrations/sentry.md has the mapping.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from ilertd import hookimpl
from ilertd.domain.events import MAX_DETAILS, MAX_SUMMARY, Event, EventType, Priority
from ilertd.errors import ApiError
from ilertd.hookspecs import Integration, IntegrationRequest
from ilertd.plugins.payloads import (
    clip,
    header,
    invalid_payload,
    optional_object,
    optional_text,
    present,
    web_link,
)

NAME = "sentry"
SIGNATURE_HEADER = "sentry-hook-signature"

# Metric alert action → (event type, priority); the priority of a RESOLVE is not used.
METRIC_ACTIONS: dict[str, tuple[EventType, Priority | None]] = {
    "critical": ("ALERT", "HIGH"),
    "warning": ("ALERT", "LOW"),
    "resolved": ("RESOLVE", None),
}
LEVEL_PRIORITIES: dict[str, Priority] = {
    "fatal": "HIGH", "error": "HIGH", "warning": "LOW", "info": "LOW", "debug": "LOW",
}
# Issue webhooks (`Sentry-Hook-Resource: issue`) and activity alerts (action `triggered`): which
# actions open an alert, which close it, and which say nothing about whether it is still a problem.
ISSUE_OPENING_ACTIONS = frozenset({"created", "unresolved", "triggered"})
ISSUE_CLOSING_ACTIONS = frozenset({"resolved"})
ISSUE_SILENT_ACTIONS = frozenset({"assigned", "archived", "ignored"})
# Metric alert fields kept as custom details, as Sentry names them.
METRIC_DETAIL_FIELDS = ("identifier", "status", "date_started", "date_detected", "date_closed")
RULE_DETAIL_FIELDS = ("query", "aggregate", "dataset", "time_window", "threshold_type",
                      "resolve_threshold")


def _invalid(reason: str) -> ApiError:
    return invalid_payload(reason, NAME)


def expected_signature(secret: str, body: bytes) -> str:
    """What Sentry sends in `Sentry-Hook-Signature` for `body` signed with `secret`."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(request: IntegrationRequest) -> None:
    """401 INVALID_SIGNATURE unless the signature matches the source's secret (if it has one)."""
    secret = request.source.signing_secret if request.source is not None else None
    if not secret:
        return
    given = header(request.headers, SIGNATURE_HEADER)
    if given is None:
        raise ApiError(401, "INVALID_SIGNATURE", "the Sentry-Hook-Signature header is missing")
    expected = expected_signature(secret, request.body)
    if not hmac.compare_digest(given.strip().lower().encode("utf-8", errors="replace"),
                               expected.encode("ascii")):
        raise ApiError(401, "INVALID_SIGNATURE",
                       "Sentry-Hook-Signature does not match the alert source's signing secret")


def _object(parent: Mapping[str, Any], name: str, where: str) -> dict[str, Any]:
    value = parent.get(name)
    if not isinstance(value, dict):
        raise _invalid(f"'{where}{name}' must be an object")
    return value


def _ident(parent: Mapping[str, Any], name: str) -> str | None:
    """An id Sentry sends as a string or a number."""
    value = parent.get(name)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _projects(*candidates: Any) -> str | None:
    for projects in candidates:
        if isinstance(projects, list):
            names = [p for p in projects if isinstance(p, str) and p]
            if names:
                return ",".join(names)
    return None


def metric_alert_event(action: str, data: Mapping[str, Any]) -> Event:
    """A metric alert (`Sentry-Hook-Resource: metric_alert`): one alert per Sentry incident."""
    if action not in METRIC_ACTIONS:
        raise _invalid(f"a metric alert's 'action' must be critical, warning or resolved, got {action!r}")
    event_type, priority = METRIC_ACTIONS[action]
    incident = _object(data, "metric_alert", "data.")
    rule = optional_object(incident, "alert_rule")
    incident_id = _ident(incident, "id")
    if incident_id is None:
        raise _invalid("'data.metric_alert.id' is missing")
    title = (optional_text(data, "description_title") or optional_text(incident, "title")
             or optional_text(rule, "name") or f"Sentry metric alert {incident_id}")
    labels = present({
        "environment": optional_text(rule, "environment"),
        "project": _projects(incident.get("projects"), rule.get("projects")),
        "alert_rule": optional_text(rule, "name"),
    })
    custom_details = present({
        "metric_alert_id": incident_id,
        "alert_rule_id": _ident(rule, "id"),
        **{name: incident.get(name) for name in METRIC_DETAIL_FIELDS},
        **{name: rule.get(name) for name in RULE_DETAIL_FIELDS},
    })
    return Event(
        event_type=event_type,
        alert_key=f"sentry-metric-alert-{incident_id}",
        summary=clip(title, MAX_SUMMARY),
        details=clip(text, MAX_DETAILS) if (text := optional_text(data, "description_text")) else None,
        priority=priority,
        links=web_link(optional_text(data, "web_url"), "Sentry metric alert"),
        labels=labels,
        custom_details=custom_details,
    )


def _tag(event: Mapping[str, Any], name: str) -> str | None:
    """A tag of a Sentry event: its `tags` are [name, value] pairs."""
    tags = event.get("tags")
    if not isinstance(tags, list):
        return None
    for tag in tags:
        if isinstance(tag, list) and len(tag) == 2 and tag[0] == name and isinstance(tag[1], str):
            return tag[1]
    return None


def _level_priority(level: str | None) -> Priority | None:
    return LEVEL_PRIORITIES.get(level.lower()) if level else None


def issue_alert_event(action: str, data: Mapping[str, Any]) -> Event:
    """An issue alert (`Sentry-Hook-Resource: event_alert`): keyed by the event's issue."""
    if action != "triggered":
        raise _invalid(f"an issue alert's 'action' must be triggered, got {action!r}")
    event = _object(data, "event", "data.")
    issue_id = _ident(event, "issue_id")
    if issue_id is None:
        raise _invalid("'data.event.issue_id' is missing")
    title = optional_text(event, "title") or optional_text(event, "message") or f"Sentry issue {issue_id}"
    rule = optional_text(data, "triggered_rule")
    culprit = optional_text(event, "culprit")
    details = "\n".join(line for line in (
        culprit and f"Culprit: {culprit}", rule and f"Alert rule: {rule}") if line)
    level = optional_text(event, "level")
    return Event(
        event_type="ALERT",
        alert_key=f"sentry-issue-{issue_id}",
        summary=clip(title, MAX_SUMMARY),
        details=clip(details, MAX_DETAILS) if details else None,
        priority=_level_priority(level),
        links=web_link(optional_text(event, "web_url"), "Sentry event"),
        labels=present({"level": level, "environment": _tag(event, "environment"), "alert_rule": rule}),
        custom_details=present({"issue_id": issue_id, "event_id": optional_text(event, "event_id"),
                                "culprit": culprit, "platform": optional_text(event, "platform")}),
    )


def issue_events(action: str, data: Mapping[str, Any]) -> list[Event]:
    """An issue webhook (`Sentry-Hook-Resource: issue`) or an activity alert: same key as issue alerts,
    so resolving the issue in Sentry resolves what an issue alert opened."""
    issue = _object(data, "issue", "data.")
    if action in ISSUE_SILENT_ACTIONS:
        return []
    if action not in ISSUE_OPENING_ACTIONS | ISSUE_CLOSING_ACTIONS:
        raise _invalid(f"an issue webhook's 'action' {action!r} is not one of created, unresolved, "
                       "resolved, assigned, archived, ignored, triggered")
    issue_id = _ident(issue, "id")
    if issue_id is None:
        raise _invalid("'data.issue.id' is missing")
    key = f"sentry-issue-{issue_id}"
    if action in ISSUE_CLOSING_ACTIONS:
        return [Event(event_type="RESOLVE", alert_key=key)]
    title = optional_text(issue, "title") or f"Sentry issue {issue_id}"
    level = optional_text(issue, "level")
    project = optional_object(issue, "project")
    return [Event(
        event_type="ALERT",
        alert_key=key,
        summary=clip(title, MAX_SUMMARY),
        details=(clip(f"Culprit: {culprit}", MAX_DETAILS) if (culprit := optional_text(issue, "culprit"))
                 else None),
        priority=_level_priority(level),
        links=web_link(optional_text(issue, "web_url") or optional_text(issue, "permalink"), "Sentry issue"),
        labels=present({"level": level, "project": optional_text(project, "slug")}),
        custom_details=present({"issue_id": issue_id, "short_id": optional_text(issue, "shortId"),
                                "status": optional_text(issue, "status"),
                                "substatus": optional_text(issue, "substatus")}),
    )]


def parse(request: IntegrationRequest) -> list[Event]:
    """A Sentry webhook body → the events it means; which resource it is shows in `data`."""
    body = request.json()
    if not isinstance(body, dict):
        raise _invalid("the body must be a JSON object")
    action = body.get("action")
    if not isinstance(action, str) or not action:
        raise _invalid("'action' is missing or not a string")
    data = _object(body, "data", "")
    if "metric_alert" in data:
        return [metric_alert_event(action, data)]
    if "event" in data:
        return [issue_alert_event(action, data)]
    if "issue" in data:
        return issue_events(action, data)
    if "installation" in data:
        # Sentry announces an installation of the integration: nothing to alert on.
        return []
    raise _invalid("'data' holds none of metric_alert, event (issue alert) or issue")


INTEGRATION = Integration(name=NAME, integration_type="SENTRY", parse=parse, verify=verify,
                          description="Sentry alert webhooks: metric alerts, issue alerts, issue changes"
                          " (Sentry-Hook-Signature checked when the source has a signing secret)")


@hookimpl
def register_integrations() -> list[Integration]:
    return [INTEGRATION]
