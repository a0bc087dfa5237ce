"""Prometheus Alertmanager's webhook (version 4) as the `prometheus` integration: one incident per alert.

Alertmanager groups alerts and sends the whole group on every flush (`group_interval`,
`repeat_interval`), each alert with its own `status` and `fingerprint`. Each alert becomes one
event: `firing` an ALERT, `resolved` a RESOLVE, keyed by the fingerprint, so a re-sent group
adds to the open incidents instead of opening new ones. See docs/integrations/alertmanager.md.
"""

from __future__ import annotations

import hmac
import logging
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ilertd import hookimpl
from ilertd.domain.events import (
    MAX_ALERT_KEY,
    MAX_DETAILS,
    MAX_ITEMS,
    MAX_SUMMARY,
    Event,
    EventType,
    Priority,
)
from ilertd.domain.text_input import header_bytes
from ilertd.errors import ApiError
from ilertd.hookspecs import Integration, IntegrationRequest
from ilertd.plugins.payloads import (
    clip,
    header,
    invalid_payload,
    labels_text,
    priority_for,
    string_field,
    string_map,
    web_url,
)

WEBHOOK_VERSION = "4"
EVENT_TYPES: dict[str, EventType] = {"firing": "ALERT", "resolved": "RESOLVE"}
SEVERITIES: dict[str, Priority] = {
    "critical": "HIGH", "error": "HIGH", "page": "HIGH", "high": "HIGH",
    "warning": "LOW", "info": "LOW", "low": "LOW", "none": "LOW",
}
# Go's zero time: what Alertmanager sends as `endsAt` of an alert with no end yet.
NO_END = "0001-01-01T00:00:00Z"
# Annotations that are the summary and details themselves, not extra lines of the details.
TEXT_ANNOTATIONS = ("summary", "description")

# prometheus/common model.LabelSet.Fingerprint: FNV-1a 64 over the sorted names and values.
FNV_OFFSET = 14695981039346656037
FNV_PRIME = 1099511628211
LABEL_SEPARATOR = 0xFF

# Whitespace as str.isspace has it: a value with any is an annotation's text, not a link.
WHITESPACE = re.compile(r"\s")
# What `quote(text, safe="")` makes of each ASCII character it does not leave as it is.
PERCENT_ENCODED = {code: f"%{code:02X}" for code in range(128)
                   if chr(code) not in string.ascii_letters + string.digits + "_.-~"}

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Group:
    """What a webhook body says of the group its alerts belong to."""

    receiver: str
    group_key: str
    group_labels: Mapping[str, str]
    external_url: str
    truncated_alerts: int


@dataclass(frozen=True)
class Notification:
    """One webhook body, mapped: an event per alert, and its group (with what was left out)."""

    events: tuple[Event, ...]
    group: Group


def label_fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's own fingerprint of a label set (16 hex digits), for an alert sent without one:
    the same alert then gets the same key whether or not its sender filled the field in."""
    value = FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode("utf-8"):
                value = ((value ^ byte) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
            value = ((value ^ LABEL_SEPARATOR) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def _summary(labels: Mapping[str, str], annotations: Mapping[str, str], fingerprint: str) -> str:
    """`annotations.summary`, else the alert's name and labels: what a person reads in the page."""
    summary = annotations.get("summary", "").strip()
    if not summary:
        others = labels_text(labels)
        alertname = labels.get("alertname", "").strip()
        if alertname and others:
            summary = f"{alertname}: {others}"
        else:
            summary = alertname or others or f"Alertmanager alert {fingerprint}"
    return clip(summary, MAX_SUMMARY)


def _is_web_url(value: str) -> bool:
    # A regular expression, not a test per character: most of a webhook's mapping went to that.
    return web_url(value) is not None and WHITESPACE.search(value) is None


def percent_encoded(text: str) -> str:
    """`quote(text, safe="")`; ASCII text in one translation, not a step per byte."""
    return text.translate(PERCENT_ENCODED) if text.isascii() else quote(text, safe="")


def _details(annotations: Mapping[str, str]) -> str | None:
    """`annotations.description`, then the other annotations that are not links (a value, a hint)."""
    parts = []
    description = annotations.get("description", "").strip()
    if description:
        parts.append(description)
    extra = [f"{name}: {value}" for name, value in sorted(annotations.items())
             if name not in TEXT_ANNOTATIONS and value.strip() and not _is_web_url(value.strip())]
    if extra:
        parts.append("\n".join(extra))
    return clip("\n\n".join(parts), MAX_DETAILS) if parts else None


def _matchers(labels: Mapping[str, str]) -> str:
    """The label set as Alertmanager's UI filter, `{name="value",...}`, URL-encoded."""
    def escaped(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    text = "{" + ",".join(f'{name}="{escaped(labels[name])}"' for name in sorted(labels)) + "}"
    return percent_encoded(text)


def _links(alert: Mapping[str, Any], labels: Mapping[str, str], annotations: Mapping[str, str],
           external_url: str, where: str) -> tuple[dict[str, str], ...]:
    links: list[dict[str, str]] = []
    generator_url = string_field(alert, "generatorURL", where).strip()
    if _is_web_url(generator_url):
        links.append({"href": generator_url, "text": "Source (generatorURL)"})
    external = external_url.strip().rstrip("/")
    if _is_web_url(external):
        filtered = _matchers(labels)
        links.append({"href": f"{external}/#/alerts?filter={filtered}", "text": "Alertmanager"})
        if alert.get("status") == "firing":
            links.append({"href": f"{external}/#/silences/new?filter={filtered}",
                          "text": "Silence in Alertmanager"})
    for name, value in sorted(annotations.items()):
        if _is_web_url(value.strip()):
            links.append({"href": value.strip(), "text": name})
    return tuple(links[:MAX_ITEMS])


def _alert_event(alert: object, index: int, group: Group) -> Event:
    where = f"alerts[{index}]."
    if not isinstance(alert, dict):
        raise invalid_payload(f"'alerts[{index}]' must be an object")
    status = alert.get("status")
    if status not in EVENT_TYPES:
        raise invalid_payload(f"'{where}status' must be \"firing\" or \"resolved\", got {status!r}")
    labels = string_map(alert, "labels", where)
    annotations = string_map(alert, "annotations", where)
    fingerprint = string_field(alert, "fingerprint", where).strip() or label_fingerprint(labels)
    if len(fingerprint) > MAX_ALERT_KEY:
        raise invalid_payload(f"'{where}fingerprint' must be at most {MAX_ALERT_KEY} characters")
    custom_details: dict[str, Any] = {
        "status": status,
        "fingerprint": fingerprint,
        "startsAt": string_field(alert, "startsAt", where),
        "annotations": annotations,
        "receiver": group.receiver,
        "groupKey": group.group_key,
        "groupLabels": dict(group.group_labels),
    }
    ends_at = string_field(alert, "endsAt", where)
    if ends_at and ends_at != NO_END:
        custom_details["endsAt"] = ends_at
    truncated = group.truncated_alerts
    if truncated:
        custom_details["truncatedAlerts"] = truncated
        custom_details["truncatedNote"] = (
            f"Alertmanager left {truncated} more alert(s) of this group out of the notification"
            " (the receiver's max_alerts); they reach ilertd only when they fit in a later one.")
    return Event(
        event_type=EVENT_TYPES[status],
        alert_key=fingerprint,
        summary=_summary(labels, annotations, fingerprint),
        details=_details(annotations),
        priority=priority_for(labels.get("severity"), SEVERITIES),
        links=_links(alert, labels, annotations, group.external_url, where),
        custom_details=custom_details,
        labels=labels,
    )


def parse_webhook(document: object) -> Notification:
    """An Alertmanager webhook body (version 4) → its events, one per alert; pure."""
    if isinstance(document, list):
        raise invalid_payload("a JSON array is what Prometheus posts to Alertmanager's /api/v2/alerts, not"
                       " Alertmanager's webhook: point an Alertmanager receiver's webhook_configs here")
    if not isinstance(document, dict):
        raise invalid_payload("the body must be a JSON object: Alertmanager's webhook, version \"4\"")
    version = document.get("version")
    if version is None:
        raise invalid_payload("'version' is missing: not an Alertmanager webhook body (version \"4\")")
    if version != WEBHOOK_VERSION:
        raise invalid_payload(f"'version' is {version!r}: ilertd reads Alertmanager's webhook version \"4\"")
    alerts = document.get("alerts")
    if not isinstance(alerts, list):
        raise invalid_payload("'alerts' must be an array of alerts")
    truncated = document.get("truncatedAlerts", 0)
    if truncated is None:
        truncated = 0
    if not isinstance(truncated, int) or isinstance(truncated, bool) or truncated < 0:
        raise invalid_payload("'truncatedAlerts' must be a whole number of 0 or more")
    group = Group(
        receiver=string_field(document, "receiver"),
        group_key=string_field(document, "groupKey"),
        group_labels=string_map(document, "groupLabels"),
        external_url=string_field(document, "externalURL"),
        truncated_alerts=truncated,
    )
    events = tuple(_alert_event(alert, index, group) for index, alert in enumerate(alerts))
    return Notification(events, group)


def parse(request: IntegrationRequest) -> list[Event]:
    notification = parse_webhook(request.json())
    group = notification.group
    if group.truncated_alerts:
        # Alerts Alertmanager did not send cannot open incidents: someone should raise max_alerts.
        logger.warning(
            "alert source %r: Alertmanager truncated %d alert(s) of group %s (receiver %r, max_alerts)",
            request.source_name, group.truncated_alerts, group.group_key, group.receiver)
    return list(notification.events)


def verify(request: IntegrationRequest) -> None:
    """With a `signingSecret` on the alert source, Alertmanager must send it as its Bearer token
    (`http_config.authorization.credentials`); without one the integration key alone admits."""
    secret = request.source.signing_secret if request.source is not None else None
    if not secret:
        return
    authorization = header(request.headers, "authorization") or ""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(header_bytes(token.strip()), secret.encode()):
        raise ApiError(401, "INVALID_SIGNATURE", "missing or wrong 'Authorization: Bearer' token:"
                       " this alert source has a signingSecret")


INTEGRATION = Integration(name="prometheus", integration_type="PROMETHEUS", parse=parse, verify=verify,
                          aliases=("alertmanager",), description="Prometheus Alertmanager webhook"
                          " (version 4): one incident per alert fingerprint")


@hookimpl
def register_integrations() -> list[Integration]:
    return [INTEGRATION]
