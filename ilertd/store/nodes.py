"""The node table: each serving daemon's row (role, last seen), written by it and read by `ilertd status`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ilertd.store import models as m

LEADER, FOLLOWER = "leader", "follower"
# The lock's session names itself so (its application_name): other nodes and `ilertd status` find
# which node holds the lock from PostgreSQL itself, whatever the node rows say.
LOCK_SESSION_PREFIX = "ilertd lock "
# What a leader's row becomes when another node took the lock: it stopped leading, maybe by dying.
LOST = "lost"


@dataclass(frozen=True)
class LockHolder:
    """The session holding an advisory lock: its backend's pid, and the node it names (if any)."""
    pid: int
    node: str


@dataclass(frozen=True)
class NodeRow:
    name: str
    role: str
    started_at: datetime
    last_seen: datetime


def upsert_node(name: str, role: str, started_at: datetime, now: datetime) -> None:
    m.Node.insert(name=name, role=role, started_at=started_at, last_seen=now).on_conflict(
        conflict_target=[m.Node.name],
        update={m.Node.role: role, m.Node.started_at: started_at, m.Node.last_seen: now},
    ).execute()


def took_the_lead(name: str) -> None:
    """Every other row still saying leader is stale: only the lock's holder leads."""
    m.Node.update(role=LOST).where((m.Node.role == LEADER) & (m.Node.name != name)).execute()


def remove_node(name: str) -> None:
    m.Node.delete().where(m.Node.name == name).execute()


def nodes_seen(now: datetime, within: timedelta) -> list[NodeRow]:
    """The nodes that said they were up within `within` of `now`, leader first, then by name."""
    rows = m.Node.select().where(m.Node.last_seen >= now - within)
    nodes = [NodeRow(r.name, r.role, r.started_at, r.last_seen) for r in rows]
    return sorted(nodes, key=lambda n: (n.role != LEADER, n.name))


def node_row(name: str) -> NodeRow | None:
    row = m.Node.get_or_none(m.Node.name == name)
    return None if row is None else NodeRow(row.name, row.role, row.started_at, row.last_seen)


def lock_holder(lock_id: int) -> LockHolder | None:
    """Who holds advisory lock `lock_id` on this database; None when nobody does (or on SQLite,
    which has no such lock)."""
    db = m.Node._meta.database
    if not db.for_update:  # SQLite
        return None
    cursor = db.execute_sql(
        "SELECT l.pid, coalesce(a.application_name, '') FROM pg_locks l"
        " LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.objid = %s AND l.granted"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (lock_id,))
    found = cursor.fetchone()
    if found is None:
        return None
    pid, application = found
    return LockHolder(int(pid), application.removeprefix(LOCK_SESSION_PREFIX)
                      if application.startswith(LOCK_SESSION_PREFIX) else "")


def end_session(pid: int) -> bool:
    """End PostgreSQL backend `pid`'s session (its locks are freed as it exits); False if it was gone."""
    cursor = m.Node._meta.database.execute_sql("SELECT pg_terminate_backend(%s)", (pid,))
    return bool(cursor.fetchone()[0])
