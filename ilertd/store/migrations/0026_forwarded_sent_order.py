"""Migration 26: a request a follower queued keeps how far the send order had got when it came in
(a bare SMS "A" queued during a takeover answered a page the next leader sent after it)."""

from __future__ import annotations

from typing import Any

import peewee
from playhouse.migrate import migrate as apply


def up(migrator: Any, db: peewee.Database) -> None:
    # Empty for a request queued before the upgrade: judged as of when the leader takes it, as then.
    apply(migrator.add_column("forwarded_request", "last_sent_seq", peewee.BigIntegerField(null=True)))
