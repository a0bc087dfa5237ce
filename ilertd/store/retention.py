"""Resolved incidents past keeping: finding the oldest, and the statement that deletes them.

An incident's events, log entries, pages and reply codes reference it `ON DELETE CASCADE`, so
deleting the incident row deletes them in the same statement. Ids are never reused (SQLite
`AUTOINCREMENT`, PostgreSQL sequences): a deleted incident's id names nothing from then on.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import peewee

from ilertd.store import models as m
from ilertd.store.statements import BARRIER, Statement


def resolved_before_query(cutoff: datetime, limit: int) -> peewee.Query:
    """By the partial index `incident_resolved_at` (migration 15), the rows past keeping only.
    An incident has `resolved_at` once RESOLVED, and RESOLVED is final: the time alone says it.
    (With the status in the query as well, SQLite chose `incident_status` and read every
    resolved incident.)"""
    return (m.Incident.select(m.Incident.id)
            .where(m.Incident.resolved_at < cutoff)
            .order_by(m.Incident.resolved_at).limit(limit))


def resolved_before(cutoff: datetime, limit: int) -> list[int]:
    """The ids of up to `limit` incidents RESOLVED before `cutoff`, the longest resolved first."""
    return [row.id for row in resolved_before_query(cutoff, limit)]


def deletion(incident_ids: Sequence[int]) -> Statement:
    """Deleting these incidents, for the group-commit writer; one no longer RESOLVED is kept."""
    marks = ", ".join([m.Incident._meta.database.param] * len(incident_ids))
    return Statement(BARRIER, f"DELETE FROM incident WHERE status = 'RESOLVED' AND id IN ({marks})",
                     tuple(incident_ids))
