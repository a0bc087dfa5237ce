"""Users, their tokens, contacts and rules as the API reads them; people as paging sees them, cached."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import peewee

from ilertd.domain import notification_plan as plan
from ilertd.domain.shift_reminders import DutyRule
from ilertd.store import models as m
from ilertd.store.cache import GuardedCache
from ilertd.store.db import held
from ilertd.store.reader import Reader, id_chunks, placeholders

# One round trip instead of four per user, and one for a whole batch of users: under load every
# separate query is a wait for the GIL. The casts give every column one type in every arm, which
# PostgreSQL requires. `{ids}` is a list of placeholders, repeated in each arm.
PEOPLE_SQL = """
SELECT 'u' AS kind, id AS a, username AS b, email AS c, muted_until AS d, CAST(NULL AS INTEGER) AS e,
       CAST(NULL AS INTEGER) AS f, id AS user_id, timezone AS g
  FROM "user" WHERE id IN ({ids})
UNION ALL SELECT 'c', id, method, target, NULL,
       (SELECT CASE WHEN s.sms_stopped THEN 1 ELSE 0 END FROM phone_state s WHERE s.phone = contact.target),
       id, user_id, NULL
  FROM contact WHERE user_id IN ({ids})
UNION ALL SELECT 'a', contact_id, method, type, NULL, delay_min, id, user_id, NULL
  FROM alert_rule WHERE user_id IN ({ids})
UNION ALL SELECT 'r', contact_id, method, type, NULL, NULL, id, user_id, NULL
  FROM update_rule WHERE user_id IN ({ids})
ORDER BY 8, 1, 7
"""
PEOPLE_COLUMNS = "kind, a, b, c, d, e, f, user_id, g"
# A person is a few hundred bytes; past this many the oldest cached ones are dropped.
PERSON_CACHE_SIZE = 50_000


# --- users and their rows as the API and the CLI read them -------------------------------------


def user(user_id: int) -> m.User | None:
    return m.User.get_or_none(m.User.id == user_id)


def user_named(username: str) -> m.User | None:
    """The user of that name, in any case: user names are told apart without case (ASCII only).
    An older store may hold names that differ only in case: each is found by its own spelling,
    none by another (which one was meant cannot be told)."""
    exact = m.User.get_or_none(m.User.username == username)
    if exact is not None:
        return exact
    found = list(m.User.select().where(peewee.fn.LOWER(m.User.username) == username.lower()).limit(2))
    return found[0] if len(found) == 1 else None


def sms_contact_owner(number: str) -> str | None:
    """The name of a user with an SMS contact of this number, if one has it."""
    row = (m.User.select(m.User.username).join(m.Contact, on=(m.Contact.user == m.User.id))
           .where((m.Contact.method == "SMS") & (m.Contact.target == number)).order_by(m.User.id).first())
    return row.username if row is not None else None


def user_exists(user_id: int) -> bool:
    return bool(m.User.select().where(m.User.id == user_id).exists())


def any_user() -> bool:
    """Whether the store holds a user at all (False only before the first start)."""
    return bool(m.User.select().exists())


def admins(lock: bool = False) -> dict[int, str]:
    """The username of every ADMIN, by id; with `lock`, their rows are held until the transaction
    ends (on PostgreSQL: a SQLite write transaction holds the whole store already)."""
    query = m.User.select(m.User.id, m.User.username).where(m.User.role == "ADMIN").order_by(m.User.id)
    return dict((held(query, exclusive=True) if lock else query).tuples())


def users_page(start: int, size: int) -> list[m.User]:
    return list(m.User.select().order_by(m.User.id).offset(start).limit(size))


def all_users() -> list[m.User]:
    return list(m.User.select().order_by(m.User.id))


def existing_user_ids(ids: Iterable[int]) -> set[int]:
    """Those of `ids` that name a user; in a transaction, held there (`store.db.held`)."""
    query = m.User.select(m.User.id).where(m.User.id.in_(sorted(ids))).order_by(m.User.id)
    return {i for (i,) in held(query).tuples()}


def usernames(ids: Iterable[int | None]) -> dict[int, str]:
    """The username of each existing user among `ids` (None ignored), in one query."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(m.User.select(m.User.id, m.User.username).where(m.User.id.in_(wanted)).tuples())


def token_owner(token_hash: str) -> m.User | None:
    """The user holding the API token with this hash (id, username and role only), or None."""
    return (
        m.User.select(m.User.id, m.User.username, m.User.role)
        .join(m.ApiToken)
        .where(m.ApiToken.token_hash == token_hash)
        .first()
    )


def owned_row(model: type[m.BaseModel], user_id: int, row_id: int) -> Any:
    """The user's contact or rule (`model`: Contact, AlertRule, UpdateRule or DutyRule) with this
    id, or None: another user's row is as absent as a missing one."""
    owned: Any = model
    return owned.get_or_none((owned.id == row_id) & (owned.user == user_id))


def owned_rows(model: type[m.BaseModel], user_id: int, start: int, size: int) -> list[Any]:
    """A page of the user's contacts or rules of `model`, by id."""
    owned: Any = model
    return list(owned.select().where(owned.user == user_id).order_by(owned.id).offset(start).limit(size))


def all_owned(model: type[m.BaseModel], user_id: int) -> list[Any]:
    """Every contact or rule of `model` the user has, by id."""
    owned: Any = model
    return list(owned.select().where(owned.user == user_id).order_by(owned.id))


def has_same_contact(contact: m.Contact) -> bool:
    """Whether another contact of its user has this one's method and target."""
    model = m.Contact
    return bool(model.select(model.id).where(
        (model.user == contact.user_id) & (model.id != contact.id) & (model.method == contact.method)
        & (model.target == contact.target)).exists())


def duty_rules(user_ids: Iterable[int]) -> dict[int, list[DutyRule]]:
    """The duty rules of these users with their contacts' targets, by user, each in id order; not
    those texting a number that replied STOP (as paging skips it)."""
    stopped = m.PhoneState.select(m.PhoneState.phone).where(m.PhoneState.sms_stopped == True)  # noqa: E712
    query = (
        m.DutyRule.select(m.DutyRule, m.Contact.target)
        .join(m.Contact)
        .where(m.DutyRule.user.in_(list(user_ids))
               & ~((m.Contact.method == plan.STOPPABLE_METHOD) & m.Contact.target.in_(stopped)))
        .order_by(m.DutyRule.id)
    )
    rules: dict[int, list[DutyRule]] = defaultdict(list)
    for row in query:
        rules[row.user_id].append(
            DutyRule(row.id, row.user_id, row.method, row.contact.target, row.before_min))
    return rules


# --- people as paging sees them ----------------------------------------------------------------


def load_people(reader: Reader, user_ids: Iterable[int]) -> dict[int, plan.Person]:
    """The people among `user_ids` who exist, by id, in one query per IN_CHUNK of them."""
    people: dict[int, plan.Person] = {}
    for chunk in id_chunks(user_ids):
        sql = PEOPLE_SQL.format(ids=placeholders(len(chunk)))
        people.update(_people_from_rows(reader.raw(sql, *(chunk * 4), columns=PEOPLE_COLUMNS)))
    return people


def _people_from_rows(rows: list[Any]) -> dict[int, plan.Person]:
    by_user: dict[int, list[Any]] = {}
    for row in rows:
        by_user.setdefault(row[7], []).append(row)
    people = {}
    for user_id, mine in by_user.items():
        users = [r for r in mine if r[0] == "u"]
        if not users:
            continue
        _, uid, username, email, muted_until, _, _, _, timezone = users[0]
        contacts = tuple(plan.Contact(r[1], r[2], r[3], bool(r[5])) for r in mine if r[0] == "c")
        alert_rules = tuple(plan.AlertRule(r[2], r[1], r[5], r[3]) for r in mine if r[0] == "a")
        update_rules = tuple(plan.UpdateRule(r[2], r[1], r[3]) for r in mine if r[0] == "r")
        people[user_id] = plan.Person(uid, username, email, m.User.muted_until.python_value(muted_until),
                                      contacts, alert_rules, update_rules, timezone or "UTC")
    return people


def load_person(reader: Reader, user_id: int) -> plan.Person | None:
    return load_people(reader, (user_id,)).get(user_id)


class PersonCache:
    """People as paging sees them, by user id, shared by the incident shards.

    An escalation storm pages the same few people again and again, and a batch of escalations
    needs all its people at once; the store is read once per person until one of their rows
    changes. Whatever writes a user, contact or rule calls `invalidate` after its COMMIT. A read
    that began before an invalidation is not kept: it may hold what the writer just replaced.
    """

    def __init__(self, size: int = PERSON_CACHE_SIZE) -> None:
        self._cache: GuardedCache[int, plan.Person] = GuardedCache(size)

    def __len__(self) -> int:
        return len(self._cache)

    def get(self, user_id: int, reader: Reader) -> plan.Person | None:
        return self.get_many((user_id,), reader).get(user_id)

    def get_many(self, user_ids: Iterable[int], reader: Reader) -> dict[int, plan.Person]:
        """The existing people among `user_ids`, reading only those not cached, in one query."""
        found, missing, generation = self._cache.lookup(user_ids)
        if not missing:
            return found
        # Missing users are not remembered: a user created later must be found then.
        loaded = load_people(reader, missing)
        found.update(loaded)
        self._cache.keep(generation, loaded)
        return found

    def invalidate(self, user_id: int | None = None) -> None:
        """Forget one user (or everyone): the next page reads them from the store."""
        self._cache.invalidate(user_id)
