"""The heartbeat actor: one timer per pinged monitor; silence opens an incident, a ping resolves it.

Monitors are few and each holds one timer, so one actor owns them all. Its state is the store's:
on start it arms a timer for every monitor waiting for its next ping (a deadline that passed while
the daemon was down fires at once); a ping, an edit or a deletion makes it read the monitor again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pykka

from ilertd.actors.base import TrackedActor, send
from ilertd.actors.messages import IngestEvent, Outcome, Ping
from ilertd.actors.runtime import Runtime
from ilertd.app.heartbeats import Heartbeats, heartbeat_alert_key
from ilertd.domain.events import MAX_SUMMARY, Event
from ilertd.domain.timeutil import format_instant
from ilertd.store import models as m
from ilertd.store.heartbeats import monitor, pinged_monitors
from ilertd.store.sources import SourceCache, source

logger = logging.getLogger(__name__)

INTEGRATION = "heartbeat"


@dataclass(frozen=True)
class HeartbeatChanged:
    monitor_id: int
    # Pinged after it had fallen overdue: its incident resolves.
    recovered: bool = False


@dataclass(frozen=True)
class HeartbeatDue:
    monitor_id: int


def timer_key(monitor_id: int) -> tuple[str, int]:
    return ("heartbeat", monitor_id)


class HeartbeatActor(TrackedActor):
    def __init__(self, runtime: Runtime, supervisor: pykka.ActorRef[Any], heartbeats: Heartbeats,
                 sources: SourceCache) -> None:
        super().__init__(runtime.tracker)
        self.runtime = runtime
        self.supervisor = supervisor
        self.heartbeats = heartbeats
        self.sources = sources

    def on_start(self) -> None:
        for row in pinged_monitors():
            self._arm(row)

    def on_stop(self) -> None:
        self.runtime.db.close()

    def handle(self, message: Any) -> Any:
        match message:
            case HeartbeatChanged(monitor_id=monitor_id, recovered=recovered):
                self._changed(monitor_id, recovered)
            case HeartbeatDue(monitor_id=monitor_id):
                self._due(monitor_id)
            case Ping():
                return True
            case _:
                return super().handle(message)
        return None

    def _arm(self, row: m.HeartbeatMonitor) -> None:
        ref, tracker, monitor_id = self.actor_ref, self.tracker, row.id

        def fire(_when: datetime) -> None:
            try:
                send(ref, HeartbeatDue(monitor_id), tracker)
            except pykka.ActorDeadError:
                logger.debug("heartbeat %s fell due while stopping; armed again at start", monitor_id)

        due = row.last_ping_at + timedelta(seconds=row.interval_sec)
        self.runtime.clock.arm(timer_key(row.id), due, fire)

    def _changed(self, monitor_id: int, recovered: bool) -> None:
        row = monitor(monitor_id)
        if row is None or row.status != "OK":
            self.runtime.clock.disarm(timer_key(monitor_id))
        else:
            self._arm(row)
        if recovered and row is not None:
            self._ingest(row, Event(event_type="RESOLVE", alert_key=heartbeat_alert_key(row.id)))

    def _due(self, monitor_id: int) -> None:
        row = monitor(monitor_id)
        if row is None or row.status != "OK":
            return
        overdue = self.heartbeats.mark_overdue(monitor_id, row.last_ping_at)
        if overdue is None:
            if row.last_ping_at + timedelta(seconds=row.interval_sec) > self.runtime.clock.now():
                self._arm(row)
            return
        last_seen = format_instant(overdue.last_ping_at)
        summary = f"Heartbeat monitor {overdue.name!r} is overdue: last seen {last_seen}"
        details = (f"No ping within {overdue.interval_sec} s (the monitor's interval). The next ping"
                   " resolves this incident.")
        about = {"heartbeatMonitor": {"id": overdue.id, "name": overdue.name}, "lastPingAt": last_seen}
        self._ingest(overdue, Event(event_type="ALERT", alert_key=heartbeat_alert_key(overdue.id),
                                    summary=summary[:MAX_SUMMARY], details=details, custom_details=about))

    def _ingest(self, row: m.HeartbeatMonitor, event: Event) -> None:
        source_row = source(row.alert_source_id)
        info = self.sources.get(source_row.integration_key) if source_row is not None else None
        if info is None:
            logger.error("heartbeat monitor %s: its alert source is gone; nothing opened", row.id)
            return

        def reply(outcome: Outcome) -> None:
            if outcome.error is not None and outcome.error.code != "NO_OPEN_INCIDENT_WITH_KEY":
                logger.error("heartbeat monitor %s: %s refused: %s", row.id, event.event_type, outcome.error)

        payload = {"heartbeatMonitor": row.id, "eventType": event.event_type}
        send(self.supervisor, IngestEvent(info, event, INTEGRATION, payload, reply,
                                          received_at=self.runtime.clock.now()), self.tracker)
