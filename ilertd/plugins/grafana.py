"""Grafana alerting's webhook contact point as a built-in plugin: one incident per alert fingerprint.

Grafana's body is Alertmanager's webhook envelope (`status`, `alerts[]`, `groupLabels`, ...) with
`orgId`, `version` "1" and, per alert, `silenceURL`, `dashboardURL`, `panelURL`, `imageURL`,
`values`. Each alert's own `status` decides its event, not the group's: a group that is still
firing can carry an alert that has resolved. docs/integrations/grafana.md has the mapping.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ilertd import hookimpl
from ilertd.domain.events import MAX_ALERT_KEY, MAX_DETAILS, MAX_SUMMARY, Event, EventType, Priority
from ilertd.errors import ApiError
from ilertd.hookspecs import Integration, IntegrationRequest
from ilertd.plugins.payloads import clip, invalid_payload, labels_text, priority_for, string_map, web_url

NAME = "grafana"
STATUSES: dict[str, EventType] = {"firing": "ALERT", "resolved": "RESOLVE"}
# The `severity` label is a convention, not a Grafana field: the words people put there.
SEVERITIES: dict[str, Priority] = {
    "critical": "HIGH", "crit": "HIGH", "high": "HIGH", "error": "HIGH", "page": "HIGH",
    "disaster": "HIGH", "emergency": "HIGH", "p1": "HIGH", "p2": "HIGH",
    "warning": "LOW", "warn": "LOW", "low": "LOW", "info": "LOW", "information": "LOW",
    "informational": "LOW", "minor": "LOW", "none": "LOW", "p3": "LOW", "p4": "LOW", "p5": "LOW",
}
# (alert field, link text), in the order the incident shows them.
LINK_FIELDS = (
    ("generatorURL", "Alert rule"),
    ("dashboardURL", "Dashboard"),
    ("panelURL", "Panel"),
    ("silenceURL", "Silence"),
)
RUNBOOK_ANNOTATIONS = ("runbook_url", "runbook")
CUSTOM_FIELDS = ("startsAt", "endsAt", "values", "valueString")
ENVELOPE_FIELDS = ("receiver", "orgId", "groupKey", "externalURL")


def _invalid(message: str) -> ApiError:
    return invalid_payload(message, NAME)


def _string_map(alert: Mapping[str, Any], name: str, where: str) -> dict[str, str]:
    """Labels or annotations: Grafana sends strings; a template may not, so any value is taken as text."""
    return string_map(alert, name, f"{where}.", _invalid, quote="", coerce=True)


def alert_key(alert: Mapping[str, Any], labels: Mapping[str, str], where: str) -> str:
    """The alert's fingerprint; without one (an old or hand-made body), one derived from its labels,
    which is what Grafana's fingerprint is computed from too."""
    fingerprint = alert.get("fingerprint")
    if fingerprint is not None and not isinstance(fingerprint, str):
        raise _invalid(f"{where}.fingerprint must be a string")
    if fingerprint and fingerprint.strip():
        if len(fingerprint.strip()) > MAX_ALERT_KEY:
            raise _invalid(f"{where}.fingerprint must be at most {MAX_ALERT_KEY} characters")
        return fingerprint.strip()
    if not labels:
        raise _invalid(f"{where} has neither a fingerprint nor labels to tell it apart")
    if any("\n" in name or "=" in name or "\n" in value for name, value in labels.items()):
        # Lines of name=value could not tell {"instance": "db-1\nmountpoint=/var"} from two labels,
        # and one alert's resolve closed the other's incident: such labels hash as JSON, apart.
        canonical = "json\0" + json.dumps(sorted(labels.items()), ensure_ascii=False)
    else:
        # Every other label set hashes as it always has: open incidents keep their keys.
        canonical = "\n".join(f"{name}={labels[name]}" for name in sorted(labels))
    return "labels-" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


def summary(labels: Mapping[str, str], annotations: Mapping[str, str], key: str) -> str:
    """annotations.summary, else the alertname followed by the other labels."""
    text = annotations.get("summary", "").strip()
    if not text:
        alertname = labels.get("alertname", "").strip() or f"Grafana alert {key}"
        others = labels_text(labels)
        text = f"{alertname} ({others})" if others else alertname
    return clip(text, MAX_SUMMARY)


def priority(labels: Mapping[str, str]) -> Priority | None:
    """The `severity` label's priority; none (the alert source's) when it is absent or unknown."""
    return priority_for(labels.get("severity"), SEVERITIES)


def _web_url(value: Any) -> str | None:
    """A URL field as a link, trimmed, its scheme in any case (see payloads.web_url)."""
    return web_url(value.strip(), any_case=True) if isinstance(value, str) else None


def links(alert: Mapping[str, Any], annotations: Mapping[str, str]) -> tuple[dict[str, str], ...]:
    found: list[dict[str, str]] = []
    for field_name, text in LINK_FIELDS:
        href = _web_url(alert.get(field_name))
        if href:
            found.append({"href": href, "text": text})
    for name in RUNBOOK_ANNOTATIONS:
        href = _web_url(annotations.get(name))
        if href:
            found.append({"href": href, "text": "Runbook"})
            break
    return tuple(found)


def alert_event(alert: object, index: int, envelope: Mapping[str, Any]) -> Event:
    """One alert of the group as its event."""
    where = f"alerts[{index}]"
    if not isinstance(alert, dict):
        raise _invalid(f"{where} must be an object")
    status = alert.get("status")
    if not isinstance(status, str) or status.lower() not in STATUSES:
        raise _invalid(f"{where}.status must be firing or resolved, got {status!r}")
    event_type = STATUSES[status.lower()]
    labels = _string_map(alert, "labels", where)
    annotations = _string_map(alert, "annotations", where)
    key = alert_key(alert, labels, where)
    description = annotations.get("description", "").strip() or annotations.get("message", "").strip()
    image = _web_url(alert.get("imageURL"))
    custom: dict[str, Any] = {name: alert[name] for name in CUSTOM_FIELDS if alert.get(name) is not None}
    if annotations:
        custom["annotations"] = annotations
    custom.update({name: envelope[name] for name in ENVELOPE_FIELDS if envelope.get(name) is not None})
    return Event(
        event_type=event_type,
        alert_key=key,
        summary=summary(labels, annotations, key),
        details=clip(description, MAX_DETAILS) if description else None,
        priority=priority(labels) if event_type == "ALERT" else None,
        images=({"src": image, "alt": "Grafana panel"},) if image else (),
        links=links(alert, annotations),
        custom_details=custom,
        labels=labels,
    )


def parse_body(body: object) -> list[Event]:
    """Grafana's webhook body → one event per alert, in the body's order."""
    if not isinstance(body, dict):
        raise _invalid("the body must be a JSON object (Grafana's webhook contact point payload)")
    alerts = body.get("alerts")
    if not isinstance(alerts, list):
        # Grafana's legacy (pre-9) dashboard alerting posted ruleName/state/evalMatches instead.
        raise _invalid("the body has no alerts array: is this Grafana alerting's webhook contact point?")
    if not alerts:
        raise _invalid("alerts is empty")
    return [alert_event(alert, index, body) for index, alert in enumerate(alerts)]


def parse(request: IntegrationRequest) -> list[Event]:
    return parse_body(request.json())


INTEGRATION = Integration(name=NAME, integration_type="GRAFANA", parse=parse, description="Grafana"
                          " alerting webhook contact point: one incident per alert fingerprint")


@hookimpl
def register_integrations() -> list[Integration]:
    return [INTEGRATION]
