"""Migration 4: schedules, their versions and overrides, and the shift-reminder outbox (frozen copy)."""

from __future__ import annotations

from typing import Any

import peewee

from ilertd.store.fields import JSONField, UTCDateTimeField


def up(migrator: Any, db: peewee.Database) -> None:
    class Base(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Schedule(Base):
        name = peewee.CharField(max_length=255)
        type = peewee.CharField(max_length=10)
        timezone = peewee.CharField(max_length=64)
        created_at = UTCDateTimeField()

    class ScheduleVersion(Base):
        schedule = peewee.ForeignKeyField(Schedule, on_delete="CASCADE")
        effective_from = UTCDateTimeField()
        definition = JSONField()

        class Meta:
            indexes = ((("schedule", "effective_from"), True),)

    class ScheduleOverride(Base):
        schedule = peewee.ForeignKeyField(Schedule, on_delete="CASCADE")
        user_id = peewee.IntegerField()
        start = UTCDateTimeField()
        end = UTCDateTimeField()
        created_at = UTCDateTimeField()

    class ShiftReminder(Base):
        schedule_id = peewee.IntegerField()
        user_id = peewee.IntegerField()
        rule_id = peewee.IntegerField()
        shift_start = UTCDateTimeField()
        shift_end = UTCDateTimeField()
        method = peewee.CharField(max_length=8)
        target = peewee.CharField(max_length=512)
        due_at = UTCDateTimeField()
        sent_at = UTCDateTimeField(null=True)
        status = peewee.CharField(max_length=10, index=True)
        attempts = peewee.IntegerField(default=0)
        error_message = peewee.TextField(null=True)

        class Meta:
            indexes = ((("schedule_id", "user_id", "rule_id", "shift_start"), True),)

    db.create_tables([Schedule, ScheduleVersion, ScheduleOverride, ShiftReminder])
