"""Rows → the camelCase JSON of API.md (iLert's names), and each answer's shape for the OpenAPI document.

The shapes are specs (ilertd.app.schema) declared beside the functions that render the JSON, `closed`
(every field always there, no other): the document says exactly what a client reads, and the fuzz
test (tests/test_openapi_fuzz.py) fails on an answer with a field its spec lacks.
"""

from __future__ import annotations

from typing import Any

from ilertd.app.people import ROLES
from ilertd.app.schema import (
    Anything,
    ArrayOf,
    Boolean,
    Choice,
    Instant,
    Integer,
    MapOf,
    ObjectSpec,
    Ref,
    Spec,
    Text,
)
from ilertd.app.sources import SUPPORT_HOURS
from ilertd.domain.events import PRIORITIES
from ilertd.domain.page_text import incident_link
from ilertd.domain.timeutil import format_instant
from ilertd.store import models as m
from ilertd.store.outbox import paged_users
from ilertd.store.people import usernames
from ilertd.store.sources import policy_names, source_names

STRING = Text(max_length=None)
NULLABLE_STRING = Text(max_length=None, nullable=True)
INSTANT = Instant()
NULLABLE_INSTANT = Instant(nullable=True)
ID = Integer()
USER_REF = Ref(names=("username",))
NULLABLE_USER_REF = Ref(names=("username",), nullable=True)
NAMED_REF = Ref(names=("name",))
STATUSES = ("PENDING", "ACCEPTED", "RESOLVED")


def closed(title: str, **fields: Spec) -> ObjectSpec:
    return ObjectSpec(title=title, closed=True, fields=fields)


def user_ref(user_id: int | None, names: dict[int, str]) -> dict[str, Any] | None:
    if user_id is None:
        return None
    return {"id": user_id, "username": names.get(user_id, "")}


def incidents_json(rows: list[m.Incident], public_url: str) -> list[dict[str, Any]]:
    """Many incidents with their sources, policies and people fetched in three queries."""
    sources = source_names({r.alert_source_id for r in rows})
    policies = policy_names({r.escalation_policy_id for r in rows if r.escalation_policy_id is not None})
    paged = paged_users([r.id for r in rows])
    names = usernames({r.accepted_by_id for r in rows} | {r.resolved_by_id for r in rows}
                      | {user_id for users in paged.values() for user_id in users})
    return [_incident(r, sources, policies, names, public_url, paged.get(r.id, [])) for r in rows]


def responders_json(row: m.Incident, paged: list[int], names: dict[int, str]) -> list[dict[str, Any]]:
    """Everyone paged is a responder, PENDING until they accept; who accepted without being paged
    comes first."""
    acceptor = row.accepted_by_id
    people = paged if acceptor is None or acceptor in paged else [acceptor, *paged]
    accepted_at = format_instant(row.accepted_at)
    return [
        {"user": user_ref(user_id, names), "status": "ACCEPTED" if user_id == acceptor else "PENDING",
         "acceptedAt": accepted_at if user_id == acceptor else None}
        for user_id in people
    ]


RESPONDER = ObjectSpec(closed=True, fields={
    "user": USER_REF, "status": Choice(options=("ACCEPTED", "PENDING")), "acceptedAt": NULLABLE_INSTANT})
INCIDENT = closed(
    "Incident", id=ID, summary=STRING, details=STRING, status=Choice(options=STATUSES),
    priority=Choice(options=PRIORITIES), alertKey=STRING, alertUrl=STRING, alertSource=NAMED_REF,
    escalationPolicy=Ref(names=("name",), nullable=True),
    escalationLevel=Integer(low=0, description="0-based"),
    held=Boolean(description="held by a maintenance window or support hours: level 0 is next"),
    nextEscalationAt=NULLABLE_INSTANT, responders=ArrayOf(item=RESPONDER), reportTime=INSTANT,
    acceptedAt=NULLABLE_INSTANT, acceptedBy=NULLABLE_USER_REF, resolvedAt=NULLABLE_INSTANT,
    resolvedBy=NULLABLE_USER_REF, images=ArrayOf(item=MapOf(value=STRING)),
    links=ArrayOf(item=MapOf(value=STRING)), labels=MapOf(value=STRING),
    customDetails=Anything(kind="object"), eventCount=Integer(low=1),
)


def _incident(
    row: m.Incident,
    sources: dict[int, str],
    policies: dict[int, str],
    names: dict[int, str],
    public_url: str,
    paged: list[int],
) -> dict[str, Any]:
    policy = (
        {"id": row.escalation_policy_id, "name": policies.get(row.escalation_policy_id, "")}
        if row.escalation_policy_id is not None else None
    )
    return {
        "id": row.id,
        "summary": row.summary,
        "details": row.details,
        "status": row.status,
        "priority": row.priority,
        "alertKey": row.alert_key,
        "alertUrl": incident_link(public_url, row.id),
        "alertSource": {"id": row.alert_source_id, "name": sources.get(row.alert_source_id, "")},
        "escalationPolicy": policy,
        # A held incident (maintenance, support hours) is stored at level -1, one waiting for
        # someone reachable at -2: level 0 is next. Accepted or resolved, nothing is held.
        "escalationLevel": max(0, row.escalation_level),
        "held": row.escalation_level < 0 and row.status == "PENDING",
        "nextEscalationAt": format_instant(row.next_escalation_at),
        "responders": responders_json(row, paged, names),
        "reportTime": format_instant(row.report_time),
        "acceptedAt": format_instant(row.accepted_at),
        "acceptedBy": user_ref(row.accepted_by_id, names),
        "resolvedAt": format_instant(row.resolved_at),
        "resolvedBy": user_ref(row.resolved_by_id, names),
        "images": row.images or [],
        "links": row.links or [],
        "labels": row.labels or {},
        "customDetails": row.custom_details or {},
        "eventCount": row.event_count,
    }


LOG_ENTRY = closed("LogEntry", id=ID, timestamp=INSTANT, logEntryType=STRING, text=STRING,
                   user=NULLABLE_USER_REF, channel=NULLABLE_STRING)


def log_entry_json(row: m.LogEntry, names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "timestamp": format_instant(row.timestamp),
        "logEntryType": row.log_entry_type,
        "text": row.text,
        "user": user_ref(row.user_id, names),
        "channel": row.channel,
    }


USER = closed("User", id=ID, username=STRING, firstName=STRING, lastName=STRING, email=STRING,
              timezone=STRING, role=Choice(options=ROLES), mutedUntil=NULLABLE_INSTANT)


def user_json(row: m.User) -> dict[str, Any]:
    return {
        "id": row.id,
        "username": row.username,
        "firstName": row.first_name,
        "lastName": row.last_name,
        "email": row.email,
        "timezone": row.timezone,
        "role": row.role,
        "mutedUntil": format_instant(row.muted_until),
    }


ALERT_SOURCE = closed(
    "AlertSource", id=ID, name=STRING, integrationType=STRING, integrationKey=NULLABLE_STRING,
    escalationPolicy=Ref(nullable=True), priority=Choice(options=PRIORITIES),
    fieldMapping=MapOf(value=STRING, nullable=True), signingSecret=NULLABLE_STRING,
    supportHours=SUPPORT_HOURS, phoneNumber=NULLABLE_STRING,
)


def alert_source_json(row: m.AlertSource, secrets: bool = True) -> dict[str, Any]:
    """A source as the API shows it; without `secrets` (to a USER) its integration key and signing
    secret are null: whoever holds them can open incidents on it."""
    return {
        "id": row.id,
        "name": row.name,
        "integrationType": row.integration_type,
        "integrationKey": row.integration_key if secrets else None,
        "escalationPolicy": (
            {"id": row.escalation_policy_id} if row.escalation_policy_id is not None else None
        ),
        "priority": row.priority,
        "fieldMapping": row.field_mapping,
        "signingSecret": row.signing_secret if secrets else None,
        "supportHours": row.support_hours,
        "phoneNumber": row.phone_number,
    }


ESCALATION_POLICY = closed(
    "EscalationPolicy", id=ID, name=STRING,
    escalationRules=ArrayOf(item=ObjectSpec(closed=True, fields={
        "escalationTimeout": Integer(), "users": ArrayOf(item=Ref()), "schedules": ArrayOf(item=Ref())})),
    repeating=Boolean(), frequency=Integer(),
)


def escalation_policy_json(row: m.EscalationPolicy) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "escalationRules": row.rules,
        "repeating": bool(row.repeating),
        "frequency": row.frequency,
    }


NOTIFICATION = closed(
    "Notification", id=ID, user=USER_REF, method=STRING, target=STRING,
    kind=Choice(options=("ALERT", "ALERT_ACCEPTED", "ALERT_RESOLVED", "ALERT_ESCALATED")),
    escalationLevel=Integer(nullable=True), dueAt=INSTANT, sentAt=NULLABLE_INSTANT,
    status=Choice(options=("SCHEDULED", "SUCCESS", "ERROR", "CANCELLED", "AGGREGATED")),
    attempts=Integer(low=0), errorMessage=NULLABLE_STRING,
)


def notification_json(row: m.Notification, names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "user": user_ref(row.user_id, names),
        "method": row.method,
        "target": row.target,
        "kind": row.kind,
        "escalationLevel": row.level,
        "dueAt": format_instant(row.due_at),
        "sentAt": format_instant(row.sent_at),
        "status": row.status,
        "attempts": row.attempts,
        "errorMessage": row.error_message,
    }


_DAY_TIME = ObjectSpec(closed=True, fields={"dayOfWeek": STRING, "time": STRING})
SCHEDULE = closed(
    "Schedule", id=ID, name=STRING, type=STRING, timezone=STRING,
    scheduleLayers=ArrayOf(item=ObjectSpec(closed=True, fields={
        "name": STRING, "users": ArrayOf(item=Ref()), "rotation": STRING, "startsOn": STRING,
        "endsOn": NULLABLE_STRING,
        "restrictions": ArrayOf(item=ObjectSpec(closed=True, fields={"from": _DAY_TIME, "to": _DAY_TIME})),
    })),
    shifts=ArrayOf(item=ObjectSpec(closed=True, fields={"user": Ref(), "start": INSTANT, "end": INSTANT})),
)


def schedule_json(row: Any, definition: dict[str, Any]) -> dict[str, Any]:
    layers = [
        {
            "name": layer["name"],
            "users": [{"id": u} for u in layer["users"]],
            "rotation": layer["rotation"],
            "startsOn": layer["startsOn"],
            "endsOn": layer.get("endsOn"),
            "restrictions": layer.get("restrictions", []),
        }
        for layer in definition.get("scheduleLayers", [])
    ]
    shifts = [
        {"user": {"id": s["user"]}, "start": s["start"], "end": s["end"]}
        for s in definition.get("shifts", [])
    ]
    return {
        "id": row.id, "name": row.name, "type": row.type, "timezone": row.timezone,
        "scheduleLayers": layers, "shifts": shifts,
    }


API_TOKEN = closed("ApiToken", id=ID, name=STRING, createdAt=INSTANT)
NEW_TOKEN = closed("NewApiToken",
                   token=Text(max_length=None, description="shown once: only its hash is kept"))


def token_json(row: m.ApiToken) -> dict[str, Any]:
    """An API token as its owner sees it: never the token itself (only its hash is kept)."""
    return {"id": row.id, "name": row.name, "createdAt": format_instant(row.created_at)}


# --- the answers rendered by the route modules themselves --------------------------------------

# ilertd.web.intake
HEARTBEAT_MONITOR = closed(
    "HeartbeatMonitor", id=ID, name=STRING, intervalSec=Integer(), alertSource=Ref(),
    integrationKey=NULLABLE_STRING, lastPingAt=NULLABLE_INSTANT,
    status=Choice(options=("UNKNOWN", "OK", "OVERDUE")),
)
PING = closed("Ping", status=Choice(options=("OK",)))
MAINTENANCE_WINDOW = closed("MaintenanceWindow", id=ID, summary=STRING, start=INSTANT, end=INSTANT,
                            alertSources=ArrayOf(item=Ref()))
# ilertd.web.schedules
SHIFT = closed("Shift", user=USER_REF, start=INSTANT, end=INSTANT)
OVERRIDE = closed("Override", id=ID, user=USER_REF, start=INSTANT, end=INSTANT)
ON_CALL = closed("OnCall", escalationPolicy=NAMED_REF, escalationLevel=Integer(low=0), user=USER_REF,
                 start=NULLABLE_INSTANT, end=NULLABLE_INSTANT)
FEED_URL = closed("FeedUrl", url=Text(max_length=None, description="the feed with its read-only token"))
# ilertd.web.incidents
COMMENT = closed("Comment", id=ID, content=STRING, creator=USER_REF, reportTime=INSTANT)
# ilertd.web.preferences
TEST_PAGE = closed("TestNotification", id=ID, status=Choice(options=("SCHEDULED",)))
# ilertd.web.numbers
NUMBER = closed("Number", countryCode=NULLABLE_STRING, phoneNumber=STRING,
                types=ArrayOf(item=Choice(options=("SMS", "VOICE"))), supportsInboundSms=Boolean())
# ilertd.plugins.event_api
EVENT_REPLY = closed("EventReply", alertKey=NULLABLE_STRING, alertUrl=NULLABLE_STRING,
                     incidentId=Integer(nullable=True), responseCode=STRING)
# ilertd.web.ops
CLOCK = closed("Clock", now=INSTANT)
HEALTH = ObjectSpec(title="Health", required=("status", "role"), fields={
    "status": Choice(options=("ok", "unavailable")),
    "role": Choice(options=("leader", "follower"), description="whether this node runs the actors, timers"
                   " and channels (one node leads a shared PostgreSQL database; SQLite: always leader)"),
    "reason": Text(max_length=None, description="why it is unavailable")})
