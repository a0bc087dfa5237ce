"""Migration 17: an outbox row says whether it goes to its user's account e-mail as the fallback of
a user without a usable alert rule, so a change to a contact of the same address passes it by and
a change of the account e-mail takes it along."""

from __future__ import annotations

from typing import Any

import peewee


def up(migrator: Any, db: peewee.Database) -> None:
    # A default in the column itself: the outbox's other INSERTs leave this column out.
    column = "INTEGER" if isinstance(db, peewee.SqliteDatabase) else "BOOLEAN"
    db.execute_sql(f"ALTER TABLE notification ADD COLUMN fallback {column} NOT NULL DEFAULT FALSE")
    # Pages unsent at the upgrade to an account address that is none of its user's contacts were
    # planned as the fallback (a contact's page goes to that contact's address).
    db.execute_sql(
        "UPDATE notification SET fallback = TRUE WHERE status = 'SCHEDULED' AND incident_id IS NOT NULL"
        " AND kind = 'ALERT' AND method = 'EMAIL'"
        ' AND target = (SELECT email FROM "user" WHERE "user".id = notification.user_id)'
        " AND NOT EXISTS (SELECT 1 FROM contact WHERE contact.user_id = notification.user_id"
        " AND contact.method = 'EMAIL' AND contact.target = notification.target)")
