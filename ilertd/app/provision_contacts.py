"""Config as code for one user's contacts and notification rules: the document's lists made the user's own.

`contacts` and each list of rules, when an entry gives them, are the user's whole list: a
contact (method, target) or rule not listed is deleted, one listed and missing is created (a
method given one new target while the user's one unlisted contact of it goes is that contact
changed: a new number, whose rules and unsent pages follow it); left out, the user's own stay.
Every write goes through the application layer, as the API's would.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ilertd.app import fields as v
from ilertd.app.application import Application
from ilertd.app.auth import OPERATOR
from ilertd.app.export import RULE_LISTS
from ilertd.app.preferences import RuleKind, contact_target, rule_fields
from ilertd.domain.phone_numbers import e164
from ilertd.domain.provision_document import multiset_diff
from ilertd.errors import ApiError, invalid
from ilertd.store import models as m
from ilertd.store.people import all_owned


class ItemRefusal(Exception):
    """A refusal about a path inside the entry being applied (`contacts[1].target`)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


@contextmanager
def within(prefix: str) -> Iterator[None]:
    """Refusals of the application layer about an item of a list: their path starts at the item."""
    try:
        yield
    except ApiError as error:
        inner = error.field if error.field and not error.field.startswith(prefix.split("[")[0]) else ""
        raise ItemRefusal(f"{prefix}.{inner}" if inner else prefix, f"{prefix}: {error.message}") from None


class UserLists:
    def __init__(self, app: Application) -> None:
        self.app = app

    def apply(self, body: dict[str, Any], user_id: int) -> list[str]:
        """Make the user's contacts and each list of rules the entry's, where it gives them; the
        names of the lists that changed."""
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
                with within(f"contacts[{index}]"):
                    key = self._contact_key(item)
                    if key in wanted:
                        raise invalid("", f"{key[0]} {key[1]} is listed twice")
                wanted.append(key)
            kept = {first_of[key] for key in wanted if key in first_of}
            unlisted = [c for c in current if c.id not in kept]
            for index, key in enumerate(wanted):
                if key in first_of:
                    continue
                with within(f"contacts[{index}]"):
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
        target = contact_target(item, method, required=True, mail_domain=self.app.ctx.mail_domain)
        assert target is not None
        return method, target

    def _rules(self, items: list[dict[str, Any]], key: str, kind: RuleKind, user_id: int,
               available: dict[tuple[str, str], int], listed: bool) -> bool:
        """Make the user's rules of `kind` the document's; whether anything changed."""
        accepted = self.app.ctx.methods(kind.reminders)
        wanted: list[tuple[Any, ...]] = []
        bodies: dict[tuple[Any, ...], tuple[int, dict[str, Any]]] = {}
        for index, item in enumerate(items):
            with within(f"{key}[{index}]"):
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
            with within(f"{key}[{index}]"):
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
            # A number as people write it (`+1 555 000 0002`) names the contact kept as E.164.
            number = e164(target)
            found = [key for key in available if key[1] == target
                     or (number is not None and key[0] in ("SMS", "VOICE") and key[1] == number)]
            if len(found) != 1:
                raise invalid("contact", f"contact {target} is not one of {whose}" if not found else
                              f"several of {whose} have the target {target}: give the method")
            key = found[0]
        else:
            chosen = v.choice({"method": method}, "method", self.app.ctx.methods(False))
            assert chosen is not None
            normalised = contact_target({"target": target}, chosen, required=True,
                                            mail_domain=self.app.ctx.mail_domain)
            assert normalised is not None
            key = (chosen, normalised)
        if key not in available:
            raise invalid("contact", f"contact {key[0]} {key[1]} is not one of {whose}")
        return available[key], key[0]
