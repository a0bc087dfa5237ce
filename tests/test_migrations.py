"""The numbered migrations build exactly the schema the models describe."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import peewee
import pytest
from playhouse.migrations import Runner

from ilertd.store import models as m
from ilertd.store.db import MIGRATIONS_DIR, migrate, open_database


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


def test_migrations_build_the_schema_of_the_models(tmp_path: Path) -> None:
    migrated = open_database(f"sqlite:///{tmp_path / 'migrated.sqlite3'}")
    migrate(migrated)
    modelled = open_database(f"sqlite:///{tmp_path / 'modelled.sqlite3'}")
    with modelled.bind_ctx(m.ALL_MODELS):
        modelled.create_tables(m.ALL_MODELS)
    built = schema(migrated)
    expected = schema(modelled)
    # Indexes added by a migration in raw SQL, which the models do not declare: the outbox's
    # per-contact index and the partial unique index of open incidents per (source, key).
    built["notification"]["indexes"].remove((False, ("method", "target", "status", "due_at")))
    built["incident"]["indexes"].remove((True, ("alert_source_id", "alert_key_identity")))
    assert set(built) == set(expected)
    for table in expected:
        assert built[table] == expected[table], table


def test_shift_reminders_move_into_the_one_outbox(tmp_path: Path) -> None:
    """A store from before migration 5: its pending and sent reminders become outbox rows."""
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("000[1-4]_*.py")):
        shutil.copy(path, earlier / path.name)
    db = open_database(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    list(Runner(db, str(earlier)).up())
    db.execute_sql("INSERT INTO alert_source (id, name, integration_type, integration_key, priority,"
                   " created_at) VALUES (1, 's', 'API', 'k', 'HIGH', '2026-01-01 00:00:00')")
    db.execute_sql("INSERT INTO incident (id, alert_source_id, alert_key, alert_key_identity, summary,"
                   " details, status, priority, escalation_level, escalation_pass, report_time, images,"
                   " links, labels, custom_details, event_count) VALUES (1, 1, 'a', 'a', 's', '', 'PENDING',"
                   " 'HIGH', 0, 0, '2026-01-01 00:00:00', '[]', '[]', '{}', '{}', 1)")
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
