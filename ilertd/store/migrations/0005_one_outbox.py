"""Migration 5: shift reminders join the notification outbox (one outbox for every message sent)."""

from __future__ import annotations

from typing import Any

import peewee
from playhouse.migrate import migrate as apply


def up(migrator: Any, db: peewee.Database) -> None:
    # A reminder has no incident: the column becomes optional; what a reminder is about moves in.
    apply(
        migrator.drop_not_null("notification", "incident_id"),
        migrator.add_column("notification", "schedule_id", peewee.IntegerField(null=True)),
        migrator.add_column("notification", "rule_id", peewee.IntegerField(null=True)),
        migrator.add_column("notification", "shift_start", peewee.DateTimeField(null=True)),
        migrator.add_column("notification", "shift_end", peewee.DateTimeField(null=True)),
    )
    # One reminder per (schedule, user, duty rule, shift start): planning it again, after a
    # restart or a timer that fired twice, never sends it twice. Pages leave these NULL, and
    # NULLs never collide in a unique index.
    db.execute_sql(
        "CREATE UNIQUE INDEX notification_reminder_once"
        " ON notification (schedule_id, user_id, rule_id, shift_start)"
    )
    offset = db.execute_sql("SELECT COALESCE(MAX(id), 0) FROM notification").fetchone()[0]
    db.execute_sql(
        "INSERT INTO notification (id, incident_id, user_id, kind, method, target, level, due_at,"
        " sent_at, status, attempts, error_message, created_at, schedule_id, rule_id, shift_start,"
        " shift_end)"
        f" SELECT id + {db.param}, NULL, user_id, 'SHIFT_REMINDER', method, target, NULL, due_at, sent_at,"
        " status, attempts, error_message, due_at, schedule_id, rule_id, shift_start, shift_end"
        " FROM shift_reminder", (offset,)
    )
    db.execute_sql("DROP TABLE shift_reminder")
