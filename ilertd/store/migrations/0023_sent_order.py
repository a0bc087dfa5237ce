"""Migration 23: each sent outbox row has its place in the order messages left ilertd, which a
wall clock stepped back cannot reverse (a bare SMS "A" answered an incident paged before the step)."""

from __future__ import annotations

from typing import Any

import peewee
from playhouse.migrate import migrate as apply


def up(migrator: Any, db: peewee.Database) -> None:
    apply(migrator.add_column("notification", "sent_seq", peewee.BigIntegerField(null=True, index=True)))
    # The rows sent before the upgrade, in the order their stamps give: the best there is.
    sent = db.execute_sql("SELECT id FROM notification WHERE sent_at IS NOT NULL ORDER BY sent_at, id")
    numbered = [(seq, row_id) for seq, (row_id,) in enumerate(sent.fetchall(), start=1)]
    if numbered:
        db.cursor().executemany(f"UPDATE notification SET sent_seq = {db.param} WHERE id = {db.param}",
                                numbered)
