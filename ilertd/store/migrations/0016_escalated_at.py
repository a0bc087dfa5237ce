"""Migration 16: an incident says when a level last paged someone, so a reply's escalation from
an older page moves nothing."""

from __future__ import annotations

from typing import Any

import peewee
from playhouse.migrate import migrate as apply

from ilertd.store.fields import UTCDateTimeField


def up(migrator: Any, db: peewee.Database) -> None:
    # Empty for the incidents open at the upgrade: their replies escalate as before, until a
    # level pages again.
    apply(migrator.add_column("incident", "escalated_at", UTCDateTimeField(null=True)))
