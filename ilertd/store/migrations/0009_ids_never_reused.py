"""Migration 9: ids are never reused: on SQLite the tables of what people and tools refer to by id
(users, tokens, contacts, rules, policies, sources, schedules, monitors, windows) get AUTOINCREMENT.

Without it SQLite gives a new row the largest id in use plus one, so deleting the newest user and
creating another hands the deleted user's id to a stranger: a script, a log line or a bookmark
that meant the first now means the second. With AUTOINCREMENT the largest id ever given is kept
(in `sqlite_sequence`) and never given again. PostgreSQL's sequences never go back: nothing to
do there. SQLite cannot add AUTOINCREMENT to a table, so each is rebuilt (SQLite's documented
way: create the new one, copy, drop the old, rename); the models are never used to create tables
(the migrations do), so they do not say it.
"""

from __future__ import annotations

import re
from typing import Any

import peewee

# Incidents and notifications take their ids from the daemon, never reused either; events, log
# entries and reply codes are only ever deleted with their incident.
TABLES = ("user", "api_token", "contact", "alert_rule", "update_rule", "duty_rule", "escalation_policy",
          "alert_source", "schedule", "schedule_version", "schedule_override", "heartbeat_monitor",
          "maintenance_window")
_ID_COLUMN = re.compile(r'"id" INTEGER NOT NULL PRIMARY KEY(?! AUTOINCREMENT)')


def up(migrator: Any, db: peewee.Database) -> None:
    # The runner turns foreign keys off around this migration, so the drops cascade nowhere.
    if not isinstance(db, peewee.SqliteDatabase):
        return
    for table in TABLES:
        _rebuild_with_autoincrement(db, table)
    broken = db.execute_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"migration 0009 would break foreign keys: {broken[:5]}")


def _rebuild_with_autoincrement(db: peewee.Database, table: str) -> None:
    row = db.execute_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                         (table,)).fetchone()
    if row is None:
        return
    create, replaced = _ID_COLUMN.subn('"id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT', row[0])
    if replaced == 0:
        return  # already AUTOINCREMENT
    staging = f"{table}__rebuilt"
    create, named = re.subn(rf'^CREATE TABLE "?{re.escape(table)}"?', f'CREATE TABLE "{staging}"', create)
    if named != 1:
        raise RuntimeError(f"migration 0009: cannot read the definition of table {table}: {row[0]}")
    indexes = [sql for (sql,) in db.execute_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
        (table,))]
    columns = ", ".join(f'"{name}"' for _, name, *_ in db.execute_sql(f'PRAGMA table_info("{table}")'))
    db.execute_sql(create)
    db.execute_sql(f'INSERT INTO "{staging}" ({columns}) SELECT {columns} FROM "{table}"')
    db.execute_sql(f'DROP TABLE "{table}"')
    db.execute_sql(f'ALTER TABLE "{staging}" RENAME TO "{table}"')
    for sql in indexes:
        db.execute_sql(sql)
