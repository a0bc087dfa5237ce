"""Alert sources and escalation policies as the API reads them; sources by integration key, cached."""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from ilertd.domain.events import Priority
from ilertd.domain.quiet_times import SupportHours, parse_support_hours
from ilertd.store import models as m
from ilertd.store.cache import GuardedCache
from ilertd.store.db import held


@dataclass(frozen=True)
class SourceInfo:
    id: int
    name: str
    integration_type: str
    priority: Priority
    escalation_policy_id: int | None
    # What a tool's integration may need of its source: the generic webhook's JSON pointers,
    # the secret a signed tool's requests are checked with.
    field_mapping: Mapping[str, str] | None = None
    signing_secret: str | None = None
    support_hours: SupportHours | None = None


def source(source_id: int) -> m.AlertSource | None:
    return m.AlertSource.get_or_none(m.AlertSource.id == source_id)


def support_hours_of(source_id: int) -> SupportHours | None:
    """The support hours of a source; None when it has none (or is gone)."""
    row = source(source_id)
    return parse_support_hours(row.support_hours) if row is not None and row.support_hours else None


def sources_page(start: int, size: int) -> list[m.AlertSource]:
    return list(m.AlertSource.select().order_by(m.AlertSource.id).offset(start).limit(size))


def all_sources() -> list[m.AlertSource]:
    return list(m.AlertSource.select().order_by(m.AlertSource.id))


def sources_named(name: str) -> list[m.AlertSource]:
    """The sources with this name, by id (names are not unique in the store)."""
    return list(m.AlertSource.select().where(m.AlertSource.name == name).order_by(m.AlertSource.id))


def source_names(source_ids: Collection[int]) -> dict[int, str]:
    """The name of each existing source among `source_ids`, in one query."""
    return _names(m.AlertSource, source_ids)


def policy(policy_id: int) -> m.EscalationPolicy | None:
    return m.EscalationPolicy.get_or_none(m.EscalationPolicy.id == policy_id)


def policies_page(start: int, size: int) -> list[m.EscalationPolicy]:
    return list(m.EscalationPolicy.select().order_by(m.EscalationPolicy.id).offset(start).limit(size))


def all_policies() -> list[m.EscalationPolicy]:
    return list(m.EscalationPolicy.select().order_by(m.EscalationPolicy.id))


def policies_named(name: str) -> list[m.EscalationPolicy]:
    """The policies with this name, by id (names are not unique in the store)."""
    return list(m.EscalationPolicy.select().where(m.EscalationPolicy.name == name)
                .order_by(m.EscalationPolicy.id))


def policy_names(policy_ids: Collection[int]) -> dict[int, str]:
    """The name of each existing policy among `policy_ids`, in one query."""
    return _names(m.EscalationPolicy, policy_ids)


def policies_paging_schedule(schedule_id: int) -> list[str]:
    """The names of the policies with a level that pages this schedule, by id."""
    return [p.name for p in m.EscalationPolicy.select().order_by(m.EscalationPolicy.id)
            if any({"id": schedule_id} in rule.get("schedules", []) for rule in p.rules)]


def sources_paging_by(policy_id: int) -> list[str]:
    """The names of the alert sources whose incidents this policy escalates, by id."""
    return [name for (name,) in m.AlertSource.select(m.AlertSource.name)
            .where(m.AlertSource.escalation_policy == policy_id).order_by(m.AlertSource.id).tuples()]


def open_incidents_escalating_by(policy_id: int) -> list[int]:
    """The ids of the open incidents (PENDING or ACCEPTED) that escalate by this policy."""
    return [incident_id for (incident_id,) in m.Incident.select(m.Incident.id)
            .where((m.Incident.escalation_policy_id == policy_id) & (m.Incident.status != "RESOLVED"))
            .order_by(m.Incident.id).tuples()]


def _names(model: type[m.AlertSource] | type[m.EscalationPolicy], ids: Collection[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(model.select(model.id, model.name).where(model.id.in_(ids)).tuples())


def source_with_phone(phone_number: str) -> m.AlertSource | None:
    return m.AlertSource.get_or_none(m.AlertSource.phone_number == phone_number)


def source_key_by_phone(phone_number: str) -> str | None:
    """The integration key of the SMS alert source with this number, if one has it."""
    row = (m.AlertSource.select(m.AlertSource.integration_key)
           .where(m.AlertSource.phone_number == phone_number, m.AlertSource.integration_type == "SMS")
           .first())
    return row.integration_key if row is not None else None


class SourceCache:
    """Sources by integration key, for intake (a `GuardedCache`: a read an invalidation overtook
    is not kept).

    The first miss after a start or an invalidation reads every source in one query: a burst of
    first events from many sources read them one at a time before, each read on a worker thread
    of its own. One thread reads; the burst's other misses wait for it. A key still missing then
    is read alone (a source made by a path that told no cache). Unknown keys are not remembered:
    a flood of random keys must not grow memory.
    """

    def __init__(self) -> None:
        self._cache: GuardedCache[str, SourceInfo] = GuardedCache()
        self._reading = threading.Lock()

    def cached(self, integration_key: str) -> SourceInfo | None:
        """The source if it is in memory; never touches the store (safe on the event loop)."""
        return self._cache.peek(integration_key)

    def get(self, integration_key: str) -> SourceInfo | None:
        found, _, generation = self._cache.lookup((integration_key,))
        if found:
            return found[integration_key]
        if not self._cache.complete:
            with self._reading:
                found, _, generation = self._cache.lookup((integration_key,))
                if found:
                    return found[integration_key]
                if not self._cache.complete:
                    every = {row.integration_key: source_info(row) for row in m.AlertSource.select()}
                    self._cache.keep(generation, every, every=True)
                    return every.get(integration_key)
        row = m.AlertSource.get_or_none(m.AlertSource.integration_key == integration_key)
        if row is None:
            return None
        info = source_info(row)
        self._cache.keep(generation, {integration_key: info})
        return info

    def invalidate(self) -> None:
        self._cache.invalidate()


def source_info(row: m.AlertSource) -> SourceInfo:
    """What intake needs of a source's row."""
    return SourceInfo(row.id, row.name, row.integration_type, row.priority, row.escalation_policy_id,
                      row.field_mapping, row.signing_secret,
                      parse_support_hours(row.support_hours) if row.support_hours else None)


def existing_source_ids(ids: Collection[int]) -> set[int]:
    """Those of `ids` that name an alert source; in a transaction, held there (`store.db.held`)."""
    model = m.AlertSource
    query = model.select(model.id).where(model.id.in_(sorted(ids))).order_by(model.id)
    return {i for (i,) in held(query).tuples()}
