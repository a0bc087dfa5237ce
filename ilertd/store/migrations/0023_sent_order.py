"""Migration 23: each sent outbox row has its place in the order messages left ilertd, which a
wall clock stepped back cannot reverse (a bare SMS "A" answered an incident paged before the step)."""

from __future__ import annotations

from typing import Any

import peewee
from playhouse.migrate import migrate as apply


def up(migrator: Any, db: peewee.Database) -> None:
    apply(migrator.add_column("notification", "sent_seq", peewee.BigIntegerField(null=True)))
    # The rows sent before the upgrade, in the order their stamps give: the best there is. Numbered
    # by the database in three statements: a store keeps every page of its retention (millions),
    # and a row at a time took 175 us each on PostgreSQL, the daemon paging nobody meanwhile.
    db.execute_sql("CREATE TEMPORARY TABLE sent_order (id BIGINT PRIMARY KEY, seq BIGINT NOT NULL)")
    db.execute_sql("INSERT INTO sent_order (id, seq) SELECT id, ROW_NUMBER() OVER (ORDER BY sent_at, id)"
                   " FROM notification WHERE sent_at IS NOT NULL")
    db.execute_sql("UPDATE notification SET sent_seq = (SELECT seq FROM sent_order"
                   " WHERE sent_order.id = notification.id) WHERE sent_at IS NOT NULL")
    db.execute_sql("DROP TABLE sent_order")
    # Indexed once numbered: not row by row as they were.
    apply(migrator.add_index("notification", ("sent_seq",), False))
