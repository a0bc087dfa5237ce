"""Migration 24: a user deleted while the only one their incidents' levels still paged records the
move each such incident owes (its level reached again), as a policy edit does (migration 20)."""

from __future__ import annotations

from typing import Any

import peewee
from playhouse.migrate import migrate as apply


def up(migrator: Any, db: peewee.Database) -> None:
    # Empty for an edit of the policy itself.
    apply(migrator.add_column("policy_edit", "deleted_user", peewee.CharField(max_length=255, null=True)))
