"""Alert sources (with generated integration keys) and escalation policies: their checks and writes."""

from __future__ import annotations

import contextlib
import secrets
import threading
from typing import Any

import peewee

from ilertd.app import fields as v
from ilertd.app.auth import Principal, require_admin
from ilertd.app.context import Context
from ilertd.app.quiet_times import retime_holds
from ilertd.app.schema import ArrayOf, Boolean, Choice, Integer, MapOf, ObjectSpec, Ref, Text
from ilertd.app.source_numbers import phone_number
from ilertd.domain.escalation import repeats_at_once
from ilertd.domain.phone_numbers import E164
from ilertd.domain.policy_version import policy_version
from ilertd.domain.quiet_times import OUTSIDE, WEEKDAYS, parse_support_hours, support_hours_json
from ilertd.domain.wording import quoted
from ilertd.errors import ApiError, invalid, not_found
from ilertd.store import models as m
from ilertd.store.db import row_held, write_transaction
from ilertd.store.heartbeats import monitor_names_on
from ilertd.store.people import existing_user_ids
from ilertd.store.policy_moves import record_policy_edit, settle_policy_edits
from ilertd.store.quiet_times import take_source_out_of_windows
from ilertd.store.schedules import existing_schedule_ids
from ilertd.store.sources import (
    open_incidents_escalating_by,
    policy,
    source,
    sources_paging_by,
)

BUILT_IN_TYPES = (
    "API", "PROMETHEUS", "GRAFANA", "NAGIOS", "ICINGA", "ZABBIX", "DATADOG", "SENTRY",
    "CLOUDWATCH", "UPTIMEROBOT", "WEBHOOK", "EMAIL", "SMS", "HEARTBEAT",
)
MAPPED_FIELDS = ("summary", "details", "alertKey", "eventType", "priority")
MAX_LEVELS = 20
# One edit (or user's delete) and the moves it owes incidents at a time, in this process.
POLICY_EDITS = threading.Lock()
MAX_TIMEOUT_MIN = 7 * 24 * 60

# Parsed by ilertd.domain.quiet_times (parse_support_hours): its words, its shape.
_CLOCK_TIME = Text(max_length=5, pattern=r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")
SUPPORT_HOURS = ObjectSpec(nullable=True, fields={
    "timezone": Text(max_length=None, description="an IANA time zone"),
    "supportDays": MapOf(keys=WEEKDAYS, value=ObjectSpec(
        fields={"start": _CLOCK_TIME, "end": _CLOCK_TIME}, required=("start", "end"),
        description='end exclusive, after start; "24:00" ends the day')),
    "outside": Choice(options=OUTSIDE, description="default LOW_PRIORITY"),
}, required=("timezone", "supportDays"), description="outside these hours incidents open with LOW "
   "priority, or held until the next start; null: always within")
SOURCE_BODY = ObjectSpec(title="AlertSourceBody", fields={
    "name": v.NAME,
    "integrationType": Choice(vocabulary="integration_types", description="default API"),
    "priority": Choice(options=("HIGH", "LOW"), description="default HIGH: the priority of events "
                       "that name none"),
    "escalationPolicy": Ref(nullable=True, description="an existing policy; null: incidents page nobody"),
    "fieldMapping": MapOf(keys=MAPPED_FIELDS, nullable=True, value=Text(pattern="^/", blank_ok=True),
                          description="how the webhook integration reads a body: JSON pointers (RFC 6901)"),
    "phoneNumber": Text(nullable=True, max_length=None, pattern=rf"^{E164.pattern}$",
                        description="an SMS source's E.164 number, one source per number"),
    "supportHours": SUPPORT_HOURS,
    "signingSecret": Text(nullable=True, description="the secret a tool signs its requests with"),
    "integrationKey": Text(max_length=None, description="generated and read-only: a PUT may carry it "
                           "back unchanged"),
}, on_create=("name",), description="An update changes the fields given.")
POLICY_LEVEL = ObjectSpec(fields={
    "escalationTimeout": Integer(low=0, high=MAX_TIMEOUT_MIN, description="minutes"),
    "users": ArrayOf(item=v.REF, description="existing users"),
    "schedules": ArrayOf(item=v.REF, description="existing schedules"),
}, required=("escalationTimeout",), description="at least one user or schedule")
POLICY_BODY = ObjectSpec(title="EscalationPolicyBody", fields={
    "name": v.NAME,
    "escalationRules": ArrayOf(item=POLICY_LEVEL, min_items=1, max_items=MAX_LEVELS),
    "repeating": Boolean(default=False),
    "frequency": Integer(low=0, high=9, default=0,
                         description="how many more passes after the first when repeating"),
}, on_create=("name", "escalationRules"), description="An update changes the fields given.")


def new_integration_key() -> str:
    return secrets.token_hex(16)


def source_or_404(source_id: int) -> m.AlertSource:
    row = source(source_id)
    if row is None:
        raise not_found("alert source", source_id)
    return row


def policy_or_404(policy_id: int) -> m.EscalationPolicy:
    row = policy(policy_id)
    if row is None:
        raise not_found("escalation policy", policy_id)
    return row


def version_of_policy(row: m.EscalationPolicy) -> str:
    """The version an edit of the policy loaded from `row` names (`update_policy`'s `loaded`)."""
    return policy_version(row.name, row.rules, row.repeating, row.frequency)


def policy_rules(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Validated, normalised `escalationRules`: each level needs a user or a schedule."""
    rules = body.get("escalationRules")
    levels: ArrayOf = POLICY_BODY["escalationRules"]
    if not isinstance(rules, list) or len(rules) < levels.min_items:
        raise invalid("escalationRules", "escalationRules must be a non-empty array")
    if levels.max_items is not None and len(rules) > levels.max_items:
        raise invalid("escalationRules", f"a policy has at most {levels.max_items} levels")
    normalised = []
    for index, rule in enumerate(rules):
        where = f"escalationRules[{index}]"
        if not isinstance(rule, dict):
            raise invalid(where, f"{where} must be an object")
        timeout = POLICY_LEVEL["escalationTimeout"].read(rule, "escalationTimeout")
        user_ids = _ids(rule.get("users"), f"{where}.users")
        schedule_ids = _ids(rule.get("schedules"), f"{where}.schedules")
        if not user_ids and not schedule_ids:
            raise invalid(where, f"{where} needs at least one user or schedule")
        v.all_exist(existing_user_ids, user_ids, f"{where}.users", "user")
        v.all_exist(existing_schedule_ids, schedule_ids, f"{where}.schedules", "schedule")
        normalised.append({
            "escalationTimeout": timeout,
            "users": [{"id": u} for u in user_ids],
            "schedules": [{"id": s} for s in schedule_ids],
        })
    return normalised


def _ids(value: Any, where: str) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(where, f"{where} must be an array of {{id}} objects")
    ids = [v.REF.read(item, f"{where}[{i}]") for i, item in enumerate(value)]
    for i, ident in enumerate(ids):
        if ident in ids[:i]:
            # A level pages each of its people once: a second mention is a slip, not a weight.
            raise invalid(f"{where}[{i}]", f"{where}[{i}]: id {ident} is listed twice in this level "
                          f"(also {where}[{ids.index(ident)}])")
    return ids


def field_mapping(value: Any) -> dict[str, str] | None:
    """The generic webhook's mapping: which JSON pointer (RFC 6901) of a body holds each field."""
    if value is None:
        return None
    mapping: MapOf = SOURCE_BODY["fieldMapping"]
    longest: int = mapping.value.max_length  # type: ignore[attr-defined]
    if not isinstance(value, dict):
        raise invalid("fieldMapping", "fieldMapping must be an object of JSON pointers, or null")
    for name, pointer in value.items():
        if name not in mapping.keys:
            raise invalid(f"fieldMapping.{name}",
                          f"fieldMapping maps only {', '.join(mapping.keys)}; not {name!r}")
        if not isinstance(pointer, str) or (pointer and pointer[0] != "/") or len(pointer) > longest:
            raise invalid(f"fieldMapping.{name}",
                          f"fieldMapping.{name} must be a JSON pointer such as \"/alert/title\"")
    return dict(value)


def support_hours(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        return support_hours_json(parse_support_hours(value))
    except ValueError as error:
        text = str(error)
        raise invalid(text.split(" ", 1)[0].rstrip(":"), text) from None


class Sources:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def known_types(self) -> tuple[str, ...]:
        return tuple(sorted(set(BUILT_IN_TYPES) | self.ctx.integration_types()))

    def _source_fields(self, body: dict[str, Any], creating: bool, current_key: str | None = None,
                       current_id: int | None = None) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        name = SOURCE_BODY.read(body, "name", creating)
        if name is not None:
            fields["name"] = name
        kind = SOURCE_BODY.read(body, "integrationType", options=self.known_types())
        if kind is not None:
            fields["integration_type"] = kind
        elif creating:
            fields["integration_type"] = "API"
        priority = SOURCE_BODY.read(body, "priority")
        if priority is not None:
            fields["priority"] = priority
        if "escalationPolicy" in body:
            ref = body["escalationPolicy"]
            if ref is None:
                fields["escalation_policy"] = None
            else:
                policy_id = SOURCE_BODY["escalationPolicy"].read(ref, "escalationPolicy")
                if not row_held(m.EscalationPolicy, policy_id):
                    raise invalid("escalationPolicy", f"escalation policy {policy_id} does not exist")
                fields["escalation_policy"] = policy_id
        if "fieldMapping" in body:
            fields["field_mapping"] = field_mapping(body["fieldMapping"])
        if "phoneNumber" in body:
            fields["phone_number"] = phone_number(body["phoneNumber"], current_id, self.ctx.reply_numbers)
        if "supportHours" in body:
            fields["support_hours"] = support_hours(body["supportHours"])
        if "signingSecret" in body:
            fields["signing_secret"] = SOURCE_BODY.read(body, "signingSecret")
        # Read-only, but a client's GET-modify-PUT carries it back unchanged.
        if "integrationKey" in body and not creating and body["integrationKey"] != current_key:
            raise invalid("integrationKey", "integrationKey is generated and read-only")
        return fields

    def _number_fits_type(self, fields: dict[str, Any], current: m.AlertSource | None) -> None:
        """A number is an SMS source's only, and is checked again when a source becomes one: a
        number kept from before (or given to a source of another type) was never checked against
        the users' SMS contacts, whose pages would then come back as its alerts."""
        kind = fields.get("integration_type", current.integration_type if current is not None else "API")
        number = fields.get("phone_number", current.phone_number if current is not None else None)
        if number is None:
            return
        if kind != "SMS":
            raise invalid("phoneNumber", f"phoneNumber is for SMS alert sources only, and this one is "
                                         f"{kind}: set phoneNumber to null (or integrationType to SMS)")
        if current is not None and "phone_number" not in fields and current.integration_type != "SMS":
            phone_number(number, current.id, self.ctx.reply_numbers)

    def create_source(self, caller: Principal, body: dict[str, Any]) -> m.AlertSource:
        require_admin(caller)
        with write_transaction(self.ctx.db):
            # In the writing transaction, as every check below of what the write refers to.
            fields = self._source_fields(body, creating=True)
            self._number_fits_type(fields, None)
            v.name_free(m.AlertSource, "alert source", fields["name"])
            row = m.AlertSource.create(integration_key=new_integration_key(), created_at=self.ctx.now(),
                                       **fields)
        return row

    def update_source(self, caller: Principal, source_id: int, body: dict[str, Any]) -> m.AlertSource:
        require_admin(caller)
        SOURCE_BODY.refuse_nulls(body)
        source_or_404(source_id)
        with write_transaction(self.ctx.db):
            # Read again, held, in the writing transaction: judged by a row read before it, two
            # edits at once left an API source with an SMS number, and a re-save of unchanged
            # support hours after another admin's change left the holds where that change put them.
            v.held_or_404(m.AlertSource, source_id, "alert source", exclusive=True)
            current = source_or_404(source_id)
            fields = self._source_fields(body, creating=False, current_key=current.integration_key,
                                         current_id=current.id)
            self._number_fits_type(fields, current)
            if "name" in fields:
                v.name_free(m.AlertSource, "alert source", fields["name"], source_id)
            if fields:
                m.AlertSource.update(**fields).where(m.AlertSource.id == source_id).execute()
        if fields:
            self.ctx.sources.invalidate()
        if "support_hours" in fields and fields["support_hours"] != current.support_hours:
            retime_holds(self.ctx, [source_id], "Support hours changed")
        return source_or_404(source_id)

    def delete_source(self, caller: Principal, source_id: int) -> None:
        """Refused while it has incidents, or while a heartbeat monitor opens its incidents on it:
        the monitor went with it, and the silence of its job then opened nothing. It leaves the
        maintenance windows naming it (one naming only it goes)."""
        require_admin(caller)
        try:
            with write_transaction(self.ctx.db):
                v.held_or_404(m.AlertSource, source_id, "alert source", exclusive=True)
                v.refuse_in_use([quoted(n) for n in monitor_names_on(source_id)],
                              "heartbeat monitors open their incidents on this source",
                              "give them another source first")
                take_source_out_of_windows(source_id)
                m.AlertSource.delete().where(m.AlertSource.id == source_id).execute()
        except peewee.IntegrityError:
            raise ApiError(409, "IN_USE", "the alert source has incidents; it cannot be deleted") from None
        self.ctx.sources.invalidate()
        self.ctx.maintenance.invalidate()

    @staticmethod
    def _policy_fields(body: dict[str, Any], creating: bool) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        name = POLICY_BODY.read(body, "name", creating)
        if name is not None:
            fields["name"] = name
        if creating or "escalationRules" in body:
            fields["rules"] = policy_rules(body)
        if creating or "repeating" in body:
            fields["repeating"] = POLICY_BODY["repeating"].read(body, "repeating")
        if creating or "frequency" in body:
            fields["frequency"] = POLICY_BODY["frequency"].read(body, "frequency")
        return fields

    @staticmethod
    def _refuse_repeats_at_once(fields: dict[str, Any], row: m.EscalationPolicy | None) -> None:
        """A repeating policy whose levels all time out at 0 would run every pass in one instant:
        each responder paged `frequency` + 1 times at once, then the escalation over."""
        rules = fields.get("rules", row.rules if row is not None else [])
        repeating = fields.get("repeating", bool(row.repeating) if row is not None else False)
        frequency = fields.get("frequency", row.frequency if row is not None else 0)
        if repeats_at_once([rule["escalationTimeout"] for rule in rules], repeating, frequency):
            raise invalid("escalationRules",
                          f"a repeating policy needs a level whose escalationTimeout is above 0: "
                          f"with every timeout 0, its {frequency + 1} passes would all run at once, "
                          f"paging each responder {frequency + 1} times in the same instant")

    def create_policy(self, caller: Principal, body: dict[str, Any]) -> m.EscalationPolicy:
        require_admin(caller)
        with write_transaction(self.ctx.db):
            fields = self._policy_fields(body, creating=True)
            self._refuse_repeats_at_once(fields, None)
            v.name_free(m.EscalationPolicy, "escalation policy", fields["name"])
            row = m.EscalationPolicy.create(**fields)
        return row

    def update_policy(self, caller: Principal, policy_id: int, body: dict[str, Any],
                      loaded: str = "", levels_stay: bool = False) -> m.EscalationPolicy:
        """`loaded`, when given, is the version of the policy the edit was made from: changed since
        by another (a level another tab added), the edit is refused, 409 CHANGED_SINCE_LOADED.
        Its incidents go on from their levels as the edit leaves them; within a caller's
        transaction (`ilertd provision`) the moves are recorded owed, and made once the caller
        tells `policy_moves_owed` after its COMMIT. With `levels_stay` (a user's delete taking
        them off levels, which records moves of its own) the incidents' levels stay."""
        require_admin(caller)
        POLICY_BODY.refuse_nulls(body)
        policy_or_404(policy_id)
        within = self.ctx.db.in_transaction()
        # One edit and the moves of its incidents at a time: two edits at once each moved the
        # incidents from the levels before it, and the second's could come first.
        with contextlib.nullcontext() if within else POLICY_EDITS:
            with write_transaction(self.ctx.db):
                # Read again, held: two edits at once were each judged by the row before both (a
                # repeating policy of timeouts 0, which either alone is refused, was stored).
                v.held_or_404(m.EscalationPolicy, policy_id, "escalation policy", exclusive=True)
                current = policy_or_404(policy_id)
                if loaded and loaded != version_of_policy(current):
                    raise ApiError(409, "CHANGED_SINCE_LOADED", "the escalation policy was changed since"
                                   " this edit's copy was loaded; nothing was saved")
                fields = self._policy_fields(body, creating=False)
                self._refuse_repeats_at_once(fields, current)
                if "name" in fields:
                    v.name_free(m.EscalationPolicy, "escalation policy", fields["name"], policy_id)
                if fields:
                    m.EscalationPolicy.update(**fields).where(m.EscalationPolicy.id == policy_id).execute()
                edit = None
                if "rules" in fields and fields["rules"] != current.rules and not levels_stay:
                    # Its incidents go on from their levels as they are now, each moved after the
                    # COMMIT: the moves owed are committed with the edit, so that a crash before
                    # they are all made leaves the rest to the next start.
                    edit = record_policy_edit(current, policy_or_404(policy_id), self.ctx.now())
            if fields:
                self.ctx.policy_written()
            if edit is not None and not within:
                self.ctx.policy_edited(*edit)
                settle_policy_edits(self.ctx.db)
        return policy_or_404(policy_id)

    def delete_policy(self, caller: Principal, policy_id: int) -> None:
        """Refused while a source or an open incident escalates by it: deleting it would leave
        them paging nobody, silently (as a schedule a policy names is refused)."""
        require_admin(caller)
        with write_transaction(self.ctx.db):
            v.held_or_404(m.EscalationPolicy, policy_id, "escalation policy", exclusive=True)
            v.refuse_in_use([quoted(n) for n in sources_paging_by(policy_id)],
                          "alert sources escalate by this policy", "give them another policy first")
            v.refuse_in_use([f"#{i}" for i in open_incidents_escalating_by(policy_id)],
                          "open incidents escalate by this policy", "resolve them first")
            m.EscalationPolicy.delete().where(m.EscalationPolicy.id == policy_id).execute()
        # A source given this policy meanwhile by another node was detached (ON DELETE SET NULL).
        self.ctx.sources.invalidate()
        self.ctx.policies.invalidate()
