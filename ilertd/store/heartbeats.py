"""Heartbeat monitors as the API and the heartbeat actor read them."""

from __future__ import annotations

from ilertd.store import models as m

# The integration a monitor's ALERT and RESOLVE bear: the incidents a ping may resolve are those
# an event of it reached, not a tool's own alert that happens to use the key `heartbeat-<id>`.
HEARTBEAT_INTEGRATION = "heartbeat"


def monitor(monitor_id: int) -> m.HeartbeatMonitor | None:
    return m.HeartbeatMonitor.get_or_none(m.HeartbeatMonitor.id == monitor_id)


def monitor_by_key(integration_key: str) -> m.HeartbeatMonitor | None:
    return m.HeartbeatMonitor.get_or_none(m.HeartbeatMonitor.integration_key == integration_key)


def monitors_page(start: int, size: int) -> list[m.HeartbeatMonitor]:
    query = m.HeartbeatMonitor.select().order_by(m.HeartbeatMonitor.id)
    return list(query.offset(start).limit(size))


def pinged_monitors() -> list[m.HeartbeatMonitor]:
    """Monitors whose timer runs: pinged at least once and not yet overdue."""
    return list(m.HeartbeatMonitor.select().where(m.HeartbeatMonitor.status == "OK"))


def monitor_names_on(source_id: int) -> list[str]:
    """The names of the heartbeat monitors whose silence opens an incident on this source."""
    return [name for (name,) in m.HeartbeatMonitor.select(m.HeartbeatMonitor.name)
            .where(m.HeartbeatMonitor.alert_source == source_id).order_by(m.HeartbeatMonitor.id).tuples()]
