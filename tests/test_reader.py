"""The hot-path reader: a SQLite result read back as one JSON value gives the values SQLite holds."""

from __future__ import annotations

import peewee

from ilertd.store.reader import Reader


def test_one_json_value_keeps_every_value_sqlite_returns(db: peewee.Database) -> None:
    text = "é\u2028\"\\ \U0001f4a1\x00"
    rows = Reader(db).raw("SELECT 9007199254740993 AS exact, -0.1 AS tenth, 1e300 AS big, ? AS text,"
                          " NULL AS absent", text, columns="exact, tenth, big, text, absent")
    assert rows == [[9007199254740993, -0.1, 1e300, text, None]]


def test_rows_keep_their_order(db: peewee.Database) -> None:
    rows = Reader(db).raw("SELECT value FROM json_each('[3, 1, 2]') ORDER BY value DESC", columns="value")
    assert rows == [[3], [2], [1]]
