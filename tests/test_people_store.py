"""Paging's read of people: many users in one query, and the shared cache a write invalidates."""

from __future__ import annotations

from datetime import UTC, datetime

import peewee

from ilertd.store import models as m
from ilertd.store.cache import GuardedCache
from ilertd.store.people import PersonCache, load_people, load_person
from ilertd.store.reader import IN_CHUNK, Reader

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_user(i: int, sms: bool) -> int:
    user = m.User.create(username=f"u{i}", email=f"u{i}@example.com", created_at=NOW)
    mail = m.Contact.create(user=user.id, method="EMAIL", target=f"u{i}.pager@example.com")
    m.AlertRule.create(user=user.id, method="EMAIL", contact=mail.id, delay_min=i % 7, type="HIGH_PRIORITY")
    if sms:
        phone = m.Contact.create(user=user.id, method="SMS", target=f"+4915100{i:05d}")
        m.AlertRule.create(user=user.id, method="SMS", contact=phone.id, delay_min=5, type="LOW_PRIORITY")
        m.UpdateRule.create(user=user.id, method="SMS", contact=phone.id, type="ALERT_ACCEPTED")
    return int(user.id)


def test_many_people_in_one_read_each_with_only_their_own_rows(db: peewee.Database) -> None:
    ids = [make_user(i, sms=i % 3 == 0) for i in range(IN_CHUNK + 45)]
    reader = Reader(db)
    wanted = [*ids, 999_999, ids[0]]
    people = load_people(reader, wanted)
    assert sorted(people) == sorted(ids)
    for i, user_id in enumerate(ids):
        person = people[user_id]
        assert person == load_person(reader, user_id)
        assert person.username == f"u{i}" and person.email == f"u{i}@example.com"
        assert person.contacts[0].target == f"u{i}.pager@example.com"
        assert len(person.contacts) == len(person.alert_rules) == (2 if i % 3 == 0 else 1)
        assert len(person.update_rules) == (1 if i % 3 == 0 else 0)
        assert person.alert_rules[0].delay_min == i % 7
    assert load_person(reader, 999_999) is None
    assert load_people(reader, []) == {}


def test_the_cache_reads_once_and_again_after_an_invalidation(db: peewee.Database) -> None:
    alice, bob = make_user(1, sms=False), make_user(2, sms=True)
    reader = Reader(db)
    cache = PersonCache()
    assert set(cache.get_many([alice, bob, 424242], reader)) == {alice, bob}
    m.Contact.update(target="moved@example.com").where(m.Contact.user == alice).execute()
    # Nothing told the cache: it still answers from memory.
    assert cache.get(alice, reader).contacts[0].target == "u1.pager@example.com"  # type: ignore[union-attr]
    cache.invalidate(alice)
    assert cache.get(alice, reader).contacts[0].target == "moved@example.com"  # type: ignore[union-attr]
    # A user created after a miss is found: misses are not remembered.
    carol = make_user(3, sms=False)
    assert cache.get(carol, reader) is not None
    m.User.update(muted_until=datetime(2026, 3, 2, tzinfo=UTC)).execute()
    cache.invalidate()
    assert all(p.muted_at(NOW) for p in cache.get_many([alice, bob, carol], reader).values())


def test_the_cache_keeps_at_most_its_size(db: peewee.Database) -> None:
    ids = [make_user(i, sms=False) for i in range(10)]
    reader = Reader(db)
    cache = PersonCache(size=4)
    assert len(cache.get_many(ids, reader)) == 10
    assert len(cache) == 4


def test_reader_rows_keep_their_order_types_and_text(db: peewee.Database) -> None:
    ids = [make_user(i, sms=False) for i in range(40)]
    m.User.update(muted_until=datetime(2026, 3, 2, tzinfo=UTC), email='quote " and ünïcode').where(
        m.User.id == ids[3]).execute()
    reader = Reader(db)
    rows = reader.select(m.User, "id > ? ORDER BY username DESC", 0)
    assert [r.username for r in rows] == sorted((f"u{i}" for i in range(40)), reverse=True)
    third = next(r for r in rows if r.id == ids[3])
    assert third.email == 'quote " and ünïcode'
    assert third.muted_until == datetime(2026, 3, 2, tzinfo=UTC) and third.created_at == NOW
    assert isinstance(third.id, int) and reader.select(m.User, "id < ?", 0) == []


def test_a_read_that_raced_with_a_write_is_not_kept() -> None:
    cache: GuardedCache[int, str] = GuardedCache()
    _, missing, generation = cache.lookup([1])
    assert missing == [1]
    cache.invalidate(1)  # a write committed while the value was being read
    cache.keep(generation, {1: "stale"})
    assert cache.lookup([1])[1] == [1]
    _, _, fresh = cache.lookup([1])
    cache.keep(fresh, {1: "current"})
    assert cache.lookup([1])[0] == {1: "current"}
