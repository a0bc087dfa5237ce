"""Migration 27: a page keeps the place in the send order of its first hand-out to its provider
(`first_sent_seq`), which a retry or a re-send after a crash does not move: a reply's escalation
is judged against it (the same "1e" twice escalated two levels when the page was sent again
between the two)."""

from __future__ import annotations

from typing import Any

import peewee
from playhouse.migrate import migrate as apply


def up(migrator: Any, db: peewee.Database) -> None:
    apply(migrator.add_column("notification", "first_sent_seq", peewee.BigIntegerField(null=True)))
    # The best the store knows of a page handed out before: its number now (one set-based UPDATE).
    db.execute_sql("UPDATE notification SET first_sent_seq = sent_seq WHERE sent_seq IS NOT NULL")
