"""Config as code: a document of users, schedules, policies and sources made true in the store in
one transaction, through the application layer as the API's own writes (`ilertd provision`), and
the store read back into the same document (`ilertd export`).

What provisioning does with each object of the document (matched by `username` or `name`):
- absent from the store: created; present: compared, and only what differs is written (a second
  run writes nothing and every id stays);
- a key left out of an object leaves that field as it is (on creation: the API's default); a
  schedule is always written whole, as the API's PUT takes it;
- `contacts` and each list of rules, when given, are the user's whole list: a contact (method,
  target) or rule not listed is deleted, one listed and missing is created; left out, the user's
  own stay as they are (so users keep managing them in the web UI). A method given one new
  target while the user's one unlisted contact of it goes is that contact's target changed (a
  new number): its rules and unsent pages follow it, as with the API's PUT;
- objects of the store the document does not name are left alone, never deleted.
Secrets are never exported (integration keys, signing secrets, tokens, passwords); a document may
set `signingSecret`, which is then compared and written as any field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ilertd.app import fields as v
from ilertd.app import schedule_fields
from ilertd.app.application import Application
from ilertd.app.auth import OPERATOR
from ilertd.app.export import RULE_LISTS, USER_FIELDS
from ilertd.app.people import user_fields
from ilertd.app.preferences import RuleKind, contact_target, rule_fields
from ilertd.app.sources import field_mapping, phone_number, policy_rules, support_hours
from ilertd.domain.provision_document import NAME_KEY, WHAT, Document, Entry, multiset_diff
from ilertd.domain.wording import plural
from ilertd.errors import ApiError, invalid
from ilertd.store import models as m
from ilertd.store.db import write_transaction
from ilertd.store.people import all_owned, user_named
from ilertd.store.schedules import current_definitions, schedules_named
from ilertd.store.settings import bump_config_generation
from ilertd.store.sources import policies_named, sources_named

CREATE, UPDATE, UNCHANGED = "create", "update", "unchanged"


@dataclass(frozen=True)
class Change:
    action: str
    what: str
    name: str
    fields: tuple[str, ...] = ()

    def describe(self, done: bool) -> str:
        verb = {CREATE: "created" if done else "create", UPDATE: "updated" if done else "update"}[self.action]
        detail = f": {', '.join(self.fields)}" if self.fields else ""
        return f"{verb} {self.what} {self.name!r}{detail}"


@dataclass
class Outcome:
    changes: list[Change] = field(default_factory=list)
    dry_run: bool = False

    def count(self, action: str) -> int:
        return sum(1 for change in self.changes if change.action == action)

    @property
    def changed(self) -> bool:
        return any(change.action != UNCHANGED for change in self.changes)

    def lines(self) -> list[str]:
        """One line per object created or updated (to be, on a dry run), then the counts."""
        done = not self.dry_run
        lines = [c.describe(done) for c in self.changes if c.action != UNCHANGED]
        created, updated, unchanged = self.count(CREATE), self.count(UPDATE), self.count(UNCHANGED)
        if done:
            return [*lines, f"{created} created, {updated} updated, {unchanged} unchanged"]
        return [*lines, f"dry run, nothing changed: {created} to create, {updated} to update, "
                        f"{unchanged} unchanged"]


class ProvisionError(Exception):
    """The document cannot be applied: on which line, and why. Nothing was changed."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _Refusal(Exception):
    """A refusal about a path inside the entry being applied (`contacts[1].target`)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


class _DryRun(Exception):
    """Rolls a dry run's transaction back after everything was applied: the plan it prints was
    checked as a real run checks it, down to the API's refusals."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__("dry run")
        self.outcome = outcome


@contextmanager
def _within(prefix: str) -> Iterator[None]:
    """Refusals of the application layer about an item of a list: their path starts at the item."""
    try:
        yield
    except ApiError as error:
        inner = error.field if error.field and not error.field.startswith(prefix.split("[")[0]) else ""
        raise _Refusal(f"{prefix}.{inner}" if inner else prefix, f"{prefix}: {error.message}") from None


class Provisioning:
    def __init__(self, app: Application) -> None:
        self.app = app

    # --- provision ------------------------------------------------------------------------------

    def apply(self, document: Document, dry_run: bool = False) -> Outcome:
        """Make the document true in one transaction (rolled back on a dry run or any refusal)."""
        try:
            with write_transaction(self.app.ctx.db):
                outcome = Outcome(dry_run=dry_run)
                for kind, apply_one in (("users", self._user), ("schedules", self._schedule),
                                        ("escalationPolicies", self._policy),
                                        ("alertSources", self._source)):
                    for entry in document.of_kind(kind):
                        outcome.changes.append(self._entry(document, entry, apply_one))
                if outcome.changed:
                    # A running daemon's caches heard nothing of this: it watches this count.
                    bump_config_generation()
                if dry_run:
                    raise _DryRun(outcome)
        except _DryRun as rolled_back:
            return rolled_back.outcome
        return outcome

    def _entry(self, document: Document, entry: Entry, apply_one: Callable[[Entry], Change]) -> Change:
        try:
            return apply_one(entry)
        except ApiError as error:
            raise ProvisionError(document.line_of(entry, error.field or ""),
                                 f"{entry.label}: {error.message}") from None
        except _Refusal as refusal:
            raise ProvisionError(document.line_of(entry, refusal.path),
                                 f"{entry.label}: {refusal.message}") from None

    @staticmethod
    def _change(entry: Entry, created: bool, changed: list[str]) -> Change:
        action = CREATE if created else UPDATE if changed else UNCHANGED
        return Change(action, WHAT[entry.kind], entry.name, () if created else tuple(changed))

    def _user(self, entry: Entry) -> Change:
        scalars = {key: entry.body[key] for key in USER_FIELDS if key in entry.body}
        row = user_named(entry.name)
        created = row is None
        changed: list[str] = []
        if row is None:
            row = self.app.people.create_user(OPERATOR, scalars)
        else:
            wanted = user_fields(scalars, creating=False)
            changed = [key for key, column in USER_FIELDS.items()
                       if column in wanted and getattr(row, column) != wanted[column]]
            if changed:
                self.app.people.update_user(OPERATOR, row.id, {key: scalars[key] for key in changed})
        changed += self._contacts_and_rules(entry.body, row.id)
        return self._change(entry, created, changed)

    def _contacts_and_rules(self, body: dict[str, Any], user_id: int) -> list[str]:
        changed: list[str] = []
        current = all_owned(m.Contact, user_id)
        first_of: dict[tuple[str, str], int] = {}
        for contact in current:
            first_of.setdefault((contact.method, contact.target), contact.id)
        listed = "contacts" in body
        extra: list[int] = []
        if listed:
            wanted: list[tuple[str, str]] = []
            for index, item in enumerate(body["contacts"]):
                with _within(f"contacts[{index}]"):
                    key = self._contact_key(item)
                    if key in wanted:
                        raise invalid("", f"{key[0]} {key[1]} is listed twice")
                wanted.append(key)
            kept = {first_of[key] for key in wanted if key in first_of}
            unlisted = [c for c in current if c.id not in kept]
            for index, key in enumerate(wanted):
                if key in first_of:
                    continue
                with _within(f"contacts[{index}]"):
                    first_of[key] = self._new_or_changed_contact(user_id, key, wanted, unlisted, first_of)
                if "contacts" not in changed:
                    changed.append("contacts")
            available = {key: first_of[key] for key in wanted}
            extra = [c.id for c in unlisted if available.get((c.method, c.target)) != c.id]
            if extra and "contacts" not in changed:
                changed.append("contacts")
        else:
            available = first_of
        for key, kind in RULE_LISTS.items():
            if key in body and self._rules(body[key], key, kind, user_id, available, listed):
                changed.append(key)
        for contact_id in extra:
            # Rules on it go with it (the API's cascade); those the document lists were matched
            # or created against the contacts it keeps.
            self.app.preferences.delete_contact(OPERATOR, user_id, contact_id)
        return changed

    def _new_or_changed_contact(self, user_id: int, key: tuple[str, str], wanted: list[tuple[str, str]],
                                unlisted: list[m.Contact], first_of: dict[tuple[str, str], int]) -> int:
        """The id of the contact the document's `key` is: the user's one unlisted contact of that
        method given the new target, when the document adds one contact of that method (a
        changed number: its rules and its pages not yet sent follow it, as the API's PUT does),
        else a new contact."""
        method = key[0]
        added = [k for k in wanted if k[0] == method and k not in first_of]
        replaced = [c for c in unlisted if c.method == method]
        if len(added) == 1 and len(replaced) == 1:
            contact = replaced.pop()
            unlisted.remove(contact)
            self.app.preferences.update_contact(OPERATOR, user_id, contact.id, {"target": key[1]})
            return int(contact.id)
        return int(self.app.preferences.create_contact(
            OPERATOR, user_id, {"method": method, "target": key[1]}).id)

    def _contact_key(self, item: dict[str, Any]) -> tuple[str, str]:
        methods = self.app.ctx.methods(False)
        method = v.choice(item, "method", methods)
        if method is None:
            raise invalid("method", f"method is required: one of {', '.join(methods)}")
        target = contact_target(item, method, required=True)
        assert target is not None
        return method, target

    def _rules(self, items: list[dict[str, Any]], key: str, kind: RuleKind, user_id: int,
               available: dict[tuple[str, str], int], listed: bool) -> bool:
        """Make the user's rules of `kind` the document's; whether anything changed."""
        accepted = self.app.ctx.methods(kind.reminders)
        wanted: list[tuple[Any, ...]] = []
        bodies: dict[tuple[Any, ...], tuple[int, dict[str, Any]]] = {}
        for index, item in enumerate(items):
            with _within(f"{key}[{index}]"):
                contact_id, method = self._contact_ref(item, available, listed)
                body = {**item, "method": item.get("method", method), "contact": {"id": contact_id}}
                value = tuple(sorted(rule_fields(kind, body, creating=True, accepted=accepted).items()))
                if value in bodies:
                    raise ApiError(409, "ALREADY_EXISTS", f"the same {kind.what} as "
                                   f"{key}[{bodies[value][0]}]: list each rule once")
            wanted.append(value)
            bodies[value] = (index, body)
        current = [(row.id, tuple(sorted(kind.columns(row).items())))
                   for row in all_owned(kind.model, user_id)]
        remove, add = multiset_diff(current, wanted)
        for rule_id in remove:
            self.app.preferences.delete_rule(OPERATOR, kind, user_id, rule_id)
        for value in add:
            index, body = bodies[value]
            with _within(f"{key}[{index}]"):
                self.app.preferences.create_rule(OPERATOR, kind, user_id, body)
        return bool(remove or add)

    def _contact_ref(self, item: dict[str, Any], available: dict[tuple[str, str], int], listed: bool
                     ) -> tuple[int, str]:
        """(contact id, method) of a rule's `contact = {method, target}`; the method may be left out
        where only one of the user's contacts has that target."""
        ref = item.get("contact")
        if not isinstance(ref, dict):
            raise invalid("contact", 'contact is required: {method = "...", target = "..."}')
        target = str(ref["target"]).strip()
        method = ref.get("method") or item.get("method")
        whose = "the contacts listed for this user" if listed else "this user's contacts"
        if method is None:
            found = [key for key in available if key[1] == target]
            if len(found) != 1:
                raise invalid("contact", f"contact {target} is not one of {whose}" if not found else
                              f"several of {whose} have the target {target}: give the method")
            key = found[0]
        else:
            chosen = v.choice({"method": method}, "method", self.app.ctx.methods(False))
            assert chosen is not None
            normalised = contact_target({"target": target}, chosen, required=True)
            assert normalised is not None
            key = (chosen, normalised)
        if key not in available:
            raise invalid("contact", f"contact {key[0]} {key[1]} is not one of {whose}")
        return available[key], key[0]

    # --- schedules, policies, sources -----------------------------------------------------------

    def _schedule(self, entry: Entry) -> Change:
        body = dict(entry.body)
        if isinstance(body.get("scheduleLayers"), list):
            body["scheduleLayers"] = [
                {**layer, "users": self._refs(layer["users"], f"scheduleLayers[{i}].users", self._user_id)}
                if "users" in layer else layer
                for i, layer in enumerate(body["scheduleLayers"])
            ]
        if isinstance(body.get("shifts"), list):
            body["shifts"] = [
                {**shift, "user": {"id": self._user_id(shift["user"]["name"], f"shifts[{i}].user")}}
                if "user" in shift else shift
                for i, shift in enumerate(body["shifts"])
            ]
        row = self._one(schedules_named, entry)
        if row is None:
            self.app.schedules.create(OPERATOR, body)
            return self._change(entry, True, [])
        fields, definition = schedule_fields.parse_body(body, row.timezone)
        changed = ["type"] if fields["type"] != row.type else []
        if definition != current_definitions([row.id]).get(row.id):
            changed.append("scheduleLayers" if "scheduleLayers" in definition else "shifts")
        if changed:
            self.app.schedules.update(OPERATOR, row.id, body)
        return self._change(entry, False, changed)

    def _policy(self, entry: Entry) -> Change:
        body = dict(entry.body)
        if isinstance(body.get("escalationRules"), list):
            body["escalationRules"] = [
                {**level,
                 **({"users": self._refs(level["users"], f"escalationRules[{i}].users", self._user_id)}
                    if "users" in level else {}),
                 **({"schedules": self._refs(level["schedules"], f"escalationRules[{i}].schedules",
                                             self._schedule_id)} if "schedules" in level else {})}
                for i, level in enumerate(body["escalationRules"])
            ]
        row = self._one(policies_named, entry)
        if row is None:
            self.app.sources.create_policy(OPERATOR, body)
            return self._change(entry, True, [])
        changed = []
        if "escalationRules" in body and policy_rules(body) != row.rules:
            changed.append("escalationRules")
        if "repeating" in body and v.boolean(body, "repeating", False) != bool(row.repeating):
            changed.append("repeating")
        if "frequency" in body and v.integer(body, "frequency", 0, 9) != row.frequency:
            changed.append("frequency")
        if changed:
            self.app.sources.update_policy(OPERATOR, row.id, {key: body[key] for key in changed})
        return self._change(entry, False, changed)

    def _source(self, entry: Entry) -> Change:
        body = dict(entry.body)
        if "escalationPolicy" in body:
            body["escalationPolicy"] = {"id": self._policy_id(body["escalationPolicy"]["name"],
                                                              "escalationPolicy")}
        row = self._one(sources_named, entry)
        if row is None:
            self.app.sources.create_source(OPERATOR, body)
            return self._change(entry, True, [])
        current: dict[str, Any] = {
            "integrationType": row.integration_type, "priority": row.priority,
            "escalationPolicy": row.escalation_policy_id, "fieldMapping": row.field_mapping,
            "supportHours": row.support_hours, "phoneNumber": row.phone_number,
            "signingSecret": row.signing_secret,
        }
        wanted: dict[str, Callable[[], Any]] = {
            "integrationType": lambda: v.choice(body, "integrationType", self.app.sources.known_types()),
            "priority": lambda: v.choice(body, "priority", ("HIGH", "LOW")),
            "escalationPolicy": lambda: body["escalationPolicy"]["id"],
            "fieldMapping": lambda: field_mapping(body["fieldMapping"]),
            "supportHours": lambda: support_hours(body["supportHours"]),
            "phoneNumber": lambda: phone_number(body["phoneNumber"], row.id),
            "signingSecret": lambda: v.text(body, "signingSecret", max_length=255),
        }
        changed = [key for key, value in wanted.items() if key in body and value() != current[key]]
        if changed:
            self.app.sources.update_source(OPERATOR, row.id, {key: body[key] for key in changed})
        return self._change(entry, False, changed)

    # --- names → ids ----------------------------------------------------------------------------

    @staticmethod
    def _refs(refs: list[dict[str, str]], where: str, resolve: Callable[[str, str], int]
              ) -> list[dict[str, int]]:
        return [{"id": resolve(ref["name"], f"{where}[{i}]")} for i, ref in enumerate(refs)]

    @staticmethod
    def _user_id(name: str, where: str) -> int:
        row = user_named(name)
        if row is None:
            raise invalid(where, f"{where}: no user is named {name!r}, in the file or the store")
        return int(row.id)

    @staticmethod
    def _named(rows: list[Any], what: str, name: str, where: str) -> int:
        if not rows:
            raise invalid(where, f"{where}: no {what} is named {name!r}, in the file or the store")
        if len(rows) > 1:
            raise invalid(where, f"{where}: {len(rows)} {plural(what)} are named {name!r}; rename all "
                                 "but one through the API")
        return int(rows[0].id)

    def _schedule_id(self, name: str, where: str) -> int:
        return self._named(schedules_named(name), "schedule", name, where)

    def _policy_id(self, name: str, where: str) -> int:
        return self._named(policies_named(name), "escalation policy", name, where)

    @staticmethod
    def _one(find: Callable[[str], list[Any]], entry: Entry) -> Any:
        """The store's object of the entry's name, or None. The API keeps names unique, but an older
        store may hold several of one name, and the document cannot say which it means."""
        rows = find(entry.name)
        if len(rows) > 1:
            ids = ", ".join(str(row.id) for row in rows)
            raise invalid(NAME_KEY[entry.kind], f"the store has {len(rows)} {plural(WHAT[entry.kind])} named "
                          f"{entry.name!r} (ids {ids}); rename all but one through the API first")
        return rows[0] if rows else None

