"""The group-commit writer on a real SQLite file: batches of units as multi-row inserts, in order."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import peewee
import pytest

from ilertd.store import db as store_db
from ilertd.store import models as m
from ilertd.store import row_sets
from ilertd.store import statements as sql
from ilertd.store.committer import Committer, NotLeadingError, WriteUnit
from ilertd.store.db import migrate, open_database
from ilertd.tracker import WorkTracker

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[peewee.Database, sql.Statements, int]]:
    db = open_database(f"sqlite:///{tmp_path / 'ilertd.db'}")
    migrate(db)
    source = m.AlertSource.create(name="src", integration_type="API", integration_key="k" * 32,
                                  created_at=START)
    yield db, sql.Statements(db), source.id
    db.close()


def incident_row(incident_id: int, source_id: int) -> dict[str, Any]:
    return {
        "id": incident_id, "alert_source": source_id, "alert_key": f"key-{incident_id}",
        "alert_key_identity": f"key-{incident_id}", "summary": f"incident {incident_id}", "details": "",
        "status": "PENDING", "priority": "HIGH", "escalation_policy_id": None, "escalation_level": 0,
        "escalation_pass": 0, "next_escalation_at": None, "escalated_at": None, "escalated_seq": None,
        "report_time": START, "accepted_at": None, "accepted_by_id": None, "resolved_at": None,
        "resolved_by_id": None,
        "images": [], "links": [], "labels": {"n": incident_id}, "custom_details": {}, "event_count": 1,
    }


def log_row(incident_id: int, text: str) -> dict[str, Any]:
    return {"incident": incident_id, "timestamp": START, "log_entry_type": "ALERT_RECEIVED", "text": text,
            "user_id": None, "channel": "API"}


def commit_all(db: peewee.Database, units: list[tuple[int, tuple[sql.Statement, ...]]],
               may_write: Any = None) -> dict[int, BaseException | None]:
    """Queue every unit before the writer starts, so they share batches, then wait for each."""
    outcomes: dict[int, BaseException | None] = {}
    landed = threading.Event()

    def done_for(owner: int) -> Any:
        def done(error: BaseException | None) -> None:
            outcomes[owner] = error
            if len(outcomes) == len(units):
                landed.set()
        return done

    committer = Committer(db, WorkTracker())
    if may_write is not None:
        committer.guard_with(may_write)
    for owner, statements in units:
        committer.submit(WriteUnit(owner, statements, done_for(owner)))
    committer.start()
    assert landed.wait(30)
    committer.stop()
    return outcomes


def test_a_batch_of_units_lands_whole_and_in_submission_order(store: Any) -> None:
    db, statements, source_id = store
    units = [(i, (statements.insert_incident_row(incident_row(i, source_id)),
                  statements.log(log_row(i, f"first of {i}")),
                  statements.log(log_row(i, f"second of {i}"))))
             for i in range(1, 41)]
    outcomes = commit_all(db, units)
    assert outcomes == {i: None for i in range(1, 41)}
    assert [(r.id, r.labels) for r in m.Incident.select().order_by(m.Incident.id)] == [
        (i, {"n": i}) for i in range(1, 41)]
    # Log ids follow submission order: each incident's two entries, one incident after the other.
    texts = [e.text for e in m.LogEntry.select().order_by(m.LogEntry.id)]
    assert texts == [t for i in range(1, 41) for t in (f"first of {i}", f"second of {i}")]


def test_a_node_that_no_longer_leads_commits_nothing(store: Any) -> None:
    """The fence said no (this node's lease was taken while it was stopped): every queued unit is
    refused, none lands, where the resumed node committed an escalation over the new leader's."""
    db, statements, source_id = store
    leading = iter([True, False, False])
    first = commit_all(db, [(1, (statements.insert_incident_row(incident_row(1, source_id)),))],
                       may_write=lambda: next(leading))
    assert first == {1: None}
    units = [(i, (statements.insert_incident_row(incident_row(i, source_id)),)) for i in (2, 3)]
    outcomes = commit_all(db, units, may_write=lambda: next(leading))
    assert all(isinstance(error, NotLeadingError) for error in outcomes.values()), outcomes
    assert [r.id for r in m.Incident.select()] == [1]


def test_rows_beyond_the_parameter_limit_go_in_several_statements(
        store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    db, statements, source_id = store
    width = len(statements.incident_fields)
    # Three rows per statement: 10 incidents take four statements, the last with one row. (The
    # general way: where SQLite cannot take a batch of new rows in one statement.)
    monkeypatch.setattr(sql, "MAX_PARAMS", width * 3 + 1)
    monkeypatch.setattr(row_sets, "AVAILABLE", False)
    rows = [statements.insert_incident_row(incident_row(i, source_id)).params for i in range(1, 11)]
    rendered = list(sql.multi_row_inserts(statements.insert_incident, rows))
    assert [len(params) // width for _, params in rendered] == [3, 3, 3, 1]
    outcomes = commit_all(db, [(i, (statements.insert_incident_row(incident_row(i, source_id)),))
                               for i in range(1, 11)])
    assert outcomes == {i: None for i in range(1, 11)}
    assert [r.id for r in m.Incident.select().order_by(m.Incident.id)] == list(range(1, 11))


def test_one_bad_unit_fails_alone_and_its_neighbours_land(
        store: Any, caplog: pytest.LogCaptureFixture) -> None:
    db, statements, source_id = store
    units = [(i, (statements.insert_incident_row(incident_row(i, source_id)),
                  statements.log(log_row(i, f"entry of {i}"))))
             for i in range(1, 6)]
    # Unit 6 inserts incident 3 again: the multi-row INSERT of the batch fails on its key.
    units.append((6, (statements.insert_incident_row(incident_row(3, source_id)),
                      statements.log(log_row(3, "entry of the duplicate")))))
    outcomes = commit_all(db, units)
    assert isinstance(outcomes.pop(6), sqlite3.IntegrityError)
    assert outcomes == {i: None for i in range(1, 6)}
    assert [r.id for r in m.Incident.select().order_by(m.Incident.id)] == [1, 2, 3, 4, 5]
    assert [e.text for e in m.LogEntry.select().order_by(m.LogEntry.id)] == [
        f"entry of {i}" for i in range(1, 6)]
    assert "write for incident 6 failed" in caplog.text


def test_only_a_plain_single_row_insert_is_rendered_for_many_rows() -> None:
    assert sql.is_insert("INSERT INTO log_entry (a, b) VALUES (?, ?)")
    assert not sql.is_insert("INSERT INTO log_entry (a, b) VALUES (?, ?) RETURNING id")
    assert not sql.is_insert("INSERT INTO log_entry (a, b) VALUES (?, ?) ON CONFLICT (a) DO NOTHING")
    assert not sql.is_insert("INSERT INTO log_entry (a, b) SELECT a, b FROM other")
    assert not sql.is_insert("UPDATE incident SET status = ? WHERE id = ?")


def test_waiting_for_owners_returns_once_their_last_write_has_been_told(store: Any) -> None:
    db, statements, source_id = store
    committer = Committer(db, WorkTracker())
    told: list[int] = []
    for i in range(1, 201):
        committer.submit(WriteUnit(i % 7, (statements.log(log_row(1, f"entry {i}")),) if i > 1 else
                                   (statements.insert_incident_row(incident_row(1, source_id)),),
                                   lambda error, i=i: told.append(i)))
    # Nothing is written before the start: a wait with a short timeout says so.
    assert not committer.wait_flushed_all([3, 5], timeout=0.05)
    assert committer.wait_flushed(99, timeout=0.05), "an owner with nothing queued waits for nothing"
    committer.start()
    assert committer.wait_flushed_all([3, 5], timeout=30)
    # The newest write of owner 3 or 5 is number 199 (199 % 7 == 3): it and all before it were told.
    assert set(range(1, 200)) <= set(told)
    assert committer.wait_flushed(0, timeout=30)
    committer.stop()
    assert sorted(told) == list(range(1, 201))
    assert m.LogEntry.select().count() == 199


def test_units_submitted_together_keep_their_order_and_are_waited_for_by_owner(store: Any) -> None:
    db, statements, source_id = store
    committer = Committer(db, WorkTracker())
    told: list[int] = []
    committer.submit(WriteUnit(1, (statements.insert_incident_row(incident_row(1, source_id)),),
                               lambda error: told.append(0)))
    committer.submit_many([
        WriteUnit(10 + i % 3, (statements.log(log_row(1, f"entry {i}")),), lambda error, i=i: told.append(i))
        for i in range(1, 31)])
    committer.submit(WriteUnit(99, (statements.log(log_row(1, "after")),), lambda error: told.append(31)))
    assert not committer.wait_flushed(11, timeout=0.05)
    committer.start()
    # Owner 11's newest write is entry 28 (28 % 3 == 1): it and everything queued before it landed.
    assert committer.wait_flushed(11, timeout=30)
    assert set(range(29)) <= set(told)
    assert committer.wait_flushed(99, timeout=30)
    committer.stop()
    assert told == list(range(32))
    assert [e.text for e in m.LogEntry.select().order_by(m.LogEntry.id)] == [
        *(f"entry {i}" for i in range(1, 31)), "after"]


def test_an_instant_is_written_as_the_orm_writes_it_however_often_it_repeats(store: Any) -> None:
    _db, statements, _source = store
    field = m.Incident.report_time
    berlin = START.astimezone(timezone(timedelta(hours=1)))
    later = [START + timedelta(seconds=s, microseconds=s) for s in range(600)]
    for instant in [START, berlin, START.replace(tzinfo=None), *later, START, berlin]:
        # The text peewee writes for the naive UTC datetime its field gives.
        assert statements.value(field, instant) == field.db_value(instant).isoformat(sep=" "), instant
    assert statements.value(field, berlin) == statements.value(field, START) == "2026-03-02 09:00:00"
    assert len(statements._instant_text) <= sql.INSTANTS_KEPT


def test_each_parameter_is_what_peewee_would_bind_for_its_column() -> None:
    """The hot path's shortcuts (NULL as it is, a JSON column's own db_value, an instant's kept
    text) bind what peewee's own conversion of the field binds, and any other column type goes
    through that conversion."""
    statements = sql.Statements(peewee.SqliteDatabase(":memory:"))

    def peewee_binds(field: peewee.Field, value: Any) -> Any:
        bound = field.db_value(value)
        return bound.isoformat(sep=" ") if isinstance(bound, datetime) else bound

    instant = datetime(2026, 3, 2, 10, 0, 0, 250000, tzinfo=timezone(timedelta(hours=1)))
    values: list[tuple[peewee.Field, Any]] = [
        (m.Incident.accepted_at, None), (m.Incident.accepted_at, instant),
        (m.Incident.accepted_at, "2026-03-02 09:00:00"), (m.Incident.labels, None),
        (m.Incident.labels, {}), (m.Incident.links, [{"href": "https://x.example", "text": "é"}]),
        (m.Incident.accepted_by_id, None), (m.Incident.summary, "disk full"),
        (m.Notification.resent, True), (m.Notification.resent, None),
    ]
    for field, value in values:
        plan = statements._plan(("test", field.name), lambda field=field: [field])
        (bound,) = statements._params(plan, {field.name: value})
        assert bound == peewee_binds(field, value), (field.name, value, bound)
    assert statements._params(statements._plan(("test", "at"), lambda: [m.Incident.accepted_at]),
                              {"accepted_at": instant}) == ("2026-03-02 09:00:00.250000",)


def test_a_full_disk_logs_one_traceback_a_line_per_failed_write_and_its_end(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """SQLite's max_page_count makes the file full as a full disk does ("database or disk is
    full"); each failed write used to log a whole traceback."""
    path = tmp_path / "ilertd.db"
    db = open_database(f"sqlite:///{path}")
    migrate(db)
    source_id = m.AlertSource.create(name="src", integration_type="API", integration_key="k" * 32,
                                     created_at=START).id
    pages = db.execute_sql("PRAGMA page_count").fetchone()[0]
    db.close()
    # Every connection opened from now on (the writer's too) may grow the file by 8 pages only.
    monkeypatch.setitem(store_db.SQLITE_PRAGMAS, "max_page_count", pages + 8)
    db = open_database(f"sqlite:///{path}")
    statements = sql.Statements(db)
    caplog.set_level("WARNING", logger="ilertd.store.committer")
    committer = Committer(db, WorkTracker())
    committer.start()
    try:
        def write(owner: int, statement: sql.Statement) -> BaseException | None:
            outcome: list[BaseException | None] = []
            landed = threading.Event()
            committer.submit(WriteUnit(owner, (statement,), lambda e: (outcome.append(e), landed.set())))
            assert landed.wait(30)
            return outcome[0]

        outcomes = {i: write(i, statements.insert_incident_row(
            {**incident_row(i, source_id), "details": "x" * 20_000})) for i in range(1, 13)}
        full = [i for i, error in outcomes.items() if error is not None]
        assert len(full) >= 5 and all("full" in str(outcomes[i]) for i in full), outcomes
        failures = [r for r in caplog.records if r.getMessage().startswith("write for incident")]
        assert len(failures) == len(full)
        assert [r.exc_info is not None for r in failures] == [True] + [False] * (len(full) - 1)
        assert f"{len(full)} writes failed in a row" in failures[-1].getMessage()

        # A write that fits ends the run, in one line.
        caplog.clear()
        assert write(99, statements.log(log_row(1, "fits"))) is None
        assert [r.getMessage() for r in caplog.records] == [
            f"writes succeed again, after {len(full)} failed in a row"]
    finally:
        committer.stop()
        db.close()


def test_the_writer_folds_the_log_into_the_database_after_the_reply_not_in_the_commit(
        store: Any) -> None:
    """SQLite folds the write-ahead log in whichever COMMIT finds 1,000 pages of it: every 45th
    event or so waited 20-27 ms for its reply. The writer now folds it once its queue is empty,
    after the replies of its batch, however little the log holds."""
    db, statements, source_id = store
    # This thread's connection stays open (the fixture's): the writer's is not the last one,
    # whose closing would fold the log too.
    path = Path(db.database)
    size_before = path.stat().st_size
    size_at_reply: list[int] = []
    landed = threading.Event()

    def done(error: BaseException | None) -> None:
        size_at_reply.append(path.stat().st_size)
        landed.set()

    committer = Committer(db, WorkTracker())
    committer.start()
    try:
        row = {**incident_row(1, source_id), "details": "x" * 200_000}
        committer.submit(WriteUnit(1, (statements.insert_incident_row(row),), done))
        assert landed.wait(30)
        # About 50 pages of log, far below SQLite's 1,000: the file took them once the writer ran dry.
        deadline = time.monotonic() + 30
        while path.stat().st_size < size_before + 200_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.stat().st_size >= size_before + 200_000, "the log was never folded into the database"
        assert size_at_reply == [size_before]
    finally:
        committer.stop()
