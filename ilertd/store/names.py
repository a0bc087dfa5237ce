"""Which row already holds values that are to be unique: a name of its kind, a user's rule."""

from __future__ import annotations

import zlib
from typing import Any

from peewee import fn

# The first key of the PostgreSQL advisory locks (two-key form) that make writers checking the
# same table's values take turns; the second is the table's. Apart from PG_LOCK_ID and
# PG_MIGRATION_LOCK_ID, which are single keys (first key 0).
UNIQUE_VALUES_LOCK = 0x11E27F


def holder_of(model: Any, values: dict[str, Any], other_than: int | None = None,
              without_case: bool = False) -> int | None:
    """The id of the row of `model` whose columns equal `values`, besides `other_than`; None if
    there is none. The oldest, should an older store hold several.

    Called in the transaction that then writes the values: on PostgreSQL its writers of this
    table take turns from here to their COMMIT, since under READ COMMITTED two of them (a form
    sent twice, two provisioning runs) would each find the values free and both write them. No
    index backs this: an older store may hold copies, which export and provision name. SQLite's
    write transaction holds the whole store already."""
    db = model._meta.database
    if db.for_update and db.in_transaction():
        table = zlib.crc32(model._meta.table_name.encode()) & 0x7FFFFFFF
        db.execute_sql("SELECT pg_advisory_xact_lock(%s, %s)", (UNIQUE_VALUES_LOCK, table))
    query = model.select(model.id)
    for column, value in values.items():
        field = getattr(model, column)
        # `without_case`: text told apart without (ASCII) case, such as user names.
        query = query.where(fn.LOWER(field) == value.lower() if without_case else field == value)
    if other_than is not None:
        query = query.where(model.id != other_than)
    row = query.order_by(model.id).first()
    return None if row is None else int(row.id)

