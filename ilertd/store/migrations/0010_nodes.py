"""Migration 10: the nodes serving one database: each `ilertd serve` keeps a row with its role
and when it was last seen (a frozen copy of the model)."""

from __future__ import annotations

from typing import Any

import peewee

from ilertd.store.fields import UTCDateTimeField


def up(migrator: Any, db: peewee.Database) -> None:
    class Node(peewee.Model):
        name = peewee.CharField(unique=True, max_length=255)
        role = peewee.CharField(max_length=16)
        started_at = UTCDateTimeField()
        last_seen = UTCDateTimeField()

        class Meta:
            database = db
            legacy_table_names = False

    db.create_tables([Node])
