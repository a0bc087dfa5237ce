"""Migration 11: the writes followers hand to the leader, and the shared manual clock (frozen
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

    class ForwardedRequest(Base):
        node = peewee.CharField(max_length=255)
        method = peewee.CharField(max_length=8)
        path = peewee.TextField()
        query = peewee.TextField(default="")
        headers = JSONField()
        client = peewee.CharField(max_length=64, default="")
        body = peewee.BlobField()
        is_event = peewee.BooleanField(default=False)
        received_at = UTCDateTimeField()
        claimed_by = peewee.CharField(max_length=255, null=True, index=True)
        claimed_at = UTCDateTimeField(null=True)
        status = peewee.IntegerField(null=True)
        response_headers = JSONField(null=True)
        response_body = peewee.BlobField(null=True)
        answered_at = UTCDateTimeField(null=True, index=True)

    class SharedClock(Base):
        id = peewee.IntegerField(primary_key=True)
        now = UTCDateTimeField()

    db.create_tables([ForwardedRequest, SharedClock])
