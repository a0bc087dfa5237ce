"""The heartbeat actor: one timer per pinged monitor; silence opens an incident, a ping resolves it.

Monitors are few and each holds one timer, so one actor owns them all. Its state is the store's:
on start it arms a timer for every monitor waiting for its next ping (a deadline that passed while
the daemon was down fires at once); a ping, an edit or a deletion makes it read the monitor again.
A silent monitor is marked OVERDUE only once its incident's event is stored: a crash or a store that
refused the event leaves it waiting, and it is tried again (at start, or RETRY_AFTER later). A
monitor alive again resolves its incident wherever it is open (its source may have changed since);
a RESOLVE the store refused is tried again RETRY_AFTER later, and at start every monitor alive with
an incident still open resolves it. A ping that resolves waits for its RESOLVEs: answered 202 only
once they are committed, or with the store's refusal (the monitor sends it again).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pykka

from ilertd.actors.base import TrackedActor, send, send_if_alive
from ilertd.actors.messages import IngestEvent, Outcome, Ping, Reply
from ilertd.actors.runtime import Runtime
from ilertd.app.heartbeats import Heartbeats, heartbeat_alert_key
from ilertd.domain.events import MAX_SUMMARY, Event
from ilertd.domain.timeutil import format_instant
from ilertd.domain.wording import quoted
from ilertd.errors import ApiError
from ilertd.store import models as m
from ilertd.store.committer import WRITE_RETRY
from ilertd.store.heartbeats import HEARTBEAT_INTEGRATION, monitor, pinged_monitors
from ilertd.store.incidents import open_incidents_of_keys
from ilertd.store.sources import SourceCache, source

logger = logging.getLogger(__name__)

INTEGRATION = HEARTBEAT_INTEGRATION


@dataclass(frozen=True)
class HeartbeatChanged:
    monitor_id: int
    # Pinged while its incident is open: the incident resolves.
    recovered: bool = False
    # Told once every RESOLVE of a recovery is committed (an empty Outcome) or one was refused.
    reply: Reply | None = field(default=None, compare=False)


@dataclass(frozen=True)
class HeartbeatDue:
    monitor_id: int


@dataclass(frozen=True)
class HeartbeatAlive:
    """The monitor was pinged after its ALERT: its incident resolves, if it is alive still."""

    monitor_id: int


@dataclass(frozen=True)
class HeartbeatAlerted:
    """The overdue monitor's ALERT is stored: it may be marked OVERDUE."""

    monitor_id: int
    last_ping_at: datetime


# How soon an overdue monitor whose ALERT (or marking) the store refused is tried again.
RETRY_AFTER = WRITE_RETRY


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
        alive = pinged_monitors()
        for row in alive:
            self._arm(row)
        self._resolve_open(alive)

    def on_stop(self) -> None:
        self.runtime.db.close()

    def handle(self, message: Any) -> Any:
        match message:
            case HeartbeatChanged(monitor_id=monitor_id, recovered=recovered, reply=reply):
                self._changed(monitor_id, recovered, reply)
            case HeartbeatDue(monitor_id=monitor_id):
                self._due(monitor_id)
            case HeartbeatAlerted(monitor_id=monitor_id, last_ping_at=last_ping_at):
                self._alerted(monitor_id, last_ping_at)
            case HeartbeatAlive(monitor_id=monitor_id):
                self._resolve_open([monitor(monitor_id)])
            case Ping():
                return True
            case _:
                return super().handle(message)
        return None

    def _arm(self, row: m.HeartbeatMonitor) -> None:
        self._arm_at(row.id, row.last_ping_at + timedelta(seconds=row.interval_sec))

    def _arm_at(self, monitor_id: int, due: datetime) -> None:
        ref, tracker, message = self.actor_ref, self.tracker, HeartbeatDue(monitor_id)
        # Due while the daemon stops: armed again at the next start.
        self.runtime.clock.arm(timer_key(monitor_id), due, lambda _when: send_if_alive(ref, message, tracker))

    def _retry(self, monitor_id: int) -> None:
        """Due again RETRY_AFTER from now (the clock is safe to arm from the writer's thread)."""
        logger.info("heartbeat monitor %s: tried again in %.0f s", monitor_id, RETRY_AFTER.total_seconds())
        self._arm_at(monitor_id, self.runtime.clock.now() + RETRY_AFTER)

    def _retry_resolve(self, monitor_id: int) -> None:
        logger.info("heartbeat monitor %s: its RESOLVE tried again in %.0f s", monitor_id,
                    RETRY_AFTER.total_seconds())
        ref, tracker, again = self.actor_ref, self.tracker, HeartbeatAlive(monitor_id)
        self.runtime.clock.arm(("heartbeat-resolve", monitor_id), self.runtime.clock.now() + RETRY_AFTER,
                               lambda _when: send_if_alive(ref, again, tracker))

    def _resolve_open(self, rows: Iterable[m.HeartbeatMonitor | None], reply: Reply | None = None) -> None:
        """A RESOLVE to each open incident of those monitors alive now (pinged within their
        interval): on the source it is open on, which is not the monitor's own when its source was
        changed while it was overdue. One silent now keeps its incident: its ALERT joins it.
        `reply` is told once all of them are committed, or the first refusal."""
        now = self.runtime.clock.now()
        keys = {heartbeat_alert_key(row.id): row for row in rows
                if row is not None and row.status == "OK"
                and row.last_ping_at + timedelta(seconds=row.interval_sec) > now}
        resolves = [(keys[key], Event(event_type="RESOLVE", alert_key=key), source_id)
                    for key, incidents in open_incidents_of_keys(keys, INTEGRATION).items()
                    for _incident_id, source_id in incidents]
        settled = _all_settled(len(resolves), reply)
        for row, event, source_id in resolves:
            self._ingest(row, event, source_id=source_id, settled=settled)

    def _changed(self, monitor_id: int, recovered: bool, reply: Reply | None) -> None:
        row = monitor(monitor_id)
        if row is None or row.status != "OK":
            self.runtime.clock.disarm(timer_key(monitor_id))
        else:
            self._arm(row)
        if recovered:
            self._resolve_open([row], reply)
        elif reply is not None:
            reply(Outcome())

    def _due(self, monitor_id: int) -> None:
        """Its ALERT first, then (`_alerted`) the mark: an alert stored but not yet marked is sent
        again (it joins its open incident), where a mark without its alert was a silence unheard."""
        row = monitor(monitor_id)
        if row is None or row.status != "OK":
            return
        if row.last_ping_at + timedelta(seconds=row.interval_sec) > self.runtime.clock.now():
            self._arm(row)
            return
        last_seen = format_instant(row.last_ping_at)
        summary = f"Heartbeat monitor {quoted(row.name)} is overdue: last seen {last_seen}"
        details = (f"No ping within {row.interval_sec} s (the monitor's interval). The next ping"
                   " resolves this incident.")
        about = {"heartbeatMonitor": {"id": row.id, "name": row.name}, "lastPingAt": last_seen}
        self._ingest(row, Event(event_type="ALERT", alert_key=heartbeat_alert_key(row.id),
                                summary=summary[:MAX_SUMMARY], details=details, custom_details=about),
                     then=HeartbeatAlerted(row.id, row.last_ping_at))

    def _alerted(self, monitor_id: int, last_ping_at: datetime) -> None:
        try:
            overdue = self.heartbeats.mark_overdue(monitor_id, last_ping_at)
        except Exception as error:
            logger.error("heartbeat monitor %s: could not be marked overdue: %s", monitor_id, error)
            self._retry(monitor_id)
            return
        row = monitor(monitor_id) if overdue is None else None
        if row is not None and row.status == "OK" and row.last_ping_at != last_ping_at:
            # Pinged between its ALERT and now: alive again, as a ping to an OVERDUE one says.
            self._resolve_open([row])

    def _ingest(self, row: m.HeartbeatMonitor, event: Event, then: HeartbeatAlerted | None = None,
                source_id: int | None = None, settled: Callable[[ApiError | None], None] | None = None
                ) -> None:
        """`event` to the supervisor, on the monitor's source or `source_id`; once it is stored,
        `then` to this actor. An event the store refused is sent again RETRY_AFTER later. `settled`
        is told the refusal, or None once the event is stored (or had nothing to act on)."""
        source_row = source(row.alert_source_id if source_id is None else source_id)
        info = self.sources.get(source_row.integration_key) if source_row is not None else None
        if info is None:
            logger.error("heartbeat monitor %s: its alert source is gone; nothing opened", row.id)
            if settled is not None:
                settled(None)
            return
        ref, tracker = self.actor_ref, self.tracker

        def reply(outcome: Outcome) -> None:
            refusal = outcome.error
            if refusal is not None and refusal.code == "NO_OPEN_INCIDENT_WITH_KEY":
                refusal = None
            if refusal is not None:
                logger.error("heartbeat monitor %s: %s refused: %s", row.id, event.event_type, refusal)
                if then is not None:
                    self._retry(row.id)
                elif event.event_type == "RESOLVE":
                    self._retry_resolve(row.id)
            elif then is not None:
                send_if_alive(ref, then, tracker)
            if settled is not None:
                settled(refusal)

        payload = {"heartbeatMonitor": row.id, "eventType": event.event_type}
        send(self.supervisor, IngestEvent(info, event, INTEGRATION, payload, reply,
                                          received_at=self.runtime.clock.now()), self.tracker)


def _all_settled(count: int, reply: Reply | None) -> Callable[[ApiError | None], None]:
    """What each of `count` events calls when it settles: `reply` is told once all have, with the
    first refusal (the events settle on the writer's thread, one after another or not)."""
    if reply is None:
        return lambda _refusal: None
    if count == 0:
        reply(Outcome())
    lock, waiting = threading.Lock(), [count]
    refusals: list[ApiError] = []

    def settled(refusal: ApiError | None) -> None:
        with lock:
            if refusal is not None:
                refusals.append(refusal)
            waiting[0] -= 1
            last = waiting[0] == 0
        if last:
            reply(Outcome(error=refusals[0] if refusals else None))
    return settled
