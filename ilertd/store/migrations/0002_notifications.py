"""Migration 2: contacts, alert/update/duty rules and the notification outbox (frozen copy)."""

from __future__ import annotations

from typing import Any

import peewee

from ilertd.store.fields import UTCDateTimeField


def up(migrator: Any, db: peewee.Database) -> None:
    class Base(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class User(Base):
        class Meta:
            table_name = "user"

    class Incident(Base):
        id = peewee.IntegerField(primary_key=True)

        class Meta:
            table_name = "incident"

    class Contact(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        method = peewee.CharField(max_length=8)
        target = peewee.CharField(max_length=512)

    class AlertRule(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        method = peewee.CharField(max_length=8)
        contact = peewee.ForeignKeyField(Contact, on_delete="CASCADE")
        delay_min = peewee.IntegerField(default=0)
        type = peewee.CharField(max_length=16)

    class UpdateRule(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        method = peewee.CharField(max_length=8)
        contact = peewee.ForeignKeyField(Contact, on_delete="CASCADE")
        type = peewee.CharField(max_length=16)

    class DutyRule(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        method = peewee.CharField(max_length=8)
        contact = peewee.ForeignKeyField(Contact, on_delete="CASCADE")
        before_min = peewee.IntegerField(default=0)

    class Notification(Base):
        id = peewee.IntegerField(primary_key=True)
        incident = peewee.ForeignKeyField(Incident, on_delete="CASCADE")
        user_id = peewee.IntegerField()
        kind = peewee.CharField(max_length=16)
        method = peewee.CharField(max_length=8)
        target = peewee.CharField(max_length=512)
        level = peewee.IntegerField(null=True)
        due_at = UTCDateTimeField(index=True)
        sent_at = UTCDateTimeField(null=True)
        status = peewee.CharField(max_length=10, index=True)
        attempts = peewee.IntegerField(default=0)
        error_message = peewee.TextField(null=True)
        created_at = UTCDateTimeField()

    db.create_tables([Contact, AlertRule, UpdateRule, DutyRule, Notification])
