"""Intake's cache of sources by integration key: every source in one read, never a stale one kept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import peewee
import pytest

from ilertd.store import models as m
from ilertd.store.sources import SourceCache

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_source(key: str, name: str = "") -> m.AlertSource:
    return m.AlertSource.create(name=name or key, integration_type="API", integration_key=key, created_at=NOW)


def test_the_first_miss_reads_every_source(db: peewee.Database) -> None:
    for i in range(3):
        make_source(f"key-{i}")
    cache = SourceCache()
    assert cache.cached("key-2") is None
    first = cache.get("key-0")
    assert first is not None and first.name == "key-0"
    # Read with the first miss: in memory now, even after its row is gone behind the cache's back.
    m.AlertSource.delete().where(m.AlertSource.integration_key == "key-2").execute()
    held = cache.cached("key-2")
    assert held is not None and held.name == "key-2"


def test_a_later_source_is_read_alone_and_an_unknown_key_is_not_kept(db: peewee.Database) -> None:
    make_source("old")
    cache = SourceCache()
    assert cache.get("old") is not None
    make_source("new")  # as a path that tells no cache would
    found = cache.get("new")
    assert found is not None and found.name == "new"
    assert cache.get("nobody") is None
    assert cache.cached("nobody") is None


def test_an_invalidation_forgets_every_source(db: peewee.Database) -> None:
    make_source("k", "before")
    cache = SourceCache()
    assert cache.get("k").name == "before"  # type: ignore[union-attr]
    m.AlertSource.update(name="after").where(m.AlertSource.integration_key == "k").execute()
    cache.invalidate()
    assert cache.cached("k") is None
    assert cache.get("k").name == "after"  # type: ignore[union-attr]


@pytest.mark.parametrize("all_read", [False, True])
def test_a_read_an_invalidation_overtook_is_not_kept(db: peewee.Database, monkeypatch: pytest.MonkeyPatch,
                                                     all_read: bool) -> None:
    make_source("other")
    cache = SourceCache()
    if all_read:
        assert cache.get("other") is not None
    make_source("k", "before")
    select, get_or_none = m.AlertSource.select, m.AlertSource.get_or_none

    def write_during(read: Any) -> Any:
        def reading(*args: Any, **kwargs: Any) -> Any:
            rows = list(read(*args, **kwargs)) if read is select else read(*args, **kwargs)
            # A write commits and invalidates after the rows were read, before they are kept.
            m.AlertSource.update(name="after").where(m.AlertSource.integration_key == "k").execute()
            cache.invalidate()
            return rows
        return reading

    # Before every source was read, a miss reads them all (select); after, the one key alone.
    if all_read:
        monkeypatch.setattr(m.AlertSource, "get_or_none", write_during(get_or_none))
    else:
        monkeypatch.setattr(m.AlertSource, "select", write_during(select))
    assert cache.get("k").name == "before"  # type: ignore[union-attr]
    assert cache.cached("k") is None
    monkeypatch.undo()
    assert cache.get("k").name == "after"  # type: ignore[union-attr]
