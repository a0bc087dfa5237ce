"""UptimeRobot's webhook alert contact as a built-in plugin: one incident per monitor, down to up.

UptimeRobot substitutes its `*variables*` (monitorID, monitorFriendlyName, alertType, ...) into
the contact's "POST value" (JSON when "Send as JSON" is on, else form fields) or into the URL's
query string. The fields are taken from wherever they came, the body over the query string.
docs/integrations/uptimerobot.md has the mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ilertd import hookimpl
from ilertd.domain.events import MAX_ALERT_KEY, MAX_DETAILS, MAX_SUMMARY, Event, EventType, Priority
from ilertd.errors import ApiError
from ilertd.hookspecs import Integration, IntegrationRequest
from ilertd.plugins.payloads import clip, invalid_payload, template_text, web_link

NAME = "uptimerobot"
# alertType → (event type, priority it forces, suffix of the alert key). An SSL expiry warning is
# its own incident at LOW priority: UptimeRobot sends nothing when the certificate is renewed,
# so it must not share the monitor's down/up incident (an "up" would resolve it unseen).
ALERT_TYPES: dict[str, tuple[EventType, Priority | None, str]] = {
    "1": ("ALERT", None, ""),
    "2": ("RESOLVE", None, ""),
    "3": ("ALERT", "LOW", ":ssl"),
}
# alertTypeFriendlyName, for a template that carries only that.
FRIENDLY_TYPES = {"down": "1", "up": "2", "ssl expiry": "3", "ssl": "3"}
FIELDS = ("monitorID", "monitorURL", "monitorFriendlyName", "alertType", "alertTypeFriendlyName",
          "alertDetails", "alertDuration", "alertFriendlyDuration", "alertDateTime",
          "monitorAlertContacts", "sslExpiryDate", "sslExpiryDaysLeft")
CUSTOM_FIELDS = ("monitorID", "monitorURL", "alertType", "alertTypeFriendlyName", "alertDetails",
                 "alertDuration", "alertFriendlyDuration", "alertDateTime", "sslExpiryDate",
                 "sslExpiryDaysLeft")


def _invalid(message: str) -> ApiError:
    return invalid_payload(message, NAME)


def _text_fields(values: Mapping[str, Any]) -> dict[str, str]:
    """The template's fields as trimmed text (a null left out)."""
    return {str(name): template_text(value, str(name), _invalid) for name, value in values.items()
            if value is not None}


def fields(request: IntegrationRequest) -> dict[str, str]:
    """The alert contact's variables from the query string and the body (JSON or form), merged."""
    merged = _text_fields(request.query)
    content_type = request.headers.get("content-type", "").lower()
    stripped = request.body.strip()
    # An empty body says nothing whatever its type: the fields are then the query string's.
    if stripped and ("json" in content_type or stripped.startswith((b"{", b"["))):
        body = request.json()
        if not isinstance(body, dict):
            raise _invalid("the body must be a JSON object of the alert contact's variables")
        merged.update(_text_fields(body))
    elif stripped:
        merged.update(_text_fields(request.form()))
    return merged


def event_kind(values: Mapping[str, str]) -> tuple[EventType, Priority | None, str]:
    alert_type = values.get("alertType", "")
    if not alert_type:
        alert_type = FRIENDLY_TYPES.get(values.get("alertTypeFriendlyName", "").lower(), "")
    if not alert_type and not any(values.get(name) for name in FIELDS):
        raise _invalid("no UptimeRobot fields (monitorID, alertType, ...) in the body or the query string")
    if alert_type not in ALERT_TYPES:
        raise _invalid(f"alertType must be 1 (down), 2 (up) or 3 (SSL expiry), got {alert_type!r}")
    return ALERT_TYPES[alert_type]


def alert_key(values: Mapping[str, str], suffix: str) -> str:
    """One key per monitor: `monitorID`, else its URL (a template without the ID)."""
    monitor = values.get("monitorID", "") or values.get("monitorURL", "")
    if not monitor:
        raise _invalid("monitorID is missing: the alert contact's payload needs monitorID=*monitorID*")
    key = f"uptimerobot-{monitor}{suffix}"
    if len(key) > MAX_ALERT_KEY:
        raise _invalid(f"monitorID must be at most {MAX_ALERT_KEY - len('uptimerobot-:ssl')} characters")
    return key


def _when(epoch: str) -> str | None:
    try:
        return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (ValueError, OverflowError, OSError):
        return None


def summary(values: Mapping[str, str], event_type: EventType, suffix: str) -> str:
    """E.g. `Shop health is DOWN: Connection Timeout`, `Shop health is UP`."""
    monitor = (values.get("monitorFriendlyName") or values.get("monitorURL")
               or f"monitor {values.get('monitorID', '')}")
    if suffix:
        text = f"{monitor}: SSL certificate expires soon"
    else:
        text = f"{monitor} is {'DOWN' if event_type == 'ALERT' else 'UP'}"
    reason = values.get("alertDetails", "")
    return clip(f"{text}: {reason}" if reason and event_type == "ALERT" else text, MAX_SUMMARY)


def details(values: Mapping[str, str]) -> str | None:
    lines = []
    for label, name in (("URL", "monitorURL"), ("Details", "alertDetails")):
        if values.get(name):
            lines.append(f"{label}: {values[name]}")
    when = _when(values.get("alertDateTime", ""))
    if when:
        lines.append(f"At: {when}")
    duration = values.get("alertFriendlyDuration") or values.get("alertDuration")
    if duration:
        lines.append(f"Duration: {duration}")
    if values.get("sslExpiryDate"):
        left = values.get("sslExpiryDaysLeft") or "?"
        lines.append(f"SSL expiry: {values['sslExpiryDate']} ({left} days left)")
    return clip("\n".join(lines), MAX_DETAILS) if lines else None


def parse_fields(values: Mapping[str, str]) -> list[Event]:
    """The alert contact's variables → the monitor's event."""
    event_type, forced_priority, suffix = event_kind(values)
    key = alert_key(values, suffix)
    labels = {name: values[label] for name, label in (("monitor", "monitorFriendlyName"),
                                                      ("monitorID", "monitorID")) if values.get(label)}
    return [Event(
        event_type=event_type,
        alert_key=key,
        summary=summary(values, event_type, suffix),
        details=details(values),
        priority=forced_priority,
        links=web_link(values.get("monitorURL"), "Monitored URL"),
        custom_details={name: values[name] for name in CUSTOM_FIELDS if values.get(name)},
        labels=labels,
    )]


def parse(request: IntegrationRequest) -> list[Event]:
    return parse_fields(fields(request))


INTEGRATION = Integration(name=NAME, integration_type="UPTIMEROBOT", parse=parse, description="UptimeRobot"
                          " webhook alert contact (JSON, form or query string): one incident per monitor")


@hookimpl
def register_integrations() -> list[Integration]:
    return [INTEGRATION]
