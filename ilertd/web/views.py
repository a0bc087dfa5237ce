"""Rows → the camelCase JSON of API.md (iLert's names)."""

from __future__ import annotations

from typing import Any

from ilertd.domain.page_text import incident_link
from ilertd.domain.timeutil import format_instant
from ilertd.store import models as m
from ilertd.store.outbox import paged_users
from ilertd.store.people import usernames
from ilertd.store.sources import policy_names, source_names


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
        # A held incident (maintenance, support hours) is stored at level -1: level 0 is next.
        "escalationLevel": max(0, row.escalation_level),
        "held": row.escalation_level < 0,
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


def log_entry_json(row: m.LogEntry, names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "timestamp": format_instant(row.timestamp),
        "logEntryType": row.log_entry_type,
        "text": row.text,
        "user": user_ref(row.user_id, names),
        "channel": row.channel,
    }


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


def alert_source_json(row: m.AlertSource) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "integrationType": row.integration_type,
        "integrationKey": row.integration_key,
        "escalationPolicy": (
            {"id": row.escalation_policy_id} if row.escalation_policy_id is not None else None
        ),
        "priority": row.priority,
        "fieldMapping": row.field_mapping,
        "signingSecret": row.signing_secret,
        "supportHours": row.support_hours,
        "phoneNumber": row.phone_number,
    }


def escalation_policy_json(row: m.EscalationPolicy) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "escalationRules": row.rules,
        "repeating": bool(row.repeating),
        "frequency": row.frequency,
    }


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


def token_json(row: m.ApiToken) -> dict[str, Any]:
    """An API token as its owner sees it: never the token itself (only its hash is kept)."""
    return {"id": row.id, "name": row.name, "createdAt": format_instant(row.created_at)}
