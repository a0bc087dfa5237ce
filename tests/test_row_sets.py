"""A batch of new rows in one statement (ilertd.store.row_sets), on real SQLite files: stored exactly
as the general way stores them, whole or not at all, and the general way for what it cannot carry."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import peewee
import pytest

from ilertd.store import committer as committer_module
from ilertd.store import models as m
from ilertd.store import row_sets
from ilertd.store import statements as sql
from ilertd.store.committer import Committer, WriteUnit
from ilertd.store.db import migrate, open_database
from ilertd.tracker import WorkTracker
from tests.test_committer import START, commit_all, incident_row, log_row

pytestmark = pytest.mark.skipif(not row_sets.AVAILABLE, reason="SQLite before 3.38 may lack JSON functions")

# Values JSON must carry exactly as a bound parameter would: quotes, escapes, control characters,
# text that looks like JSON or a number, other scripts, the empty string, long text.
AWKWARD_TEXTS = ['say "hi"', "back\\slash \\u0041", "tab\tnew\nline\r\x1f", '{"a": [1, 2]}', "[1]",
                 "007", "1e5", "-0", "true", "null", "", "Grüße 🚨 日本語 \u2028", "x" * 5000]


def new_store(path: Path) -> tuple[peewee.Database, sql.Statements, int]:
    db = open_database(f"sqlite:///{path}")
    migrate(db)
    source = m.AlertSource.create(name="src", integration_type="API", integration_key="k" * 32,
                                  created_at=START)
    return db, sql.Statements(db), source.id


def page_row(page_id: int, incident_id: int) -> dict[str, Any]:
    return {"id": page_id, "incident": incident_id, "user_id": 7, "kind": "ALERT", "method": "EMAIL",
            "target": f"oncall-{page_id}@example.com", "level": None if page_id % 2 else 1,
            "due_at": START + timedelta(minutes=page_id), "sent_at": None, "status": "SCHEDULED",
            "attempts": 0, "error_message": None, "created_at": START, "fallback": False}


Units = list[tuple[int, tuple[sql.Statement, ...]]]


def new_rows(statements: sql.Statements, source_id: int, texts: list[str]) -> Units:
    """A unit per text: its incident, an event, two log entries and a page, as new alert keys write them."""
    units = []
    for i, text in enumerate(texts, start=1):
        incident = incident_row(i, source_id) | {
            "summary": text, "details": text[::-1], "labels": {"text": text}, "event_count": 2**62 + i,
            "report_time": START + timedelta(microseconds=i)}
        event = {"incident": i, "event_type": "ALERT", "alert_key": text, "received_at": START,
                 "integration": "API", "payload": {"summary": text, "n": [i, None, True]}}
        units.append((i, (statements.insert_incident_row(incident), statements.event(event),
                          statements.log(log_row(i, text) | {"user_id": None if i % 2 else -i}),
                          statements.log(log_row(i, f"second {text}")),
                          statements.notification(page_row(i, i)))))
    return units


def stored(db: peewee.Database) -> list[tuple[Any, ...]]:
    """Every row of the tables new alert keys write, each value with its SQLite type."""
    rows = []
    for table in ("incident", "event", "log_entry", "notification"):
        columns = [c.name for c in db.get_columns(table)]
        typed = ", ".join(f"{c}, typeof({c})" for c in columns)
        query = f"SELECT {typed} FROM {table} ORDER BY id"
        rows += [(table, *row) for row in db.execute_sql(query).fetchall()]
    return rows


def both_ways(tmp_path: Path, texts: list[str], monkeypatch: pytest.MonkeyPatch,
              general_allowed: bool) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows of the same units committed with row sets, and the general way."""
    results = []
    for name, usable in (("row-sets", True), ("general", False)):
        with monkeypatch.context() as patched:
            patched.setattr(row_sets, "AVAILABLE", usable)
            if usable and not general_allowed:
                patched.setattr(Committer, "_write", None)  # the general way is not taken
            db, statements, source_id = new_store(tmp_path / f"{name}.db")
            assert Committer(db, WorkTracker())._row_sets.usable == usable
            units = new_rows(statements, source_id, texts)
            assert commit_all(db, units) == {i: None for i in range(1, len(texts) + 1)}
            results.append(stored(db))
            db.close()
    return results[0], results[1]


def test_new_rows_in_one_statement_are_stored_as_the_general_way_stores_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    in_one, general = both_ways(tmp_path, AWKWARD_TEXTS, monkeypatch, general_allowed=False)
    assert in_one == general
    assert len(in_one) == 5 * len(AWKWARD_TEXTS)
    # Ids follow submission order: each incident's two log entries, one incident after the other.
    logs = [row for row in in_one if row[0] == "log_entry"]
    assert [row[1] for row in logs] == list(range(1, 2 * len(AWKWARD_TEXTS) + 1))
    assert [row[9] for row in logs[:2]] == [AWKWARD_TEXTS[0], f"second {AWKWARD_TEXTS[0]}"]


def test_a_nul_character_goes_the_general_way_and_is_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's JSON functions would end the text at the NUL."""
    texts = ["before\x00after", *AWKWARD_TEXTS[:3]]
    in_one, general = both_ways(tmp_path, texts, monkeypatch, general_allowed=True)
    assert in_one == general
    assert ("before\x00after", "text") in [row[9:11] for row in in_one if row[0] == "incident"]


def test_a_batch_with_anything_but_new_rows_goes_the_general_way(tmp_path: Path) -> None:
    db, statements, source_id = new_store(tmp_path / "ilertd.db")
    rows = row_sets.RowSets(statements)
    units = new_rows(statements, source_id, ["a", "b"])
    before = incident_row(1, source_id)
    update = statements.update_incident_row(before, before | {"event_count": 2})
    assert update is not None
    for extra in (update, statements.cancel_pages(1), statements.update_notification(1, {"status": "SENT"})):
        batch = [WriteUnit(owner, unit, lambda error: None) for owner, unit in units]
        batch.append(WriteUnit(9, (extra,), lambda error: None))
        assert not rows.write(db, batch), extra.sql
    assert m.Incident.select().count() == 0, "nothing is written when the batch cannot go in at once"
    assert rows.write(db, [WriteUnit(owner, unit, lambda error: None) for owner, unit in units])
    assert m.Incident.select().count() == 2
    db.close()


def test_a_batch_lands_whole_or_not_at_all_and_a_bad_unit_fails_alone(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db, statements, source_id = new_store(tmp_path / "ilertd.db")
    rows = row_sets.RowSets(statements)
    units = new_rows(statements, source_id, ["a", "b", "c"])
    # The last unit's page takes the id of the first's: the one statement fails, and nothing of it stays.
    duplicate = (*units[2][1][:-1], statements.notification(page_row(1, 3)))
    with pytest.raises(sqlite3.IntegrityError):
        rows.write(db, [WriteUnit(o, s, lambda error: None) for o, s in [*units[:2], (3, duplicate)]])
    assert stored(db) == []
    assert not db.connection().in_transaction
    # Through the writer: the batch fails, each unit is tried alone, the two good ones land.
    outcomes = commit_all(db, [*units[:2], (3, duplicate)])
    assert isinstance(outcomes.pop(3), sqlite3.IntegrityError)
    assert outcomes == {1: None, 2: None}
    assert [r.id for r in m.Incident.select().order_by(m.Incident.id)] == [1, 2]
    assert m.Notification.select().count() == 2 and m.LogEntry.select().count() == 4
    assert "write for incident 3 failed" in caplog.text
    db.close()


def test_a_value_json_cannot_carry_is_left_to_the_driver_and_fails_only_its_unit(tmp_path: Path) -> None:
    db, statements, source_id = new_store(tmp_path / "ilertd.db")
    units = new_rows(statements, source_id, ["a", "b", "c"])
    # A lone surrogate: orjson refuses it, and the driver cannot encode it either.
    units.append((4, (statements.insert_incident_row(incident_row(4, source_id) | {"summary": "\ud800"}),)))
    outcomes = commit_all(db, units)
    assert isinstance(outcomes.pop(4), UnicodeEncodeError)
    assert outcomes == {1: None, 2: None, 3: None}
    assert [r.id for r in m.Incident.select().order_by(m.Incident.id)] == [1, 2, 3]
    db.close()


def test_a_new_connection_gets_the_view_and_its_trigger_again(tmp_path: Path) -> None:
    db, statements, source_id = new_store(tmp_path / "ilertd.db")
    rows = row_sets.RowSets(statements)
    units = [WriteUnit(o, s, lambda error: None) for o, s in new_rows(statements, source_id, ["a", "b"])]
    assert rows.write(db, units[:1])
    db.close()
    db.connect()
    assert rows.write(db, units[1:])
    assert [r.id for r in m.Incident.select().order_by(m.Incident.id)] == [1, 2]
    # The view is the connection's own: the store's file holds no trace of it.
    assert not [name for (name,) in db.execute_sql("SELECT name FROM sqlite_master").fetchall()
                if name.startswith(row_sets.VIEW)]
    db.close()


def test_only_columns_json_keeps_exactly_are_read_from_json() -> None:
    assert sql.Statements(peewee.SqliteDatabase(":memory:")).sqlite
    assert row_sets.select_from_json("INSERT INTO t (a, b) VALUES (?, ?)", 2, "?") == (
        "INSERT INTO t (a, b) SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]')"
        " FROM json_each(?)")
    assert row_sets.json_keeps(m.Incident.alert_source) and row_sets.json_keeps(m.Incident.labels)
    assert row_sets.json_keeps(m.Incident.report_time) and row_sets.json_keeps(peewee.BooleanField())
    # JSON has no NaN or infinity, and no bytes.
    assert not row_sets.json_keeps(peewee.FloatField()) and not row_sets.json_keeps(peewee.BlobField())
    assert committer_module.RowSets is row_sets.RowSets


def test_an_integer_past_64_bits_is_left_to_the_driver_and_fails_only_its_unit(tmp_path: Path) -> None:
    """orjson writes integers up to 2**64 - 1, which SQLite's JSON functions would read as floats."""
    db, statements, source_id = new_store(tmp_path / "ilertd.db")
    units = new_rows(statements, source_id, ["a", "b"])
    units.append((3, (statements.insert_incident_row(incident_row(3, source_id) | {"event_count": 2**62}),)))
    units.append((4, (statements.insert_incident_row(incident_row(4, source_id) | {"event_count": 2**63}),)))
    outcomes = commit_all(db, units)
    assert isinstance(outcomes.pop(4), OverflowError)
    assert outcomes == {1: None, 2: None, 3: None}
    query = "SELECT event_count, typeof(event_count) FROM incident WHERE id = 3"
    assert db.execute_sql(query).fetchone() == (2**62, "integer")
    db.close()
