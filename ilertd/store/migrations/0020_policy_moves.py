"""Migration 20: an edit of an escalation policy records the moves it owes its open incidents, in
its own transaction, so a crash before they are made leaves them to the next start (frozen
copies of the models)."""

from __future__ import annotations

from typing import Any

import peewee

from ilertd.store.fields import JSONField, UTCDateTimeField


def up(migrator: Any, db: peewee.Database) -> None:
    class Base(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class PolicyEdit(Base):
        policy_id = peewee.IntegerField()
        before = JSONField()
        after = JSONField()
        edited_at = UTCDateTimeField()

    class PolicyMove(Base):
        edit = peewee.ForeignKeyField(PolicyEdit, on_delete="CASCADE")
        incident_id = peewee.IntegerField(index=True)

        class Meta:
            primary_key = peewee.CompositeKey("edit", "incident_id")

    db.create_tables([PolicyEdit, PolicyMove])
