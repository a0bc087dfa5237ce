"""Migration 8: web UI logins: each user's argon2 password hash (none until one is set)."""

from __future__ import annotations

from typing import Any

import peewee
from playhouse.migrate import migrate as apply


def up(migrator: Any, db: peewee.Database) -> None:
    apply(migrator.add_column("user", "password_hash", peewee.CharField(max_length=255, null=True)))
