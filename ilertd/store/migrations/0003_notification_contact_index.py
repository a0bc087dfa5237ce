"""Migration 3: find a contact's pending pages by index (the channel's co-due query, per page)."""

from __future__ import annotations

from typing import Any

import peewee


def up(migrator: Any, db: peewee.Database) -> None:
    # Without it, every page scans all SCHEDULED rows: quadratic in an escalation storm.
    db.execute_sql(
        "CREATE INDEX notification_contact_pending ON notification (method, target, status, due_at)"
    )
