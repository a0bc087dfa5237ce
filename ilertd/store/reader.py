"""Reads on the paging hot path without the ORM's query building: rows as plain attribute objects.

Building a SELECT through peewee costs several times what SQLite takes to run it; an
escalation storm reads a dozen rows per page. Columns come back converted by the models'
own fields (datetimes, JSON), named by column (`incident_id`, not `incident`).

On SQLite a result comes back as one JSON array built by SQLite: the sqlite3 module lets go
of the interpreter lock around every row it steps to, and beside busy threads each row then
waited for the lock again (256 rows: 1.2 ms alone, 3.4 ms of CPU beside two busy threads;
as one JSON value 0.8 and 1.7 ms).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from types import SimpleNamespace
from typing import Any

import peewee

from ilertd.store import models as m
from ilertd.store.db import is_sqlite
from ilertd.store.fields import decode_json, is_plain

# Ids per IN list: four lists of this length in one query stay far below any parameter limit.
IN_CHUNK = 256


def id_chunks(ids: Iterable[int]) -> Iterator[tuple[int, ...]]:
    """`ids` without repeats, in chunks of at most IN_CHUNK, each padded with its last id to a
    power-of-two length: IN lists of few distinct lengths mean few statements to prepare."""
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), IN_CHUNK):
        chunk = unique[start:start + IN_CHUNK]
        size = 1 << (len(chunk) - 1).bit_length()
        yield (*chunk, *[chunk[-1]] * (size - len(chunk)))


def placeholders(count: int) -> str:
    return ", ".join("?" * count)


class Reader:
    def __init__(self, db: peewee.Database) -> None:
        self.db = db
        self.sqlite = is_sqlite(db)
        self._sql: dict[tuple[type[m.BaseModel], str], str] = {}
        self._lock = threading.Lock()
        self._shapes: dict[type[m.BaseModel], tuple[list[str], list[tuple[int, str, Any]]]] = {}

    def _shape(self, model: type[m.BaseModel]) -> tuple[list[str], list[tuple[int, str, Any]]]:
        """The model's column names, and (position, name, converter) of the columns that need one."""
        shape = self._shapes.get(model)
        if shape is None:
            fields = model._meta.sorted_fields
            shape = ([f.column_name for f in fields],
                     [(i, f.column_name, f.python_value) for i, f in enumerate(fields) if not is_plain(f)])
            self._shapes[model] = shape
        return shape

    def _statement(self, model: type[m.BaseModel], where: str) -> str:
        key = (model, where)
        sql = self._sql.get(key)
        if sql is None:
            columns = ", ".join(f'"{f.column_name}"' for f in model._meta.sorted_fields)
            clause = where.replace("?", self.db.param)
            sql = f'SELECT {columns} FROM "{model._meta.table_name}" WHERE {clause}'
            if self.sqlite:
                sql = as_one_json_row(sql, columns)
            with self._lock:
                self._sql[key] = sql
        return sql

    def select(self, model: type[m.BaseModel], where: str, *params: Any) -> list[SimpleNamespace]:
        """Rows of `model` matching `where` (with `?` placeholders, and ORDER BY if wanted)."""
        names, converted = self._shape(model)
        rows = []
        for row in self._fetch(self._statement(model, where), params):
            values = dict(zip(names, row, strict=True))
            for i, name, python_value in converted:
                if row[i] is not None:
                    values[name] = python_value(row[i])
            rows.append(SimpleNamespace(**values))
        return rows

    def by_ids(self, model: type[m.BaseModel], ids: Iterable[int]) -> list[SimpleNamespace]:
        """Rows of `model` whose id is one of `ids`, one query per IN_CHUNK of them."""
        rows = []
        for chunk in id_chunks(ids):
            rows.extend(self.select(model, f"id IN ({placeholders(len(chunk))})", *chunk))
        return rows

    def one(self, model: type[m.BaseModel], where: str, *params: Any) -> SimpleNamespace | None:
        found = self.select(model, where, *params)
        return found[0] if found else None

    def raw(self, sql: str, *params: Any, columns: str | None = None) -> list[Any]:
        """Rows of a hand-written query (`?` placeholders), values as the driver returns them.

        With `columns` (the result's column names, comma-separated) SQLite returns it in one
        step; rows are then lists, not tuples.
        """
        if self.db.param != "?":
            sql = sql.replace("?", self.db.param)
        if columns is not None and self.sqlite:
            return self._fetch(as_one_json_row(sql, columns), params)
        return list(self.db.execute_sql(sql, params).fetchall())

    def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        cursor = self.db.execute_sql(sql, params)
        if not self.sqlite:
            return list(cursor.fetchall())
        rows: list[Any] = decode_json(cursor.fetchone()[0])
        return rows


def as_one_json_row(sql: str, columns: str) -> str:
    """`sql` whose result is one JSON array of rows (SQLite). Its ORDER BY holds: SQLite does not
    flatten an ordered subquery into an aggregate, so the rows reach the aggregate in order."""
    return f"SELECT json_group_array(json_array({columns})) FROM ({sql})"
