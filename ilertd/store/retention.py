"""Resolved incidents past keeping: finding the oldest, and the statement that deletes them.

An incident's events, log entries, pages and reply codes reference it `ON DELETE CASCADE`, so
deleting the incident row deletes them in the same statement. Incidents and pages take their ids
from the daemon (the largest stored plus one, read at its start): the largest given before a
deletion is kept (`GIVEN_KEYS`), or a restart after the newest were deleted (a quiet store, all
its incidents past keeping) gave their ids again, and an old link, reply code or bookmark of
incident #1 named the new #1.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import peewee

from ilertd.store import models as m
from ilertd.store.statements import BARRIER, Statement

# The largest incident and page id given before a deletion, in the `setting` table.
GIVEN_KEYS = {"incident": "incident_ids_given_up_to", "notification": "notification_ids_given_up_to"}


def given_up_to(table: str) -> int:
    """The largest id of `table` given before a deletion (0: none kept)."""
    row = m.Setting.get_or_none(m.Setting.key == GIVEN_KEYS[table])
    return int(row.value) if row is not None else 0


def keeping_given_ids() -> list[Statement]:
    """Statements keeping the largest incident and page ids given so far, to go with a deletion:
    the rows it deletes are among those already stored."""
    param = m.Setting._meta.database.param
    statements = []
    for table, key in GIVEN_KEYS.items():
        stored = m.Setting._meta.database.execute_sql(f"SELECT MAX(id) FROM {table}").fetchone()[0] or 0
        largest = max(int(stored), given_up_to(table))
        statements.append(Statement(
            BARRIER, f"INSERT INTO setting (key, value) VALUES ({param}, {param})"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, str(largest))))
    return statements


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
