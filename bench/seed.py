"""Rows written straight into a stopped daemon's store, through ilertd's own models and statements."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peewee import chunked, fn

if TYPE_CHECKING:
    from ilertd.store import models as m

# `ilertd` is imported where it is used, not here: `python -m bench --compare` imports this
# module's sections in a process that must not load any tree's `ilertd` (its workers each load
# the one of the side they measure).

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
    from ilertd.domain.incidents import Incident
    from ilertd.store import models as m
    from ilertd.store.db import open_database
    from ilertd.store.incidents import incident_row
    from ilertd.store.statements import Statements

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


# --- people, rules and policies for the paging section --------------------------------------------

SEED_CHUNK = 500


@dataclass(frozen=True)
class Pager:
    """One seeded user with one contact, one HIGH rule at delay 0, and a policy of their own."""

    user_id: int
    target: str
    policy_id: int
    # The alert source whose policy pages this user; empty when no source was seeded.
    integration_key: str = ""


def _next_id(model: type[m.BaseModel]) -> int:
    return int(model.select(fn.MAX(model.id)).scalar() or 0) + 1


def _insert(model: type[m.BaseModel], rows: Sequence[dict[str, Any]]) -> None:
    # Chunks keep each statement under SQLite's limit on bound parameters.
    for chunk in chunked(rows, SEED_CHUNK):
        model.insert_many(chunk).execute()


def seed_pagers(data_dir: Path, label: str, method: str, targets: Sequence[str], levels: int,
                timeout_min: int, sources: bool) -> list[Pager]:
    """Per target: a user, their contact, a HIGH_PRIORITY rule at delay 0 on it, and a policy
    of `levels` levels each paging only that user; with `sources`, an alert source per policy.

    Every page of a measurement then goes to a contact of its own, so the per-contact throttle
    (one SMS a minute, one e-mail per 10 s) never holds one back.
    """
    from ilertd.store import models as m
    from ilertd.store.db import open_database

    db = open_database(f"sqlite:///{data_dir / DB_NAME}")
    try:
        now = datetime.now(UTC)
        with db.atomic():
            user0, contact0, rule0 = _next_id(m.User), _next_id(m.Contact), _next_id(m.AlertRule)
            policy0, source0 = _next_id(m.EscalationPolicy), _next_id(m.AlertSource)
            pagers = [
                Pager(user0 + i, target, policy0 + i, secrets.token_hex(16) if sources else "")
                for i, target in enumerate(targets)
            ]
            _insert(m.User, [{"id": p.user_id, "username": f"{label}-{i}", "email": "", "created_at": now}
                             for i, p in enumerate(pagers)])
            _insert(m.Contact, [{"id": contact0 + i, "user": p.user_id, "method": method, "target": p.target}
                                for i, p in enumerate(pagers)])
            _insert(m.AlertRule, [{"id": rule0 + i, "user": p.user_id, "method": method,
                                   "contact": contact0 + i, "delay_min": 0, "type": "HIGH_PRIORITY"}
                                  for i, p in enumerate(pagers)])
            _insert(m.EscalationPolicy, [{
                "id": p.policy_id, "name": f"{label}-{i}", "repeating": False, "frequency": 0,
                "rules": [{"escalationTimeout": timeout_min, "users": [{"id": p.user_id}], "schedules": []}
                          for _ in range(levels)],
            } for i, p in enumerate(pagers)])
            if sources:
                _insert(m.AlertSource, [{
                    "id": source0 + i, "name": f"{label}-{i}", "integration_type": "API",
                    "integration_key": p.integration_key, "escalation_policy": p.policy_id,
                    "priority": "HIGH", "created_at": now,
                } for i, p in enumerate(pagers)])
        return pagers
    finally:
        db.close()


def seed_escalating(data_dir: Path, pagers: Sequence[Pager], deadline: datetime) -> None:
    """An open PENDING HIGH incident per pager (ids 1..N), at level 0 of the pager's policy,
    whose escalation to level 1 is due at `deadline`. No level-0 pages exist: they were sent."""
    from ilertd.domain.incidents import Incident
    from ilertd.store import models as m
    from ilertd.store.db import open_database
    from ilertd.store.incidents import incident_row
    from ilertd.store.statements import Statements

    db = open_database(f"sqlite:///{data_dir / DB_NAME}")
    try:
        statements = Statements(db)
        source_id = m.AlertSource.get(m.AlertSource.name == "default").id
        reported = deadline - timedelta(minutes=1)
        params = [
            statements.insert_incident_row(incident_row(Incident(
                id=i, alert_source_id=source_id, alert_key=f"escalating-{i}", summary="seeded",
                status="PENDING", priority="HIGH", report_time=reported,
                escalation_policy_id=pager.policy_id, escalation_level=0, next_escalation_at=deadline,
            ))).params
            for i, pager in enumerate(pagers, start=1)
        ]
        with db.atomic():
            db.cursor().executemany(statements.insert_incident, params)
    finally:
        db.close()


def move_deadlines(data_dir: Path, deadline: datetime) -> None:
    """Every pending deadline set to `deadline`: done last, just before the start, so it lies a
    known time ahead of the daemon's start however long the seeding took."""
    from ilertd.store import models as m
    from ilertd.store.db import open_database

    db = open_database(f"sqlite:///{data_dir / DB_NAME}")
    try:
        with db.atomic():
            (m.Incident.update(next_escalation_at=deadline)
             .where(m.Incident.next_escalation_at.is_null(False)).execute())
    finally:
        db.close()
