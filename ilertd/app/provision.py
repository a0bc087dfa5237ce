"""Config as code: a document of users, schedules, policies and sources made true in the store in
one transaction, through the application layer as the API's own writes (`ilertd provision`), and
the store read back into the same document (`ilertd export`).

What provisioning does with each object of the document (matched by `username` or `name`):
- absent from the store: created; present: compared, and only what differs is written (a second
  run writes nothing and every id stays);
- a key left out of an object leaves that field as it is (on creation: the API's default); a
  schedule is always written whole, as the API's PUT takes it;
- `contacts` and each list of rules, when given, are the user's whole list (see
  ilertd.app.provision_contacts); left out, the user's own stay as they are (so users keep
  managing them in the web UI);
- objects of the store the document does not name are left alone, never deleted.
Secrets are never exported (integration keys, signing secrets, tokens, passwords); a document may
set `signingSecret`, which is then compared and written as any field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ilertd.app import fields as v
from ilertd.app import schedule_fields
from ilertd.app.application import Application
from ilertd.app.auth import OPERATOR
from ilertd.app.export import USER_FIELDS
from ilertd.app.people import user_fields
from ilertd.app.provision_contacts import ItemRefusal, UserLists
from ilertd.app.source_numbers import phone_number
from ilertd.app.sources import field_mapping, policy_rules, support_hours
from ilertd.domain.provision_document import NAME_KEY, WHAT, Document, Entry
from ilertd.domain.wording import plural, quoted
from ilertd.errors import ApiError, invalid
from ilertd.store.db import write_transaction
from ilertd.store.people import user_named
from ilertd.store.policy_moves import settle_policy_edits
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
        return f"{verb} {self.what} {quoted(self.name)}{detail}"


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


class _DryRun(Exception):
    """Rolls a dry run's transaction back after everything was applied: the plan it prints was
    checked as a real run checks it, down to the API's refusals."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__("dry run")
        self.outcome = outcome


class Provisioning:
    def __init__(self, app: Application) -> None:
        self.app = app
        self.lists = UserLists(app)

    # --- provision ------------------------------------------------------------------------------

    def apply(self, document: Document, dry_run: bool = False) -> Outcome:
        """Make the document true in one transaction (rolled back on a dry run or any refusal)."""
        try:
            with write_transaction(self.app.ctx.db):
                outcome = Outcome(dry_run=dry_run)
                for kind, apply_one in (("users", self._user), ("schedules", self._schedule),
                                        ("escalationPolicies", self._policy),
                                        ("alertSources", self._source)):
                    applied = {entry.index: self._entry(document, entry, apply_one)
                               for entry in _in_order(document.of_kind(kind))}
                    # Told in the file's order, whatever order they were applied in.
                    outcome.changes.extend(applied[entry.index] for entry in document.of_kind(kind))
                if outcome.changed:
                    # A running daemon's caches heard nothing of this: it watches this count.
                    bump_config_generation()
                if dry_run:
                    raise _DryRun(outcome)
        except _DryRun as rolled_back:
            return rolled_back.outcome
        if outcome.changed:
            # A policy's levels edited: its incidents owe moves, committed with the edit, made now
            # (from the CLI, by the daemon's watcher when it sees the generation move).
            settle_policy_edits(self.app.ctx.db)
            self.app.ctx.policy_moves_owed()
        return outcome

    def _entry(self, document: Document, entry: Entry, apply_one: Callable[[Entry], Change]) -> Change:
        try:
            return apply_one(entry)
        except ApiError as error:
            raise ProvisionError(document.line_of(entry, error.field or ""),
                                 f"{entry.label}: {error.message}") from None
        except ItemRefusal as refusal:
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
            wanted = user_fields(scalars, creating=False, mail_domain=self.app.ctx.mail_domain)
            changed = [key for key, column in USER_FIELDS.items()
                       if column in wanted and getattr(row, column) != wanted[column]]
            if changed:
                self.app.people.update_user(OPERATOR, row.id, {key: scalars[key] for key in changed})
        changed += self.lists.apply(entry.body, row.id)
        return self._change(entry, created, changed)

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
        fields, definition = schedule_fields.parse_body(body, row.timezone, row.type)
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
            "phoneNumber": lambda: phone_number(body["phoneNumber"], row.id, self.app.ctx.reply_numbers),
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
            raise invalid(where, f"{where}: no user is named {quoted(name)}, in the file or the store")
        return int(row.id)

    @staticmethod
    def _named(rows: list[Any], what: str, name: str, where: str) -> int:
        if not rows:
            raise invalid(where, f"{where}: no {what} is named {quoted(name)}, in the file or the store")
        if len(rows) > 1:
            raise invalid(where, f"{where}: {len(rows)} {plural(what)} are named {quoted(name)}; rename all "
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
                          f"{quoted(entry.name)} (ids {ids}); rename all but one through the API first")
        return rows[0] if rows else None


def _in_order(entries: list[Entry]) -> list[Entry]:
    """The entries in the order they can be applied: users the document makes ADMIN first, so that
    one taking over from the store's only ADMIN (who becomes a USER) is not refused for where the
    two stand in the file (an export lists users by name)."""
    return sorted(entries, key=lambda entry: entry.kind != "users"
                  or str(entry.body.get("role", "")).upper() != "ADMIN")
