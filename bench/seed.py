"""Open incidents written straight into a stopped daemon's store, through ilertd's own write path."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ilertd.domain.incidents import Incident
from ilertd.store import models as m
from ilertd.store.db import open_database
from ilertd.store.incidents import incident_row
from ilertd.store.statements import Statements

DB_NAME = "ilertd.db"


def copy_store(source_dir: Path, target_dir: Path) -> None:
    """A consistent copy of a stopped daemon's database (WAL included) and its first-run secrets."""
    target_dir.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(source_dir / DB_NAME)
    target = sqlite3.connect(target_dir / DB_NAME)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    (target_dir / "first-run.txt").write_bytes((source_dir / "first-run.txt").read_bytes())


def seed_incidents(data_dir: Path, count: int) -> None:
    """`count` open PENDING incidents with keys seed-1..seed-N (ids 1..N); half have a deadline."""
    db = open_database(f"sqlite:///{data_dir / DB_NAME}")
    try:
        statements = Statements(db)
        source_id = m.AlertSource.get(m.AlertSource.name == "default").id
        now = datetime.now(UTC)
        # A day ahead: the deadlines are armed at start but none fires while it is measured.
        later = now + timedelta(days=1)
        params = [
            statements.insert_incident_row(incident_row(Incident(
                id=i, alert_source_id=source_id, alert_key=f"seed-{i}", summary="seeded",
                status="PENDING", priority="HIGH", report_time=now, escalation_policy_id=None,
                next_escalation_at=later if i % 2 else None,
            ))).params
            for i in range(1, count + 1)
        ]
        with db.atomic():
            db.cursor().executemany(statements.insert_incident, params)
    finally:
        db.close()
