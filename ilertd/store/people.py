"""Users as paging sees them: contacts, alert and update rules, muting; and the outbox queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ilertd.domain import notification_plan as plan
from ilertd.store import models as m
from ilertd.store.reader import Reader

# One round trip instead of four: under load every separate query is a wait for the GIL.
# The casts give every column one type in every arm, which PostgreSQL requires.
PERSON_SQL = """
SELECT 'u', id, username, email, muted_until, CAST(NULL AS INTEGER), CAST(NULL AS INTEGER)
  FROM "user" WHERE id = ?
UNION ALL SELECT 'c', id, method, target, NULL, CAST(NULL AS INTEGER), id FROM contact WHERE user_id = ?
UNION ALL SELECT 'a', contact_id, method, type, NULL, delay_min, id FROM alert_rule WHERE user_id = ?
UNION ALL SELECT 'r', contact_id, method, type, NULL, NULL, id FROM update_rule WHERE user_id = ?
ORDER BY 1, 7
"""


def load_person(reader: Reader, user_id: int) -> plan.Person | None:
    rows = reader.raw(PERSON_SQL, user_id, user_id, user_id, user_id)
    users = [r for r in rows if r[0] == "u"]
    if not users:
        return None
    _, uid, username, email, muted_until, _, _ = users[0]
    contacts = tuple(plan.Contact(r[1], r[2], r[3]) for r in rows if r[0] == "c")
    alert_rules = tuple(plan.AlertRule(r[2], r[1], r[5], r[3]) for r in rows if r[0] == "a")
    update_rules = tuple(plan.UpdateRule(r[2], r[1], r[3]) for r in rows if r[0] == "r")
    return plan.Person(uid, username, email, m.User.muted_until.python_value(muted_until), contacts,
                       alert_rules, update_rules)


def paged_user_ids(incident_id: int) -> list[int]:
    """The users paged for an incident so far: who hears of its status changes."""
    query = (
        m.Notification.select(m.Notification.user_id)
        .where((m.Notification.incident == incident_id) & (m.Notification.kind == "ALERT"))
        .distinct()
        .tuples()
    )
    return [user_id for (user_id,) in query]


def max_notification_id() -> int:
    from peewee import fn

    return m.Notification.select(fn.MAX(m.Notification.id)).scalar() or 0


def scheduled_notifications(until: datetime | None = None) -> list[dict[str, Any]]:
    """Pages not yet sent (due by `until`, if given): what a start or a sweep re-arms."""
    query = m.Notification.select(
        m.Notification.id, m.Notification.incident, m.Notification.method, m.Notification.target,
        m.Notification.due_at,
    ).where(m.Notification.status == "SCHEDULED")
    if until is not None:
        query = query.where(m.Notification.due_at <= until)
    return [
        {"id": r.id, "incident_id": r.incident_id, "method": r.method, "target": r.target,
         "due_at": r.due_at}
        for r in query
    ]


def last_sent(since: datetime) -> dict[tuple[str, str], datetime]:
    """When each contact last got a message, for throttling across a restart."""
    from peewee import fn

    query = (
        m.Notification.select(m.Notification.method, m.Notification.target, fn.MAX(m.Notification.sent_at))
        .where(m.Notification.sent_at >= since)
        .group_by(m.Notification.method, m.Notification.target)
        .tuples()
    )
    field = m.Notification.sent_at
    return {(method, target): field.python_value(sent) for method, target, sent in query if sent}
