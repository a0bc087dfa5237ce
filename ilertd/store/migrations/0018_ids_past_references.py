"""Migration 18: each table's next id comes after every id any row still refers to, deleted or not.

Migration 9 made ids never reused from then on, but it left SQLite's `sqlite_sequence` at the
largest id still present: a user, policy, source or schedule deleted under an older release (which
handed out the largest id plus one) had its id given again to the next one created, while old
incidents, log entries, pages, overrides and policies still named it. The old incident resolved
by the deleted user then showed the new one as resolving it; an open incident of a deleted policy
escalated through the new policy's levels and paged its people. Here every reference is read (the
columns, and the ids inside the JSON of policies, schedule versions, maintenance windows and the
heartbeat alert keys) and each table's sequence is raised past the largest; never lowered. On
PostgreSQL the same is done with each table's serial sequence (a store copied in with its ids kept).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import peewee

# (table whose ids are referred to, table referring to them, its column holding the ids).
COLUMN_REFERENCES: tuple[tuple[str, str, str], ...] = (
    ("user", "incident", "accepted_by_id"),
    ("user", "incident", "resolved_by_id"),
    ("user", "log_entry", "user_id"),
    ("user", "notification", "user_id"),
    ("user", "schedule_override", "user_id"),
    ("user", "reply_code", "user_id"),
    ("user", "api_token", "user_id"),
    ("user", "contact", "user_id"),
    ("user", "alert_rule", "user_id"),
    ("user", "update_rule", "user_id"),
    ("user", "duty_rule", "user_id"),
    ("escalation_policy", "incident", "escalation_policy_id"),
    ("escalation_policy", "alert_source", "escalation_policy_id"),
    ("alert_source", "incident", "alert_source_id"),
    ("alert_source", "heartbeat_monitor", "alert_source_id"),
    ("schedule", "notification", "schedule_id"),
    ("schedule", "schedule_version", "schedule_id"),
    ("schedule", "schedule_override", "schedule_id"),
    # A shift reminder names the duty rule it was planned from.
    ("duty_rule", "notification", "rule_id"),
    ("contact", "alert_rule", "contact_id"),
    ("contact", "update_rule", "contact_id"),
    ("contact", "duty_rule", "contact_id"),
)
# The tables of migration 9, whose ids come from a sequence.
SEQUENCED = ("user", "api_token", "contact", "alert_rule", "update_rule", "duty_rule", "escalation_policy",
             "alert_source", "schedule", "schedule_version", "schedule_override", "heartbeat_monitor",
             "maintenance_window")
# A heartbeat's incident is found by this key: a new monitor of a deleted one's id resolved it.
_HEARTBEAT_KEY = re.compile(r"heartbeat-(\d+)")


def up(migrator: Any, db: peewee.Database) -> None:
    largest = {table: _largest(db, f'SELECT MAX(id) FROM "{table}"') for table in SEQUENCED}
    for table, referring, column in COLUMN_REFERENCES:
        largest[table] = max(largest[table], _largest(db, f'SELECT MAX({column}) FROM "{referring}"'))
    for table, ids in _json_references(db):
        largest[table] = max(largest[table], *ids, 0)
    for table, past in largest.items():
        if past > 0:
            _raise_sequence(db, table, past)


def _largest(db: peewee.Database, sql: str) -> int:
    value = db.execute_sql(sql).fetchone()[0]
    return int(value) if value is not None else 0


def _json_references(db: peewee.Database) -> Iterator[tuple[str, list[int]]]:
    for (rules,) in db.execute_sql("SELECT rules FROM escalation_policy"):
        for rule in _list(_decoded(rules)):
            if isinstance(rule, dict):
                yield "user", _ids(rule.get("users"))
                yield "schedule", _ids(rule.get("schedules"))
    for (definition,) in db.execute_sql("SELECT definition FROM schedule_version"):
        decoded = _decoded(definition)
        if isinstance(decoded, dict):
            for layer in _list(decoded.get("scheduleLayers")):
                if isinstance(layer, dict):
                    yield "user", _ids(layer.get("users"))
            yield "user", _ids([s.get("user") for s in _list(decoded.get("shifts")) if isinstance(s, dict)])
    for (source_ids,) in db.execute_sql("SELECT alert_source_ids FROM maintenance_window"):
        yield "alert_source", _ids(_decoded(source_ids))
    for (key,) in db.execute_sql(f"SELECT alert_key FROM incident WHERE alert_key LIKE {db.param}",
                                ("heartbeat-%",)):
        found = _HEARTBEAT_KEY.fullmatch(key)
        if found:
            yield "heartbeat_monitor", [int(found.group(1))]


def _decoded(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str | bytes) else text
    except ValueError:
        return None  # unreadable JSON names nothing; the daemon reports it where it reads it


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _ids(value: Any) -> list[int]:
    """The ids of a list written as ids or as objects with an id (releases wrote both)."""
    found = []
    for item in _list(value):
        item = item.get("id") if isinstance(item, dict) else item
        if isinstance(item, int) and not isinstance(item, bool):
            found.append(item)
    return found


def _raise_sequence(db: peewee.Database, table: str, past: int) -> None:
    if isinstance(db, peewee.SqliteDatabase):
        row = db.execute_sql("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
        if row is None:
            db.execute_sql("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, past))
        elif row[0] < past:
            db.execute_sql("UPDATE sqlite_sequence SET seq = ? WHERE name = ?", (past, table))
        return
    (sequence,) = db.execute_sql("SELECT pg_get_serial_sequence(%s, 'id')", (f'"{table}"',)).fetchone()
    if sequence is None:
        return
    last, called = db.execute_sql(f"SELECT last_value, is_called FROM {sequence}").fetchone()
    following = last + 1 if called else last
    if following <= past:
        db.execute_sql("SELECT setval(%s, %s, true)", (sequence, past))
