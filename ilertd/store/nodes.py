"""The node table: each serving daemon's row (role, last seen), written by it and read by `ilertd status`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ilertd.store import models as m

LEADER, FOLLOWER = "leader", "follower"
# What a leader's row becomes when another node took the lock: it stopped leading, maybe by dying.
LOST = "lost"


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
