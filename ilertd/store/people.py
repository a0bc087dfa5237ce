"""Users as paging sees them: contacts, alert and update rules, muting; and the outbox queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ilertd.domain import notification_plan as plan
from ilertd.store import models as m
from ilertd.store.reader import Reader


def load_person(reader: Reader, user_id: int) -> plan.Person | None:
    user = reader.one(m.User, "id = ?", user_id)
    if user is None:
        return None
    contacts = tuple(
        plan.Contact(c.id, c.method, c.target)
        for c in reader.select(m.Contact, "user_id = ? ORDER BY id", user_id)
    )
    alert_rules = tuple(
        plan.AlertRule(r.method, r.contact_id, r.delay_min, r.type)
        for r in reader.select(m.AlertRule, "user_id = ? ORDER BY id", user_id)
    )
    update_rules = tuple(
        plan.UpdateRule(r.method, r.contact_id, r.type)
        for r in reader.select(m.UpdateRule, "user_id = ? ORDER BY id", user_id)
    )
    return plan.Person(user.id, user.username, user.email, user.muted_until, contacts, alert_rules,
                       update_rules)


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
