"""The supervisor: routes events by (alert source, alert key), activates and passivates incident actors.

It is the only creator of incidents, which is how "one open incident per alert key" holds
under concurrent events: every event for a key passes through this one mailbox. On start it
re-arms every stored deadline; a periodic sweep fires any overdue deadline without a timer.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pykka

from ilertd.actors.base import TrackedActor, send
from ilertd.actors.incident import IncidentActor, escalation_callback, escalation_timer_key
from ilertd.actors.messages import (
    EventForIncident,
    IncidentClosed,
    IncidentCommand,
    IngestEvent,
    OpenIncident,
    Outcome,
    Ping,
    Reroute,
    Sweep,
    TimerDue,
)
from ilertd.actors.runtime import Runtime
from ilertd.domain.events import alert_key_identity, normalize_alert_key
from ilertd.errors import ApiError
from ilertd.store import incidents as store

logger = logging.getLogger(__name__)

SWEEP_INTERVAL = timedelta(seconds=30)
SWEEP_KEY = ("sweep",)


@dataclass
class _Live:
    ref: pykka.ActorRef[Any]
    last_used: datetime


class Supervisor(TrackedActor):
    def __init__(self, runtime: Runtime, max_live: int, idle_seconds: int) -> None:
        super().__init__(runtime.tracker)
        self.runtime = runtime
        self.max_live = max_live
        self.idle = timedelta(seconds=idle_seconds)
        self.open_keys: dict[tuple[int, str], int] = {}
        self.next_id = 1
        self.live: OrderedDict[int, _Live] = OrderedDict()
        self.stopping: dict[int, pykka.Future[Any]] = {}

    def on_start(self) -> None:
        self.open_keys = store.open_alert_keys()
        self.next_id = store.max_incident_id() + 1
        deadlines = store.escalation_deadlines()
        for incident_id, when in deadlines:
            self.runtime.clock.arm(
                escalation_timer_key(incident_id), when,
                escalation_callback(incident_id, self.actor_ref, self.tracker),
            )
        self._arm_sweep()
        logger.info(
            "supervisor: %d open incidents, %d deadlines re-armed", len(self.open_keys), len(deadlines)
        )

    def on_stop(self) -> None:
        self.runtime.clock.disarm(SWEEP_KEY)
        for live in self.live.values():
            try:
                live.ref.stop(block=True, timeout=10)
            except pykka.Timeout:
                logger.error("an incident actor did not stop in time")
        for future in self.stopping.values():
            try:
                future.get(timeout=10)
            except Exception:
                logger.exception("an incident actor failed to stop")
        self.live.clear()
        self.stopping.clear()
        self.runtime.db.close()

    def handle(self, message: Any) -> Any:
        match message:
            case IngestEvent():
                self._route(message)
            case Reroute(incident_id=incident_id, ingest=ingest):
                self._forget(incident_id, ingest.source.id, None)
                self._route(ingest)
            case IncidentClosed():
                self._forget(message.incident_id, message.alert_source_id, message.key_identity)
            case IncidentCommand():
                send(self._activate(message.incident_id), message, self.tracker)
            case TimerDue():
                send(self._activate(message.incident_id), message, self.tracker)
            case Sweep():
                self._sweep()
            case Ping():
                return True
            case _:
                return super().handle(message)
        return None

    def _route(self, ingest: IngestEvent) -> None:
        event = ingest.event
        source_id = ingest.source.id
        alert_key = normalize_alert_key(event.alert_key)
        if alert_key is None and event.event_type == "ALERT":
            alert_key = uuid.uuid4().hex
        incident_id = None
        if alert_key is not None:
            incident_id = self.open_keys.get((source_id, alert_key_identity(alert_key)))
        if incident_id is None:
            if event.event_type != "ALERT" or alert_key is None:
                ingest.reply(Outcome(error=ApiError(
                    400, "NO_OPEN_INCIDENT_WITH_KEY",
                    f"no open incident with alertKey {alert_key!r} in this alert source"
                    if alert_key else "alertKey is required for " + event.event_type,
                    field="alertKey",
                )))
                return
            incident_id = self.next_id
            self.next_id += 1
            self.open_keys[(source_id, alert_key_identity(alert_key))] = incident_id
            ref = self._start_actor(incident_id, fresh=True)
            send(ref, OpenIncident(incident_id, alert_key, ingest), self.tracker)
            return
        send(self._activate(incident_id), EventForIncident(incident_id, alert_key, ingest),
             self.tracker)

    def _forget(self, incident_id: int, source_id: int, key_identity: str | None) -> None:
        if key_identity is not None:
            if self.open_keys.get((source_id, key_identity)) == incident_id:
                del self.open_keys[(source_id, key_identity)]
            return
        stale = [k for k, v in self.open_keys.items() if v == incident_id and k[0] == source_id]
        for key in stale:
            del self.open_keys[key]

    def _activate(self, incident_id: int) -> pykka.ActorRef[Any]:
        live = self.live.get(incident_id)
        if live is not None:
            live.last_used = self.runtime.clock.now()
            self.live.move_to_end(incident_id)
            return live.ref
        return self._start_actor(incident_id, fresh=False)

    def _start_actor(self, incident_id: int, fresh: bool) -> pykka.ActorRef[Any]:
        stopping = self.stopping.pop(incident_id, None)
        if stopping is not None:
            # The previous actor for this incident still drains its mailbox: two must never
            # hold the same incident at once.
            stopping.get(timeout=30)
        while len(self.live) >= self.max_live:
            oldest_id, _ = next(iter(self.live.items()))
            self._passivate(oldest_id)
        ref = IncidentActor.start(incident_id, self.runtime, self.actor_ref, fresh)
        self.live[incident_id] = _Live(ref, self.runtime.clock.now())
        return ref

    def _passivate(self, incident_id: int) -> None:
        live = self.live.pop(incident_id)
        self.stopping[incident_id] = live.ref.stop(block=False)

    def _arm_sweep(self) -> None:
        ref, tracker = self.actor_ref, self.tracker

        def fire(_when: datetime) -> None:
            with contextlib.suppress(pykka.ActorDeadError):
                send(ref, Sweep(), tracker)

        self.runtime.clock.arm(SWEEP_KEY, self.runtime.clock.now() + SWEEP_INTERVAL, fire)

    def _sweep(self) -> None:
        now = self.runtime.clock.now()
        clock = self.runtime.clock
        for incident_id, due in store.escalation_deadlines(until=now):
            armed = clock.armed_at(escalation_timer_key(incident_id))
            if armed is None or armed > due:
                logger.warning("incident %s: overdue escalation had no timer; firing", incident_id)
                send(self._activate(incident_id), TimerDue(incident_id, "escalation", due),
                     self.tracker)
        for incident_id in [i for i, live in self.live.items() if now - live.last_used >= self.idle]:
            self._passivate(incident_id)
        for incident_id in [i for i, f in self.stopping.items() if _done(f)]:
            del self.stopping[incident_id]
        self._arm_sweep()


def _done(future: pykka.Future[Any]) -> bool:
    try:
        future.get(timeout=0)
    except pykka.Timeout:
        return False
    except Exception:
        logger.exception("an incident actor failed to stop")
    return True
