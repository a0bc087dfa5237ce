"""The numbered migrations build exactly the schema the models describe."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import peewee
import pytest
from playhouse.migrations import Runner

from ilertd.store import models as m
from ilertd.store.db import MIGRATIONS_DIR, migrate, open_database
from ilertd.store.incidents import WAITING_SQL
from ilertd.store.retention import resolved_before_query
from ilertd.store.statements import Statements


def schema(db: peewee.Database) -> dict[str, Any]:
    tables = [name for (name,) in db.execute_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name != 'schema_migration'")]
    result: dict[str, Any] = {}
    for table in sorted(tables):
        columns = sorted(
            (name, kind.upper(), bool(notnull), bool(pk))
            for _, name, kind, notnull, _, pk in db.execute_sql(f'PRAGMA table_info("{table}")')
        )
        indexes = sorted(
            (bool(unique), tuple(col for _, _, col in db.execute_sql(f'PRAGMA index_info("{name}")')))
            for _, name, unique, *_ in db.execute_sql(f'PRAGMA index_list("{table}")')
        )
        keys = sorted((ref, frm, to, on_delete) for _, _, ref, frm, to, _, on_delete, _
                      in db.execute_sql(f'PRAGMA foreign_key_list("{table}")'))
        result[table] = {"columns": columns, "indexes": indexes, "foreign_keys": keys}
    return result


def store_before(tmp_path: Path, migration: str, url: str | None = None) -> peewee.Database:
    """A store migrated up to (not including) `migration`, such as "0005": a SQLite file, or the
    store of `url`."""
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("00*.py")):
        if path.name < migration:
            shutil.copy(path, earlier / path.name)
    db = open_database(url or f"sqlite:///{tmp_path / 'old.sqlite3'}")
    list(Runner(db, str(earlier)).up())
    db.execute_sql("INSERT INTO alert_source (id, name, integration_type, integration_key, priority,"
                   " created_at) VALUES (1, 's', 'API', 'k', 'HIGH', '2026-01-01 00:00:00')")
    return db


def one_incident(db: peewee.Database) -> None:
    db.execute_sql("INSERT INTO incident (id, alert_source_id, alert_key, alert_key_identity, summary,"
                   " details, status, priority, escalation_level, escalation_pass, report_time, images,"
                   " links, labels, custom_details, event_count) VALUES (1, 1, 'a', 'a', 's', '', 'PENDING',"
                   " 'HIGH', 0, 0, '2026-01-01 00:00:00', '[]', '[]', '{}', '{}', 1)")


def test_migrations_build_the_schema_of_the_models(tmp_path: Path) -> None:
    migrated = open_database(f"sqlite:///{tmp_path / 'migrated.sqlite3'}")
    migrate(migrated)
    modelled = open_database(f"sqlite:///{tmp_path / 'modelled.sqlite3'}")
    with modelled.bind_ctx(m.ALL_MODELS):
        modelled.create_tables(m.ALL_MODELS)
    built = schema(migrated)
    expected = schema(modelled)
    # Indexes added by a migration in raw SQL, which the models do not declare: the outbox's
    # per-contact index, the partial unique index of open incidents per (source, key), the
    # partial index of the incidents waiting for someone and that of the resolved ones by time.
    built["notification"]["indexes"].remove((False, ("method", "target", "status", "due_at")))
    built["incident"]["indexes"].remove((True, ("alert_source_id", "alert_key_identity")))
    built["incident"]["indexes"].remove((False, ("status",)))
    built["incident"]["indexes"].remove((False, ("resolved_at",)))
    assert set(built) == set(expected)
    for table in expected:
        assert built[table] == expected[table], table


def test_shift_reminders_move_into_the_one_outbox(tmp_path: Path) -> None:
    """A store from before migration 5: its pending and sent reminders become outbox rows."""
    db = store_before(tmp_path, "0005")
    one_incident(db)
    db.execute_sql("INSERT INTO notification (id, incident_id, user_id, kind, method, target, due_at,"
                   " status, attempts, created_at) VALUES (7, 1, 1, 'ALERT', 'SMS', '+491', "
                   " '2026-01-01 00:00:00', 'SUCCESS', 1, '2026-01-01 00:00:00')")
    db.execute_sql("INSERT INTO shift_reminder (id, schedule_id, user_id, rule_id, shift_start, shift_end,"
                   " method, target, due_at, status, attempts) VALUES (1, 3, 2, 5, '2026-01-06 09:00:00',"
                   " '2026-01-07 09:00:00', 'EMAIL', 'ben@example.com', '2026-01-06 08:00:00',"
                   " 'SCHEDULED', 0)")
    applied = migrate(db)
    assert applied[0] == "0005_one_outbox"
    rows = db.execute_sql("SELECT id, incident_id, kind, schedule_id, rule_id, status, target"
                          " FROM notification ORDER BY id").fetchall()
    assert rows == [(7, 1, "ALERT", None, None, "SUCCESS", "+491"),
                    (8, None, "SHIFT_REMINDER", 3, 5, "SCHEDULED", "ben@example.com")]
    with pytest.raises(peewee.IntegrityError):
        # The same reminder again: refused, so it is never sent twice.
        db.execute_sql("INSERT INTO notification (id, user_id, kind, method, target, due_at, status,"
                       " attempts, created_at, schedule_id, rule_id, shift_start) VALUES (9, 2,"
                       " 'SHIFT_REMINDER', 'EMAIL', 'x', '2026-01-06 08:00:00', 'SCHEDULED', 0,"
                       " '2026-01-06 08:00:00', 3, 5, '2026-01-06 09:00:00')")
    assert "shift_reminder" not in schema(db)
    db.close()


def test_incidents_an_older_version_left_paging_nobody_for_good_wait_for_someone(tmp_path: Path) -> None:
    """A store from before migration 13: the PENDING incident with a policy, no deadline and no
    page ever planned gets the wait (due at once, so the next start looks for someone); the
    others are left as they were."""
    db = store_before(tmp_path, "0013")
    incidents = [  # (id, status, policy, level, next escalation, paged)
        (1, "PENDING", 1, 0, None, False),  # nobody reachable anywhere: left for good
        (2, "PENDING", 1, 1, "2026-01-01 09:10:00", True),  # escalating
        (3, "PENDING", 1, 1, None, True),  # paged, then its last level ran out
        (4, "ACCEPTED", 1, 0, None, False),
        (5, "PENDING", None, 0, None, False),  # no policy: nobody to wait for
        (6, "PENDING", 1, -1, "2026-01-01 11:00:00", False),  # held by a maintenance window
    ]
    for incident_id, status, policy, level, due, paged in incidents:
        db.execute_sql(
            "INSERT INTO incident (id, alert_source_id, alert_key, alert_key_identity, summary, details,"
            " status, priority, escalation_policy_id, escalation_level, escalation_pass, next_escalation_at,"
            " report_time, images, links, labels, custom_details, event_count) VALUES (?, 1, ?, ?, 's', '',"
            " ?, 'HIGH', ?, ?, 0, ?, '2026-01-01 09:00:00', '[]', '[]', '{}', '{}', 1)",
            (incident_id, f"k{incident_id}", f"k{incident_id}", status, policy, level, due))
        if paged:
            db.execute_sql("INSERT INTO notification (incident_id, user_id, kind, method, target, due_at,"
                           " status, attempts, created_at) VALUES (?, 1, 'ALERT', 'SMS', '+491',"
                           " '2026-01-01 09:00:00', 'SUCCESS', 1, '2026-01-01 09:00:00')", (incident_id,))
    assert migrate(db)[0] == "0013_waiting_incidents"
    rows = db.execute_sql("SELECT id, escalation_level, next_escalation_at FROM incident"
                          " ORDER BY id").fetchall()
    assert [(i, level, str(due)[:19] if due else None) for i, level, due in rows] == [
        (1, -2, "2026-01-01 09:00:00"),
        (2, 1, "2026-01-01 09:10:00"),
        (3, 1, None),
        (4, 0, None),
        (5, 0, None),
        (6, -1, "2026-01-01 11:00:00"),
    ]


def test_the_incidents_waiting_for_someone_are_read_by_their_index(db: peewee.Database) -> None:
    """The supervisor reads them after every write that may make someone reachable, while it
    routes no event: by the partial index, not by every PENDING incident."""
    plan = " ".join(str(row) for row in db.execute_sql("EXPLAIN QUERY PLAN " + WAITING_SQL))
    assert "incident_waiting" in plan, plan


def test_retention_reads_the_incidents_past_keeping_by_their_index(db: peewee.Database) -> None:
    """Hourly, beside the daemon's writes: by `incident_resolved_at`, not by every resolved
    incident (140 ms with 300,000 of them kept, 0.04 ms by the index)."""
    sql, params = resolved_before_query(datetime(2026, 1, 1, tzinfo=UTC), 200).sql()
    plan = " ".join(str(row) for row in db.execute_sql("EXPLAIN QUERY PLAN " + sql, params))
    assert "incident_resolved_at" in plan, plan


def test_pages_unsent_at_the_upgrade_to_an_account_address_no_contact_has_are_the_fallback(
        tmp_path: Path) -> None:
    """A store from before migration 17: which of its unsent pages went to the account e-mail for
    want of a rule is read from the addresses (a contact's page goes to the contact's)."""
    db = store_before(tmp_path, "0017")
    one_incident(db)
    for user_id, email in ((1, "ann@example.com"), (2, "bo@example.com")):
        db.execute_sql('INSERT INTO "user" (id, username, first_name, last_name, email, timezone, role,'
                       " created_at) VALUES (?, ?, '', '', ?, 'UTC', 'USER', '2026-01-01 00:00:00')",
                       (user_id, email.split("@")[0], email))
    db.execute_sql("INSERT INTO contact (user_id, method, target) VALUES (2, 'EMAIL', 'bo@example.com')")
    pages = [  # (id, user, target, status)
        (1, 1, "ann@example.com", "SCHEDULED"),  # no contact of that address: the fallback
        (2, 1, "ann@example.com", "SUCCESS"),  # sent: left as it was
        (3, 2, "bo@example.com", "SCHEDULED"),  # bo's contact has that address
        (4, 1, "ann.pager@example.com", "SCHEDULED"),
    ]
    for notification_id, user_id, target, status in pages:
        db.execute_sql("INSERT INTO notification (id, incident_id, user_id, kind, method, target, due_at,"
                       " status, attempts, created_at) VALUES (?, 1, ?, 'ALERT', 'EMAIL', ?,"
                       " '2026-01-01 09:00:00', ?, 0, '2026-01-01 09:00:00')",
                       (notification_id, user_id, target, status))
    assert migrate(db)[0] == "0017_fallback_pages"
    rows = db.execute_sql("SELECT id, fallback FROM notification ORDER BY id").fetchall()
    assert rows == [(1, 1), (2, 0), (3, 0), (4, 0)]
    db.close()


def test_pages_sent_before_the_upgrade_are_ordered_as_stamped_and_the_next_one_follows(
        tmp_path: Path) -> None:
    """A store from before migration 23: its sent rows get their place in the order of sending
    (by their stamps, the best there is); the next row stored as sent comes after them all, even
    when the wall clock stamps it earlier (stepped back)."""
    db = store_before(tmp_path, "0023")
    one_incident(db)
    pages = [  # (id, sent_at)
        (1, "2026-01-01 09:05:00"),
        (2, None),  # not sent
        (3, "2026-01-01 09:00:00"),
        (4, "2026-01-01 09:05:00"),
    ]
    for notification_id, sent_at in pages:
        db.execute_sql("INSERT INTO notification (id, incident_id, user_id, kind, method, target, due_at,"
                       " sent_at, status, attempts, created_at) VALUES (?, 1, 1, 'ALERT', 'SMS', '+491',"
                       " '2026-01-01 09:00:00', ?, ?, 1, '2026-01-01 09:00:00')",
                       (notification_id, sent_at, "SUCCESS" if sent_at else "SCHEDULED"))
    assert migrate(db)[0] == "0023_sent_order"
    rows = db.execute_sql("SELECT id, sent_seq FROM notification ORDER BY id").fetchall()
    assert rows == [(1, 2), (2, None), (3, 1), (4, 3)]
    sent = Statements(db).update_notification(2, {"status": "SUCCESS", "sent_at": datetime(
        2026, 1, 1, 8, 0, tzinfo=UTC), "attempts": 1})
    db.execute_sql(sent.sql, sent.params)
    assert db.execute_sql("SELECT sent_seq FROM notification WHERE id = 2").fetchone() == (4,)
    db.close()


def test_a_page_is_numbered_as_it_is_handed_out_and_keeps_its_number_once_sent(db: peewee.Database) -> None:
    """A call's "5" comes while the call is still being placed, or after its outcome is stored: both
    answer the same page, so its place in the order messages were sent is taken once, as it is
    handed to its provider; handed out again (a retry), it takes the next place."""
    db.execute_sql("INSERT INTO alert_source (id, name, integration_type, integration_key, priority,"
                   " created_at) VALUES (1, 's', 'API', 'k', 'HIGH', '2026-01-01 00:00:00')")
    one_incident(db)
    for notification_id in (1, 2):
        db.execute_sql("INSERT INTO notification (id, incident_id, user_id, kind, method, target, due_at,"
                       " status, attempts, created_at) VALUES (?, 1, 1, 'ALERT', 'VOICE', '+491',"
                       " '2026-01-01 09:00:00', 'SCHEDULED', 0, '2026-01-01 09:00:00')", (notification_id,))
    statements = Statements(db)
    at = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)

    def write(notification_id: int, changes: dict[str, Any]) -> int:
        statement = statements.update_notification(notification_id, changes)
        db.execute_sql(statement.sql, statement.params)
        return int(db.execute_sql("SELECT sent_seq FROM notification WHERE id = ?", (notification_id,))
                   .fetchone()[0])

    assert write(1, {"sending_since": at}) == 1
    assert write(2, {"sending_since": at}) == 2
    assert write(1, {"status": "SUCCESS", "sent_at": at, "sending_since": None, "attempts": 1}) == 1
    assert write(2, {"sending_since": None, "attempts": 1, "due_at": at}) == 2
    assert write(2, {"sending_since": at}) == 3
