"""Migration 21: the texted escalations by Twilio's MessageSid, with the page each answered, so a
re-send of one answers that page, not a later page to the same phone (frozen copy of the model)."""

from __future__ import annotations

from typing import Any

import peewee

from ilertd.store.fields import UTCDateTimeField


def up(migrator: Any, db: peewee.Database) -> None:
    class SmsReply(peewee.Model):
        message_sid = peewee.CharField(primary_key=True, max_length=64)
        phone = peewee.CharField(max_length=32)
        body = peewee.TextField()
        page_sent_at = UTCDateTimeField(null=True)
        received_at = UTCDateTimeField(index=True)

        class Meta:
            database = db
            legacy_table_names = False

    db.create_tables([SmsReply])
