"""Migration 12: an outbox row says when it was handed to its provider, and whether it was handed
out again because its sender died before the answer was stored."""

from __future__ import annotations

from typing import Any

import peewee
from playhouse.migrate import migrate as apply

from ilertd.store.fields import UTCDateTimeField


def up(migrator: Any, db: peewee.Database) -> None:
    apply(migrator.add_column("notification", "sending_since", UTCDateTimeField(null=True)))
    # A default in the column itself: the outbox's prepared INSERT leaves this column out.
    column = "INTEGER" if isinstance(db, peewee.SqliteDatabase) else "BOOLEAN"
    db.execute_sql(f"ALTER TABLE notification ADD COLUMN resent {column} NOT NULL DEFAULT FALSE")
