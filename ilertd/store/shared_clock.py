"""The manual clock's time kept in the database, so every node on a shared store sees one time (tests)."""

from __future__ import annotations

from datetime import datetime

from ilertd.store import models as m

ROW = 1


def shared_now() -> datetime | None:
    row = m.SharedClock.get_or_none(m.SharedClock.id == ROW)
    return None if row is None else row.now


def keep_shared_now(now: datetime) -> None:
    """Store `now`, never moving the stored time back (two nodes may keep it at once)."""
    m.SharedClock.insert(id=ROW, now=now).on_conflict(
        conflict_target=[m.SharedClock.id],
        update={m.SharedClock.now: now},
        where=(m.SharedClock.now < now),
    ).execute()
