"""What `ilertd status` says of the lead: the node rows and who holds the lock, in words."""

from __future__ import annotations

from datetime import datetime

from ilertd.leadership import BEAT_SECONDS, LEASE_SECONDS
from ilertd.store.nodes import LEADER, LockHolder, NodeRow

# A leader silent for longer than five beats is not acting: stopped, hung or cut off.
STALLED_AFTER_SECONDS = 5 * BEAT_SECONDS


def leader_line(nodes: list[NodeRow], holder: LockHolder | None, holder_row: NodeRow | None,
                now: datetime) -> tuple[str, bool]:
    """The `leader:` line, and whether a node leads and acts. `holder` is the lock's session
    (PostgreSQL; None on SQLite or when nobody holds it), `holder_row` its node's row."""
    if holder is None:
        leaders = [node.name for node in nodes if node.role == LEADER]
        if leaders:
            return f"leader: {leaders[0]}", True
        return "leader: none (no node holds the lock: a follower takes it within seconds)", False
    name = holder.node or f"a session (backend pid {holder.pid}) naming no node"
    if holder_row is None:
        return (f"leader: none acting: {name} holds the lock but has no node row; a follower takes"
                " over only once its session ends"), False
    silent = max((now - holder_row.last_seen).total_seconds(), 0.0)
    if silent > STALLED_AFTER_SECONDS:
        return (f"leader: none acting: {name} holds the lock but has not been seen for {silent:.0f} s"
                f" (stalled); a follower ends its session once it has been silent for"
                f" {LEASE_SECONDS:.0f} s"), False
    return f"leader: {name}", True
