"""Migration 7: answering pages: SMS reply codes per phone, and each phone's STOP and help count
(frozen copies of the models)."""

from __future__ import annotations

from typing import Any

import peewee

from ilertd.store.fields import UTCDateTimeField


def up(migrator: Any, db: peewee.Database) -> None:
    class Base(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Incident(Base):
        pass

    class ReplyCode(Base):
        target = peewee.CharField(max_length=32)
        code = peewee.IntegerField()
        incident = peewee.ForeignKeyField(Incident, on_delete="CASCADE")
        user_id = peewee.IntegerField()
        paged_at = UTCDateTimeField()

        class Meta:
            indexes = ((("target", "code"), True), (("target", "incident"), False))

    class PhoneState(Base):
        phone = peewee.CharField(primary_key=True, max_length=32)
        sms_stopped = peewee.BooleanField(default=False)
        help_in_a_row = peewee.IntegerField(default=0)
        updated_at = UTCDateTimeField()

    db.create_tables([ReplyCode, PhoneState])
