"""Resolved incidents past keeping: finding the oldest, and deleting them with everything of theirs.

An incident's events, log entries, pages and reply codes reference it `ON DELETE CASCADE`, so
deleting the incident row deletes them in the same statement. Ids are never reused (SQLite
`AUTOINCREMENT`, PostgreSQL sequences): a deleted incident's id names nothing from then on.
"""

from __future__ import annotations

from datetime import datetime

from ilertd.store import models as m
from ilertd.store.db import write_transaction


def delete_resolved_before(cutoff: datetime, limit: int) -> int:
    """Delete up to `limit` incidents RESOLVED before `cutoff`, oldest first, in one transaction;
    how many. An incident still PENDING or ACCEPTED is kept however old it is."""
    db = m.Incident._meta.database
    with write_transaction(db):
        ids = [row.id for row in m.Incident.select(m.Incident.id)
               .where((m.Incident.status == "RESOLVED") & (m.Incident.resolved_at < cutoff))
               .order_by(m.Incident.id).limit(limit)]
        if not ids:
            return 0
        return int(m.Incident.delete().where(m.Incident.id.in_(ids)).execute())
