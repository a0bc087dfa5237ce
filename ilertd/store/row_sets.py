"""New rows in one statement: a batch of inserts that SQLite reads from JSON arrays in a trigger.

The sqlite3 driver lets go of the interpreter lock around every statement it runs, and under
load taking it back waits for the threads that took it meanwhile: in a webhook's burst the
writer's BEGIN, three INSERTs and COMMIT each waited up to 40 ms for it, and a batch of 512
alerts took 70 ms where its work took under 10. A batch of only new rows (incidents, events,
log entries, pages: what new alert keys write) now goes in as one INSERT into a temporary view,
whose trigger inserts each kind's rows from a JSON array parameter, in the order the separate
statements had: one statement is one transaction, so the batch lands whole or not at all, and
the lock is given back once. The rows' values go to SQLite as orjson writes them, in one call,
instead of one conversion per value holding the lock.

Only SQLite, from 3.38 on (where its JSON functions are always built in); a batch with anything
else (an update, a barrier) or a value JSON would not keep goes the general way.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Protocol

import orjson
import peewee

from ilertd.store.statements import (
    INSERT_EVENT,
    INSERT_INCIDENT,
    INSERT_LOG,
    INSERT_NOTIFICATION,
    Statement,
    Statements,
)

AVAILABLE = sqlite3.sqlite_version_info >= (3, 38)
# Inserted in this order, as the general path orders them: rows before those that reference them.
KINDS = (INSERT_INCIDENT, INSERT_EVENT, INSERT_LOG, INSERT_NOTIFICATION)
VIEW = "ilertd_new_rows"
# SQLite's integers: past them json_extract gives a float, where the driver refuses the value.
INTEGERS = range(-(2**63), 2**63)


class HasStatements(Protocol):
    statements: tuple[Statement, ...]


def json_keeps(field: peewee.Field) -> bool:
    """Whether JSON carries this column's values exactly as the driver would bind them: integers,
    text and NULL (a float could be NaN, which JSON has not; bytes it has not either)."""
    if isinstance(field, peewee.ForeignKeyField):
        return json_keeps(field.rel_field)
    return isinstance(field, peewee.IntegerField | peewee._StringField | peewee.DateTimeField
                      | peewee.BooleanField)


def select_from_json(insert_sql: str, width: int, array: str) -> str:
    """`insert_sql` (a one-row INSERT of `width` values) as an INSERT of the rows of `array`."""
    head, _, _ = insert_sql.partition(" VALUES ")
    columns = ", ".join(f"json_extract(value, '$[{index}]')" for index in range(width))
    # json_each yields an array in its order: ids are given as one INSERT per row would give them.
    return f"{head} SELECT {columns} FROM json_each({array})"


class RowSets:
    """The view, its trigger and the one INSERT for the hot inserts of `statements`."""

    def __init__(self, statements: Statements) -> None:
        tables = {
            INSERT_INCIDENT: (statements.insert_incident, statements.incident_fields, "incidents"),
            INSERT_EVENT: (statements.insert_event, statements.event_fields, "events"),
            INSERT_LOG: (statements.insert_log, statements.log_fields, "logs"),
            INSERT_NOTIFICATION: (statements.insert_notification, statements.notification_fields, "pages"),
        }
        self.usable = AVAILABLE and statements.sqlite and all(
            json_keeps(f) for _, fields, _ in tables.values() for f in fields)
        self._sql = {kind: sql for kind, (sql, _, _) in tables.items()}
        arrays = [array for _, _, array in tables.values()]
        body = "".join(f" {select_from_json(sql, len(fields), 'NEW.' + array)};"
                       for sql, fields, array in tables.values())
        self._schema = (
            f"CREATE TEMP VIEW IF NOT EXISTS {VIEW} ({', '.join(arrays)})"
            f" AS SELECT {', '.join(['NULL'] * len(arrays))}",
            f"CREATE TEMP TRIGGER IF NOT EXISTS {VIEW}_insert INSTEAD OF INSERT ON {VIEW} BEGIN{body} END",
        )
        marks = ", ".join(["?"] * len(arrays))
        self.insert = f"INSERT INTO temp.{VIEW} ({', '.join(arrays)}) VALUES ({marks})"
        self._ready_on: Any = None

    def arrays(self, units: Sequence[HasStatements]) -> list[str | None] | None:
        """Each kind's rows as JSON text (None: no rows of it), or None when the batch cannot go
        in this way."""
        rows: dict[int, list[tuple[Any, ...]]] = {kind: [] for kind in KINDS}
        sql = self._sql
        for unit in units:
            for statement in unit.statements:
                kind = statement.kind
                if sql.get(kind) != statement.sql:
                    return None
                rows[kind].append(statement.params)
        texts: list[str | None] = []
        for kind in KINDS:
            if not rows[kind]:
                texts.append(None)
                continue
            text = json_text(rows[kind])
            if text is None:
                return None
            texts.append(text)
        return texts

    def write(self, db: peewee.Database, units: Sequence[HasStatements]) -> bool:
        """Insert the rows of `units` in one statement (its own transaction); False when they
        cannot go in this way, and nothing was written."""
        if not self.usable:
            return False
        texts = self.arrays(units)
        if texts is None:
            return False
        connection = db.connection()
        if connection is not self._ready_on:
            # Temporary objects are the connection's own: made again on a new one.
            for statement in self._schema:
                connection.execute(statement)
            self._ready_on = connection
        connection.execute(self.insert, texts)
        return True


def json_text(rows: Sequence[tuple[Any, ...]]) -> str | None:
    """`rows` as one JSON array that SQLite reads back as the driver would bind each value, or
    None when a value could come back otherwise (the general way then binds it, or refuses it)."""
    try:
        text = orjson.dumps(rows, option=orjson.OPT_STRICT_INTEGER)
    except TypeError:
        # An integer past 53 bits (rare: looked at only then), or a value JSON has not at all.
        if any(type(value) is int and value not in INTEGERS for row in rows for value in row):
            return None  # orjson would write up to 2**64 - 1: the driver's to refuse
        try:
            text = orjson.dumps(rows)
        except TypeError:
            return None  # a lone surrogate: the driver's to refuse too
    if b"\\u0000" in text:
        return None  # SQLite's JSON functions end a string at a NUL; bound, it is kept
    return text.decode()
