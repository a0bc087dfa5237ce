"""Config as code, the other way: the store written out as the document `ilertd provision` reads
(`ilertd export`), objects by name, contacts and rules in a fixed order, no secrets."""

from __future__ import annotations

from typing import Any

from ilertd.app.preferences import RULE_KINDS, RuleKind
from ilertd.domain.provision_document import KINDS, WHAT
from ilertd.domain.provision_render import render
from ilertd.domain.wording import plural, quoted
from ilertd.store import models as m
from ilertd.store.people import all_owned, all_users
from ilertd.store.schedules import all_schedules, current_definitions
from ilertd.store.sources import all_policies, all_sources

# The user's scalar fields: API name → column.
USER_FIELDS = {"username": "username", "firstName": "first_name", "lastName": "last_name",
               "email": "email", "timezone": "timezone", "role": "role"}
# The document's lists of rules, the API's collections of notification preferences.
RULE_LISTS: dict[str, RuleKind] = dict(zip(("notificationRules", "updateRules", "dutyRules"), RULE_KINDS,
                                           strict=True))
EXPORT_HEADER = (
    "ilertd configuration (`ilertd export`); apply with `ilertd provision FILE`.",
    "Not included: integration keys, signing secrets, API tokens, passwords, mutedUntil, overrides,",
    "heartbeat monitors, maintenance windows, incidents.",
)


class ExportError(Exception):
    """The store holds something the document cannot express; the message says how to fix it."""


def export_document() -> str:
    """The store as a document: objects by name, contacts and rules in a fixed order."""
    users = sorted(all_users(), key=lambda u: u.username)
    names = {u.id: u.username for u in users}
    schedules = sorted(all_schedules(), key=lambda s: (s.name, s.id))
    policies = sorted(all_policies(), key=lambda p: (p.name, p.id))
    sources = sorted(all_sources(), key=lambda s: (s.name, s.id))
    for kind, rows in (("schedules", schedules), ("escalationPolicies", policies),
                       ("alertSources", sources)):
        _refuse_duplicates(kind, [row.name for row in rows])
    definitions = current_definitions([s.id for s in schedules])
    schedule_names = {s.id: s.name for s in schedules}
    policy_names = {p.id: p.name for p in policies}
    sections = {
        "users": [_export_user(u) for u in users],
        "schedules": [_export_schedule(s, definitions.get(s.id, {}), names) for s in schedules],
        "escalationPolicies": [_export_policy(p, names, schedule_names) for p in policies],
        "alertSources": [_export_source(s, policy_names) for s in sources],
    }
    assert set(sections) == set(KINDS)
    return render(sections, header=EXPORT_HEADER)

def _export_user(row: m.User) -> dict[str, Any]:
    contacts = {c.id: {"method": c.method, "target": c.target} for c in all_owned(m.Contact, row.id)}
    user: dict[str, Any] = {key: getattr(row, column) for key, column in USER_FIELDS.items()}
    user["contacts"] = sorted({(c["method"], c["target"]): c for c in contacts.values()}.values(),
                              key=lambda c: (c["method"], c["target"]))
    for key, kind in RULE_LISTS.items():
        rules = []
        for rule in all_owned(kind.model, row.id):
            item: dict[str, Any] = {"contact": contacts[rule.contact_id]}
            if kind.segment == "alerts":
                item.update(type=rule.type, delayMin=rule.delay_min)
            elif kind.segment == "updates":
                item["type"] = rule.type
            else:
                item["beforeMin"] = rule.before_min
            rules.append(item)
        # Each rule once: identical ones (kept from before the API refused them, or of two
        # contacts one address) are one rule to provisioning, which refuses a repeated item.
        distinct = {(r.get("type", ""), r.get("delayMin", 0), r.get("beforeMin", 0),
                     r["contact"]["method"], r["contact"]["target"]): r for r in rules}
        user[key] = [distinct[order] for order in sorted(distinct)]
    return user


def _refuse_duplicates(kind: str, names: list[str]) -> None:
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ExportError(f"several {plural(WHAT[kind])} are named {quoted(twice[0])}; the document names"
                          " each object once: rename all but one through the API, then export again")


def _name(names: dict[int, str], ident: int, what: str, where: str) -> dict[str, str]:
    if ident not in names:
        raise ExportError(f"{where} names {what} {ident}, which no longer exists: "
                          "edit it through the API, then export again")
    return {"name": names[ident]}


def _export_schedule(row: m.Schedule, definition: dict[str, Any], names: dict[int, str]) -> dict[str, Any]:
    where = f"schedule {quoted(row.name)}"
    schedule: dict[str, Any] = {"name": row.name, "type": row.type, "timezone": row.timezone}
    if row.type == "STATIC":
        schedule["shifts"] = [{"user": _name(names, s["user"], "user", where), "start": s["start"],
                               "end": s["end"]} for s in definition.get("shifts", [])]
        return schedule
    layers = []
    for layer in definition.get("scheduleLayers", []):
        item: dict[str, Any] = {"name": layer["name"]} if layer.get("name") else {}
        item["users"] = [_name(names, u, "user", where) for u in layer["users"]]
        item.update(rotation=layer["rotation"], startsOn=layer["startsOn"])
        if layer.get("endsOn"):
            item["endsOn"] = layer["endsOn"]
        if layer.get("restrictions"):
            item["restrictions"] = layer["restrictions"]
        layers.append(item)
    schedule["scheduleLayers"] = layers
    return schedule


def _export_policy(row: m.EscalationPolicy, names: dict[int, str], schedule_names: dict[int, str]
                   ) -> dict[str, Any]:
    levels = []
    for index, rule in enumerate(row.rules):
        where = f"escalation policy {quoted(row.name)} level {index}"
        level: dict[str, Any] = {"escalationTimeout": rule["escalationTimeout"]}
        if rule.get("users"):
            level["users"] = [_name(names, u["id"], "user", where) for u in rule["users"]]
        if rule.get("schedules"):
            level["schedules"] = [_name(schedule_names, s["id"], "schedule", where)
                                  for s in rule["schedules"]]
        levels.append(level)
    return {"name": row.name, "repeating": bool(row.repeating), "frequency": row.frequency,
            "escalationRules": levels}


def _export_source(row: m.AlertSource, policy_names: dict[int, str]) -> dict[str, Any]:
    source: dict[str, Any] = {"name": row.name, "integrationType": row.integration_type,
                              "priority": row.priority}
    if row.escalation_policy_id is not None:
        source["escalationPolicy"] = _name(policy_names, row.escalation_policy_id, "escalation policy",
                                           f"alert source {quoted(row.name)}")
    for key, value in (("phoneNumber", row.phone_number), ("fieldMapping", row.field_mapping),
                       ("supportHours", row.support_hours)):
        if value is not None:
            source[key] = value
    return source
