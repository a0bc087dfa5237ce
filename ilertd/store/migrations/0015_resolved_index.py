"""Migration 15: the resolved incidents by when they were resolved (retention's hourly read)."""

from __future__ import annotations

from typing import Any

import peewee


def up(migrator: Any, db: peewee.Database) -> None:
    # Retention reads the resolved incidents past keeping, the longest resolved first. By
    # `incident_status` that read went through every resolved incident each hour, past keeping or
    # not; by this one, those past keeping only. Partial: a new incident (no `resolved_at` yet)
    # costs it nothing, and any comparison of `resolved_at` implies its condition.
    db.execute_sql("CREATE INDEX incident_resolved_at ON incident (resolved_at)"
                   " WHERE resolved_at IS NOT NULL")
