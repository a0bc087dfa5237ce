"""Reading and writing incidents as domain values: the mapping between rows and `Incident`."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peewee import fn

from ilertd.domain import escalation as esc
from ilertd.domain.events import alert_key_identity
from ilertd.domain.incidents import WAITING, Incident, LogEntry
from ilertd.store import models as m
from ilertd.store.cache import GuardedCache
from ilertd.store.reader import Reader
from ilertd.store.retention import given_up_to


@dataclass(frozen=True)
class IncidentFilters:
    """What a listing of incidents is narrowed to; None: no condition on that."""

    states: list[str] | None = None
    source_ids: list[int] | None = None
    reported_from: datetime | None = None
    reported_until: datetime | None = None


def incident(incident_id: int) -> m.Incident | None:
    """The incident's row (the API's read; paging reads `load_incident`)."""
    return m.Incident.get_or_none(m.Incident.id == incident_id)


def incidents_page(filters: IncidentFilters, start: int, size: int) -> list[m.Incident]:
    """A page of the incidents matching `filters`, newest first."""
    query = m.Incident.select()
    if filters.states is not None:
        query = query.where(m.Incident.status.in_(filters.states))
    if filters.source_ids is not None:
        query = query.where(m.Incident.alert_source.in_(filters.source_ids))
    if filters.reported_from is not None:
        query = query.where(m.Incident.report_time >= filters.reported_from)
    if filters.reported_until is not None:
        query = query.where(m.Incident.report_time < filters.reported_until)
    return list(query.order_by(m.Incident.id.desc()).offset(start).limit(size))


def log_entries_page(incident_id: int, start: int, size: int) -> list[m.LogEntry]:
    return list(m.LogEntry.select().where(m.LogEntry.incident == incident_id).order_by(m.LogEntry.id)
                .offset(start).limit(size))


def log_entry_count(incident_id: int) -> int:
    return int(m.LogEntry.select().where(m.LogEntry.incident == incident_id).count())


def latest_comment(incident_id: int, user_id: int, text: str | None = None) -> m.LogEntry | None:
    """The user's newest comment on the incident (of this `text`, if given: two comments of one
    user posted at once were each answered with whichever was stored last)."""
    query = (m.LogEntry.select()
             .where((m.LogEntry.incident == incident_id) & (m.LogEntry.log_entry_type == "COMMENT")
                    & (m.LogEntry.user_id == user_id))
             .order_by(m.LogEntry.id.desc()))
    found = query.where(m.LogEntry.text == text).first() if text is not None else None
    return found if found is not None else query.first()


def incident_row(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "alert_source": incident.alert_source_id,
        "alert_key": incident.alert_key,
        "alert_key_identity": incident.key_identity,
        "summary": incident.summary,
        "details": incident.details,
        "status": incident.status,
        "priority": incident.priority,
        "escalation_policy_id": incident.escalation_policy_id,
        "escalation_level": incident.escalation_level,
        "escalation_pass": incident.escalation_pass,
        "next_escalation_at": incident.next_escalation_at,
        "escalated_at": incident.escalated_at,
        "escalated_seq": incident.escalated_seq,
        "report_time": incident.report_time,
        "accepted_at": incident.accepted_at,
        "accepted_by_id": incident.accepted_by,
        "resolved_at": incident.resolved_at,
        "resolved_by_id": incident.resolved_by,
        "images": [dict(i) for i in incident.images],
        "links": [dict(link) for link in incident.links],
        "labels": dict(incident.labels),
        "custom_details": dict(incident.custom_details),
        "event_count": incident.event_count,
    }


def incident_from_row(row: Any) -> Incident:
    return Incident(
        id=row.id,
        alert_source_id=row.alert_source_id,
        alert_key=row.alert_key,
        summary=row.summary,
        details=row.details,
        status=row.status,
        priority=row.priority,
        report_time=row.report_time,
        escalation_policy_id=row.escalation_policy_id,
        escalation_level=row.escalation_level,
        escalation_pass=row.escalation_pass,
        next_escalation_at=row.next_escalation_at,
        escalated_at=row.escalated_at,
        escalated_seq=row.escalated_seq,
        accepted_at=row.accepted_at,
        accepted_by=row.accepted_by_id,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by_id,
        images=tuple(row.images or ()),
        links=tuple(row.links or ()),
        labels=row.labels or {},
        custom_details=row.custom_details or {},
        event_count=row.event_count,
    )


def load_incident(reader: Reader, incident_id: int) -> Incident | None:
    row = reader.one(m.Incident, "id = ?", incident_id)
    return incident_from_row(row) if row is not None else None


def load_incidents(reader: Reader, incident_ids: Iterable[int]) -> dict[int, Incident]:
    """The existing incidents among `incident_ids`, by id: a batch of escalations reads them at once."""
    return {row.id: incident_from_row(row) for row in reader.by_ids(m.Incident, incident_ids)}


def policy_from_row(row: Any) -> esc.EscalationPolicy:
    rules = tuple(
        esc.EscalationRule(
            escalation_timeout_min=int(rule["escalationTimeout"]),
            user_ids=tuple(int(u["id"]) for u in rule.get("users") or ()),
            schedule_ids=tuple(int(s["id"]) for s in rule.get("schedules") or ()),
        )
        for rule in row.rules
    )
    return esc.EscalationPolicy(row.id, row.name, rules, bool(row.repeating), int(row.frequency))


def load_policy(policy_id: int | None, reader: Reader | None = None) -> esc.EscalationPolicy | None:
    if policy_id is None:
        return None
    if reader is not None:
        row = reader.one(m.EscalationPolicy, "id = ?", policy_id)
    else:
        row = m.EscalationPolicy.get_or_none(m.EscalationPolicy.id == policy_id)
    return policy_from_row(row) if row is not None else None


class PolicyCache:
    """Escalation policies by id, kept in memory: every new incident needs one, edits are rare.

    Reads happen on actor threads; opening a SQLite connection per fresh actor just to read
    a policy would cost more than the whole rest of opening an incident. A read that began
    before an invalidation is not kept: it may hold what the writer just replaced.
    """

    def __init__(self) -> None:
        self._cache: GuardedCache[int, esc.EscalationPolicy | None] = GuardedCache()

    def get(self, policy_id: int | None, reader: Reader | None = None) -> esc.EscalationPolicy | None:
        if policy_id is None:
            return None
        found, missing, generation = self._cache.lookup((policy_id,))
        if not missing:
            return found[policy_id]
        policy = load_policy(policy_id, reader)
        self._cache.keep(generation, {policy_id: policy})
        return policy

    def load_missing(self, policy_ids: Iterable[int | None], reader: Reader) -> None:
        """Read the policies among `policy_ids` not yet cached, in one query: for a batch."""
        _, missing, generation = self._cache.lookup({p for p in policy_ids if p is not None})
        if not missing:
            return
        rows = {row.id: policy_from_row(row) for row in reader.by_ids(m.EscalationPolicy, missing)}
        # A deleted policy is remembered as None, as `get` does.
        self._cache.keep(generation, {p: rows.get(p) for p in missing})

    def invalidate(self) -> None:
        self._cache.invalidate()


def open_alert_keys() -> dict[tuple[int, str], int]:
    query = (
        m.Incident.select(m.Incident.id, m.Incident.alert_source, m.Incident.alert_key_identity)
        .where(m.Incident.status != "RESOLVED")
        .tuples()
    )
    return {(source_id, identity): incident_id for incident_id, source_id, identity in query}


def open_incident_id(source_id: int, key_identity: str) -> int | None:
    """The open incident of this source holding this key (as `alert_key_identity` has it), if any."""
    model = m.Incident
    return (model.select(model.id)  # type: ignore[no-any-return]
            .where(model.alert_source == source_id, model.alert_key_identity == key_identity,
                   model.status != "RESOLVED").scalar())


def open_incidents_of_keys(alert_keys: Collection[str], opened_by: str | None = None
                          ) -> dict[str, list[tuple[int, int]]]:
    """The open incidents of each of `alert_keys` (keys compared as the store compares them), as
    (incident id, alert source id), for the few keys ilertd raises itself: a scan of the open
    incidents. With `opened_by`, only those an event of that integration reached: a tool's own
    alert of the same key on some source is not ilertd's to resolve."""
    identities = {alert_key_identity(key): key for key in alert_keys}
    if not identities:
        return {}
    condition = (m.Incident.status != "RESOLVED") & m.Incident.alert_key_identity.in_(list(identities))
    if opened_by is not None:
        condition &= fn.EXISTS(m.Event.select(m.Event.id).where(
            (m.Event.incident == m.Incident.id) & (m.Event.integration == opened_by)))
    query = (m.Incident.select(m.Incident.alert_key_identity, m.Incident.id, m.Incident.alert_source)
             .where(condition).order_by(m.Incident.id).tuples())
    found: dict[str, list[tuple[int, int]]] = {}
    for identity, incident_id, source_id in query:
        found.setdefault(identities[identity], []).append((incident_id, source_id))
    return found


def incidents_accepted_by(user_id: int) -> list[int]:
    """The ids of the incidents this user accepted that are not resolved yet."""
    return [incident_id for (incident_id,) in m.Incident.select(m.Incident.id)
            .where((m.Incident.status == "ACCEPTED") & (m.Incident.accepted_by_id == user_id))
            .order_by(m.Incident.id).tuples()]


def open_incident_counts(source_ids: list[int] | None = None) -> dict[int, int]:
    """How many incidents are open on each alert source (of `source_ids`, or all), counted by the
    store: a page showing the counts must not read every open incident."""
    query = (m.Incident.select(m.Incident.alert_source, fn.COUNT(m.Incident.id))
             .where(m.Incident.status != "RESOLVED"))
    if source_ids is not None:
        query = query.where(m.Incident.alert_source.in_(source_ids))
    return dict(query.group_by(m.Incident.alert_source).tuples())


def max_incident_id() -> int:
    """The largest incident id given: stored, or deleted since (see ilertd.store.retention)."""
    return max(m.Incident.select(fn.MAX(m.Incident.id)).scalar() or 0, given_up_to("incident"))


_DEADLINES = ("SELECT id, next_escalation_at FROM incident WHERE status = 'PENDING'"
              " AND next_escalation_at IS NOT NULL")


def escalation_deadlines(reader: Reader, until: datetime | None = None) -> list[tuple[int, datetime]]:
    """(incident id, deadline) of every PENDING incident with a deadline (due by `until`, if
    given): what a start re-arms, and what the sweep checks every 30 s. Hand-written SQL: the ORM
    took 200 µs to build the sweep's query, which SQLite ran in 15 (2,880 sweeps when a manual
    clock moves a day ahead)."""
    field = m.Incident.next_escalation_at
    sql, params = _DEADLINES, ()
    if until is not None:
        sql, params = f"{sql} AND next_escalation_at <= ?", (field.db_value(until),)
    return [(row[0], field.python_value(row[1]))
            for row in reader.raw(sql, *params, columns="id, next_escalation_at")]


WAITING_SQL = f"SELECT id FROM incident WHERE status = 'PENDING' AND escalation_level = {WAITING}"


def waiting_incident_ids(reader: Reader) -> list[int]:
    """PENDING incidents nobody in their policy could be paged for, waiting for someone (level -2)."""
    return [row[0] for row in reader.raw(WAITING_SQL, columns="id")]


def log_rows(incident_id: int, entries: Iterable[LogEntry], at: datetime) -> list[dict[str, Any]]:
    return [
        {
            "incident": incident_id,
            "timestamp": at,
            "log_entry_type": entry.log_entry_type,
            "text": entry.text,
            "user_id": entry.user_id,
            "channel": entry.channel,
        }
        for entry in entries
    ]


def held_incidents(source_ids: Iterable[int] | None = None) -> list[tuple[int, int, datetime, datetime]]:
    """The PENDING incidents held by their source's quiet times (level -1), of these sources or
    of all: each as (incident, source, when it opened, when its hold ends)."""
    model = m.Incident
    query = (model.select(model.id, model.alert_source, model.report_time, model.next_escalation_at)
             .where(model.status == "PENDING", model.escalation_level == -1)
             .order_by(model.id))
    if source_ids is not None:
        query = query.where(model.alert_source.in_(list(source_ids)))
    return list(query.tuples())
