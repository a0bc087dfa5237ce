"""A user's contacts and notification preferences (alert, update and duty rules): checks and writes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ilertd.app.auth import Principal, require_self_or_admin
from ilertd.app.context import Context
from ilertd.app.fields import held_or_404, refuse_own_mailbox
from ilertd.app.schema import Boolean, Choice, Integer, IntegerChoice, ObjectSpec, Ref, Text
from ilertd.app.unsent_pages import MovedPage, cancel, follow_contact
from ilertd.domain.notification_plan import STOPPABLE_METHOD
from ilertd.domain.phone_numbers import e164
from ilertd.domain.shift_reminders import BEFORE_MIN_CHOICES
from ilertd.domain.wording import quoted
from ilertd.errors import ApiError, invalid, not_found
from ilertd.store import models as m
from ilertd.store.db import row_held, write_transaction
from ilertd.store.names import holder_of
from ilertd.store.people import has_same_contact, owned_row, user_exists, usernames
from ilertd.store.replies import stopped_phones
from ilertd.store.sources import source_with_phone

ALERT_TYPES = ("HIGH_PRIORITY", "LOW_PRIORITY")
UPDATE_TYPES = ("ALERT_ACCEPTED", "ALERT_RESOLVED", "ALERT_ESCALATED")
MAX_DELAY_MIN = 24 * 60
MAX_TARGET = 512

# The same shape validate.email accepts for an account address, applied here to `target`.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PUSH = re.compile(rf"\S{{1,{MAX_TARGET}}}")

CONTACT_BODY = ObjectSpec(title="ContactBody", fields={
    "method": Choice(vocabulary="methods", description="one of the enabled channels' methods; it "
                     "cannot change once created"),
    "target": Text(max_length=MAX_TARGET, description="EMAIL: an e-mail address (at most 254 "
                   "characters); SMS, VOICE: an E.164 number such as +4915112345678; PUSH and a "
                   "plugin's method: 1 to 512 characters without whitespace. Trimmed of surrounding blanks"),
}, on_create=("method", "target"))
CONTACT = ObjectSpec(title="Contact", closed=True, fields={
    "id": Integer(), "method": Text(max_length=None), "target": Text(max_length=None),
    "stopped": Boolean(description="read-only: an SMS contact whose number replied STOP, so no SMS "
                                   "goes to it (calls still do) until it texts START")})


def contact_target(body: dict[str, Any], method: str, required: bool, mail_domain: str) -> str | None:
    """The validated `target` for a contact of `method`, trimmed of surrounding blanks; an EMAIL
    one at ilertd's own `mail_domain` is refused (see Context.mail_domain)."""
    value = CONTACT_BODY.read(body, "target", creating=required)
    if value is None:
        return None
    # Pasted addresses and numbers often carry a stray space or newline at either end.
    value = value.strip()
    if method == "EMAIL":
        if len(value) > 254 or not _EMAIL.fullmatch(value):
            raise invalid("target", "target must be an e-mail address for an EMAIL contact")
        refuse_own_mailbox(value, mail_domain, "target")
    elif method in ("SMS", "VOICE"):
        # As people write it (`+49 151 1234-5678`); kept as E.164, the form replies come from.
        number = e164(value)
        if number is None:
            raise invalid("target", f"target must be an E.164 number such as +4915112345678 for a "
                                    f"{method} contact")
        value = number
        source = source_with_phone(value) if method == "SMS" else None
        if source is not None and source.integration_type == "SMS":
            raise invalid("target", f"{value} is the number of SMS alert source {quoted(source.name)}: a"
                                    " page texted to it would come back as an alert there, and page again")
    elif not _PUSH.fullmatch(value):
        raise invalid("target", "target must be an ntfy topic, a Pushover user key or a URL "
                                f"(1 to {MAX_TARGET} characters, no whitespace) for a PUSH contact")
    return value


def contacts_json(rows: Iterable[m.Contact]) -> list[dict[str, Any]]:
    """Contacts as the API shows them, with whether each one's number replied STOP (read once)."""
    rows = list(rows)
    stopped = stopped_phones(r.target for r in rows if r.method == STOPPABLE_METHOD)
    return [{"id": r.id, "method": r.method, "target": r.target,
             "stopped": r.method == STOPPABLE_METHOD and r.target in stopped} for r in rows]


def contact_json(row: m.Contact) -> dict[str, Any]:
    return contacts_json([row])[0]


def _rule_body(title: str, methods: str, extra: dict[str, Any], on_create: tuple[str, ...]) -> ObjectSpec:
    return ObjectSpec(title=title, fields={
        "method": Choice(vocabulary=methods, description="the method of its contact"),
        "contact": Ref(description="one of the user's own contacts, of the rule's method"),
        **extra,
    }, on_create=("method", "contact", *on_create), description="An update changes the fields given.")


def _rule_reply(title: str, extra: dict[str, Any]) -> ObjectSpec:
    return ObjectSpec(title=title, closed=True, fields={
        "id": Integer(), "method": Text(max_length=None), "contact": Ref(), **extra})


ALERT_RULE_BODY = _rule_body("AlertRuleBody", "methods", {
    "type": Choice(options=ALERT_TYPES, description="the incidents' priority it pages for"),
    "delayMin": Integer(low=0, high=MAX_DELAY_MIN, default=0,
                        description="minutes after the escalation level was reached"),
}, ("type",))
UPDATE_RULE_BODY = _rule_body("UpdateRuleBody", "methods", {
    "type": Choice(options=UPDATE_TYPES, description="the change someone else made that it tells of"),
}, ("type",))
# Absent on creation, beforeMin is a reminder as the shift starts (the column's default).
DUTY_RULE_BODY = _rule_body("DutyRuleBody", "reminder_methods", {
    "beforeMin": IntegerChoice(options=BEFORE_MIN_CHOICES, default=0,
                               description="minutes before each on-call shift begins"),
}, ())


def _alert_fields(body: dict[str, Any], creating: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    # A null delay is one not given, as a null type or contact is: the default on creation, and
    # left as it is by a PUT (it was refused as "delayMin is required", which it is not).
    given = {"delayMin": body["delayMin"]} if body.get("delayMin") is not None else {}
    if creating or given:
        fields["delay_min"] = ALERT_RULE_BODY["delayMin"].read(given, "delayMin")
    rule_type = ALERT_RULE_BODY.read(body, "type", creating)
    if rule_type is not None:
        fields["type"] = rule_type
    return fields


def _update_fields(body: dict[str, Any], creating: bool) -> dict[str, Any]:
    rule_type = UPDATE_RULE_BODY.read(body, "type", creating)
    return {"type": rule_type} if rule_type is not None else {}


def _duty_fields(body: dict[str, Any], creating: bool) -> dict[str, Any]:
    if not creating and "beforeMin" not in body:
        return {}
    return {"before_min": DUTY_RULE_BODY["beforeMin"].read(body, "beforeMin")}


@dataclass(frozen=True)
class RuleKind:
    """One collection under /notification-preferences: what differs between the three."""

    segment: str
    what: str
    model: type[m.BaseModel]
    # The columns besides method and contact that make two rules the same rule: a second one
    # would only page (or remind) the same contact at the same moment again.
    identity: tuple[str, ...]
    # Duty rules send shift reminders: only the methods whose channel may carry one.
    reminders: bool
    fields: Callable[[dict[str, Any], bool], dict[str, Any]]
    extra_json: Callable[[Any], dict[str, Any]]
    # The request body it takes, and the rule as it is answered.
    body: ObjectSpec
    reply: ObjectSpec

    def columns(self, row: Any) -> dict[str, Any]:
        """What makes the rule `row` the rule it is: method, contact and `identity`."""
        return {"method": row.method, "contact": row.contact_id,
                **{column: getattr(row, column) for column in self.identity}}

    def json(self, row: Any) -> dict[str, Any]:
        return {"id": row.id, "method": row.method, "contact": {"id": row.contact_id},
                **self.extra_json(row)}


RULE_KINDS = (
    RuleKind("alerts", "alert rule", m.AlertRule, ("type", "delay_min"), False, _alert_fields,
             lambda r: {"delayMin": r.delay_min, "type": r.type}, ALERT_RULE_BODY,
             _rule_reply("AlertRule", {"delayMin": Integer(), "type": Text(max_length=None)})),
    RuleKind("updates", "update rule", m.UpdateRule, ("type",), False, _update_fields,
             lambda r: {"type": r.type}, UPDATE_RULE_BODY,
             _rule_reply("UpdateRule", {"type": Text(max_length=None)})),
    RuleKind("duties", "duty rule", m.DutyRule, ("before_min",), True, _duty_fields,
             lambda r: {"beforeMin": r.before_min}, DUTY_RULE_BODY,
             _rule_reply("DutyRule", {"beforeMin": Integer()})),
)


def rule_fields(kind: RuleKind, body: dict[str, Any], creating: bool, accepted: tuple[str, ...]
                ) -> dict[str, Any]:
    """The rule's columns from the body: only those present when updating."""
    fields: dict[str, Any] = {}
    method = kind.body.read(body, "method", creating, options=accepted)
    if method is not None:
        fields["method"] = method
    if body.get("contact") is not None:
        fields["contact"] = kind.body["contact"].read(body["contact"], "contact")
    elif creating:
        raise invalid("contact", 'contact is required: {"id": <one of the user\'s contacts>}')
    fields.update(kind.fields(body, creating))
    return fields


def check_contact(user_id: int, contact_id: int, method: str) -> None:
    """The rule's contact must be the user's own, and reached by the rule's method. Held for the
    writing transaction: on PostgreSQL a delete of it meanwhile waits, and one committed first
    is seen here (not as a foreign key's 500 at the write)."""
    contact = owned_row(m.Contact, user_id, contact_id) if row_held(m.Contact, contact_id) else None
    if contact is None:
        raise invalid("contact", f"contact {contact_id} is not one of user {user_id}'s contacts")
    if contact.method != method:
        raise invalid("method", f"method {method} does not match contact {contact_id}, "
                                f"which is {contact.method}")


def refuse_duplicate(kind: RuleKind, user_id: int, columns: dict[str, Any],
                     rule_id: int | None = None) -> None:
    """A user's two identical rules are one mistake (PagerDuty and GoAlert refuse the second):
    `409 ALREADY_EXISTS` naming the rule it would repeat."""
    same = holder_of(kind.model, {"user": user_id, **columns}, other_than=rule_id)
    if same is not None:
        names = ["method", "contact", *(_API_NAMES[column] for column in kind.identity)]
        raise ApiError(409, "ALREADY_EXISTS", f"user {user_id} already has this {kind.what} "
                       f"(id {same}): the same {', '.join(names[:-1])} and {names[-1]}")


def refuse_same_contact(user_id: int, method: str, target: str, contact_id: int | None = None) -> None:
    """A user's two contacts of one method and target are one mistake (a form sent twice, a number
    typed once with spaces and once without): `409 ALREADY_EXISTS` naming the one it would repeat,
    as for rules, and as a provision document listing one twice is refused."""
    same = holder_of(m.Contact, {"user": user_id, "method": method, "target": target}, other_than=contact_id)
    if same is not None:
        raise ApiError(409, "ALREADY_EXISTS", f"user {user_id} already has this contact (id {same}): "
                       f"{method} {target}", field="target")


_API_NAMES = {"type": "type", "delay_min": "delayMin", "before_min": "beforeMin"}


def _username(user_id: int) -> str:
    return usernames([user_id]).get(user_id, f"user {user_id}")


def user_or_404(user_id: int) -> None:
    if not user_exists(user_id):
        raise not_found("user", user_id)


def owned_or_404(model: type[m.BaseModel], what: str, user_id: int, row_id: int) -> Any:
    # Another user's row is as absent as a missing one: the path names the owner.
    row = owned_row(model, user_id, row_id)
    if row is None:
        raise not_found(what, row_id)
    return row


class Preferences:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _writable(self, caller: Principal, user_id: int) -> None:
        require_self_or_admin(caller, user_id)
        user_or_404(user_id)

    def create_contact(self, caller: Principal, user_id: int, body: dict[str, Any]) -> m.Contact:
        self._writable(caller, user_id)
        method = CONTACT_BODY.read(body, "method", creating=True, options=self.ctx.methods(False))
        assert method is not None
        target = contact_target(body, method, required=True, mail_domain=self.ctx.mail_domain)
        with write_transaction(self.ctx.db):
            held_or_404(m.User, user_id, "user")
            refuse_same_contact(user_id, method, target)
            row = m.Contact.create(user=user_id, method=method, target=target)
        # After the COMMIT (every write below alike): the very next page reads the change.
        self.ctx.user_changed(user_id)
        return row

    def update_contact(self, caller: Principal, user_id: int, contact_id: int, body: dict[str, Any]
                       ) -> m.Contact:
        self._writable(caller, user_id)
        CONTACT_BODY.refuse_nulls(body)
        with write_transaction(self.ctx.db):
            # Held before it is read: on PostgreSQL two changes of one number at once each moved
            # the pages from the number before both, and the second left them at the first's.
            held_or_404(m.Contact, contact_id, "contact", exclusive=True)
            row = owned_or_404(m.Contact, "contact", user_id, contact_id)
            method = CONTACT_BODY.read(body, "method", options=self.ctx.methods(False))
            # Rules copy the contact's method; changing it would leave them inconsistent.
            if method is not None and method != row.method:
                raise invalid("method", f"a contact's method cannot change (it is {row.method}); "
                                        "create a new contact instead")
            target = contact_target(body, row.method, required=False,
                                    mail_domain=self.ctx.mail_domain)
            moved: list[MovedPage] = []
            if target is not None:
                refuse_same_contact(user_id, row.method, target, contact_id)
                # Another contact of the user with this target still wants its pages.
                if not has_same_contact(row):
                    moved = follow_contact(user_id, _username(user_id), row.method, row.target, target,
                                           self.ctx.now())
                row.target = target
                row.save()
        self.ctx.user_changed(user_id, duties=True)
        self.ctx.pages_moved(moved)
        return row

    def send_test(self, caller: Principal, user_id: int, contact_id: int) -> int:
        """Queue a test page to one of the user's contacts, sent at once (throttled like any page
        to it); its outbox id. The user themselves or an ADMIN."""
        self._writable(caller, user_id)
        row = owned_or_404(m.Contact, "contact", user_id, contact_id)
        if row.method == STOPPABLE_METHOD and stopped_phones([row.target]):
            # Queued, it was refused unseen: the profile said it went.
            raise ApiError(409, "CONFLICT", f"{row.target} replied STOP: no SMS goes to it until it texts"
                           " START to the number pages come from")
        return self.ctx.test_page(user_id, row.method, row.target)

    def delete_contact(self, caller: Principal, user_id: int, contact_id: int) -> None:
        """Delete a contact and, with it, every alert, update and duty rule that uses it.

        A rule without its contact could never be delivered, so refusing the delete (409) would
        only make the caller remove the rules one by one first. The rules go by the foreign
        keys' ON DELETE CASCADE, in the same transaction; SQLite enforces it because the store
        opens every connection with `foreign_keys = 1` (store.db.SQLITE_PRAGMAS).
        """
        self._writable(caller, user_id)
        with write_transaction(self.ctx.db):
            row = owned_or_404(m.Contact, "contact", user_id, contact_id)
            if not has_same_contact(row):
                cancel(user_id, f"{_username(user_id)}'s contact was deleted", self.ctx.now(), row.method,
                       row.target, fallback=False, every_kind=True)
            m.Contact.delete().where(m.Contact.id == contact_id).execute()
        self.ctx.user_changed(user_id, duties=True)

    def create_rule(self, caller: Principal, kind: RuleKind, user_id: int, body: dict[str, Any]) -> Any:
        self._writable(caller, user_id)
        fields = rule_fields(kind, body, creating=True, accepted=self.ctx.methods(kind.reminders))
        # The contact is checked in the writing transaction so a concurrent delete of it
        # cannot slip between the check and the insert.
        with write_transaction(self.ctx.db):
            check_contact(user_id, fields["contact"], fields["method"])
            refuse_duplicate(kind, user_id, fields)
            row = kind.model.create(user=user_id, **fields)
        self.ctx.user_changed(user_id, duties=kind.model is m.DutyRule)
        return row

    def update_rule(self, caller: Principal, kind: RuleKind, user_id: int, rule_id: int,
                    body: dict[str, Any]) -> Any:
        self._writable(caller, user_id)
        kind.body.refuse_nulls(body)
        model: Any = kind.model
        fields = rule_fields(kind, body, creating=False, accepted=self.ctx.methods(kind.reminders))
        with write_transaction(self.ctx.db):
            row = owned_or_404(model, kind.what, user_id, rule_id)
            if "contact" in fields or "method" in fields:
                check_contact(user_id, fields.get("contact", row.contact_id),
                              fields.get("method", row.method))
            if fields:
                refuse_duplicate(kind, user_id, {**kind.columns(row), **fields}, rule_id)
                model.update(**fields).where(model.id == rule_id).execute()
            row = owned_row(model, user_id, rule_id)
        self.ctx.user_changed(user_id, duties=kind.model is m.DutyRule)
        return row

    def delete_rule(self, caller: Principal, kind: RuleKind, user_id: int, rule_id: int) -> None:
        self._writable(caller, user_id)
        model: Any = kind.model
        with write_transaction(self.ctx.db):
            owned_or_404(model, kind.what, user_id, rule_id)
            model.delete().where(model.id == rule_id).execute()
        self.ctx.user_changed(user_id, duties=kind.model is m.DutyRule)
