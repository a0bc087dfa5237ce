"""The supervisor: routes events by (alert source, alert key) to the incident shards, starts them.

It is the only creator of incidents, which is how "one open incident per alert key" holds
under concurrent events: every event for a key passes through this one mailbox. On start it
re-arms every stored deadline; a periodic sweep fires any overdue deadline without a timer
and tells the shards to forget idle incidents.

Escalation timers that fire while more messages wait in its mailbox are held back and handed
to each shard as one batch, once the mailbox is empty (or the batch full), and always before
any other message to that shard: a shard still sees every incident's messages in the order
they arrived here, and reads a batch's incidents and people in one query each.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

import pykka

from ilertd.actors.base import TrackedActor, send
from ilertd.actors.incident import IncidentShard, escalation_callback, escalation_timer_key
from ilertd.actors.messages import (
    Deliver,
    EscalationsDue,
    EventForIncident,
    EvictIdle,
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
from ilertd.store import people

logger = logging.getLogger(__name__)

SWEEP_INTERVAL = timedelta(seconds=30)
SWEEP_KEY = ("sweep",)
# Shards share two cores under one GIL: more would add threads, not throughput.
SHARDS = 4
# Escalations held back for one shard at most: a bound on how long the first of them waits.
MAX_ESCALATION_BATCH = 500


class Supervisor(TrackedActor):
    def __init__(self, runtime: Runtime, max_live: int, idle_seconds: int,
                 shards: int = SHARDS) -> None:
        super().__init__(runtime.tracker)
        self.runtime = runtime
        self.max_live = max_live
        self.idle_seconds = idle_seconds
        self.shard_count = max(1, min(shards, max_live))
        self.shards: list[pykka.ActorRef[Any]] = []
        self.open_keys: dict[tuple[int, str], int] = {}
        self.next_id = 1
        # Escalations handed to a shard lately; see the sweep.
        self.fired: dict[int, datetime] = {}
        # Due escalations not yet handed over, by shard index.
        self.due: dict[int, list[TimerDue]] = {}

    def on_start(self) -> None:
        capacity = self.max_live // self.shard_count
        self.shards = [
            IncidentShard.start(self.runtime, self.actor_ref, capacity, self.idle_seconds)
            for _ in range(self.shard_count)
        ]
        for shard in self.shards:
            shard.ask(Ping(), timeout=30)
        self.open_keys = store.open_alert_keys()
        self.next_id = store.max_incident_id() + 1
        self.runtime.notification_ids.start_after(people.max_notification_id())
        pages = people.scheduled_notifications()
        for page in pages:
            self.runtime.pages.arm(page["id"], page["incident_id"], page["method"], page["target"],
                                   page["due_at"])
        deadlines = store.escalation_deadlines()
        for incident_id, when in deadlines:
            self.runtime.clock.arm(
                escalation_timer_key(incident_id), when,
                escalation_callback(incident_id, self.actor_ref, self.tracker),
            )
        self._arm_sweep()
        logger.info("supervisor: %d open incidents; %d deadlines and %d pages re-armed",
                    len(self.open_keys), len(deadlines), len(pages))

    def on_stop(self) -> None:
        self.runtime.clock.disarm(SWEEP_KEY)
        self._hand_over_due()
        # Ask goes down: each shard finishes its mailbox before it stops.
        for shard in self.shards:
            try:
                shard.stop(block=True, timeout=30)
            except pykka.Timeout:
                logger.error("an incident shard did not stop in time")
        self.runtime.db.close()

    def _tell_shard(self, index: int, message: Any) -> None:
        """Every message to a shard goes here: escalations held back for it go first."""
        held = self.due.pop(index, None)
        if held:
            send(self.shards[index], EscalationsDue(tuple(held)), self.tracker)
        send(self.shards[index], message, self.tracker)

    def _tell(self, incident_id: int, message: Any) -> None:
        self._tell_shard(incident_id % len(self.shards), message)

    def _escalation_due(self, timer: TimerDue) -> None:
        self.fired[timer.incident_id] = self.runtime.clock.now()
        index = timer.incident_id % len(self.shards)
        held = self.due.setdefault(index, [])
        held.append(timer)
        if len(held) >= MAX_ESCALATION_BATCH:
            del self.due[index]
            send(self.shards[index], EscalationsDue(tuple(held)), self.tracker)

    def _hand_over_due(self) -> None:
        for index, held in self.due.items():
            send(self.shards[index], EscalationsDue(tuple(held)), self.tracker)
        self.due = {}

    def handle(self, message: Any) -> Any:
        try:
            return self._handle(message)
        finally:
            # Held escalations wait only while more messages are queued behind this one.
            if self.due and self.actor_inbox.empty():
                self._hand_over_due()

    def _handle(self, message: Any) -> Any:
        match message:
            case IngestEvent():
                self._route(message)
            case Reroute(incident_id=incident_id, ingest=ingest):
                self._forget(incident_id, ingest.source.id, None)
                self._route(ingest)
            case IncidentClosed():
                self._forget(message.incident_id, message.alert_source_id, message.key_identity)
            case TimerDue():
                self._escalation_due(message)
            case IncidentCommand():
                self._tell(message.incident_id, message)
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
            self._tell(incident_id, OpenIncident(incident_id, alert_key, ingest))
            return
        self._tell(incident_id, EventForIncident(incident_id, alert_key, ingest))

    def _forget(self, incident_id: int, source_id: int, key_identity: str | None) -> None:
        if key_identity is not None:
            if self.open_keys.get((source_id, key_identity)) == incident_id:
                del self.open_keys[(source_id, key_identity)]
            return
        stale = [k for k, v in self.open_keys.items() if v == incident_id and k[0] == source_id]
        for key in stale:
            del self.open_keys[key]

    def _arm_sweep(self) -> None:
        ref, tracker = self.actor_ref, self.tracker

        def fire(_when: datetime) -> None:
            with contextlib.suppress(pykka.ActorDeadError):
                send(ref, Sweep(), tracker)

        self.runtime.clock.arm(SWEEP_KEY, self.runtime.clock.now() + SWEEP_INTERVAL, fire)

    def _sweep(self) -> None:
        """The safety net under the timers: fire what is overdue and has no timer.

        Work handed on within the last sweep interval may still wait in a busy mailbox; it is
        not a lost timer, and firing it again would only add to the backlog.
        """
        now = self.runtime.clock.now()
        recent = now - SWEEP_INTERVAL
        clock = self.runtime.clock
        self.fired = {k: v for k, v in self.fired.items() if v >= recent}
        for incident_id, due in store.escalation_deadlines(until=now):
            armed = clock.armed_at(escalation_timer_key(incident_id))
            if (armed is None or armed > due) and incident_id not in self.fired:
                logger.warning("incident %s: overdue escalation had no timer; firing", incident_id)
                self._escalation_due(TimerDue(incident_id, "escalation", due))
        pages = self.runtime.pages
        pages.forget_handed_before(recent)
        for page in people.scheduled_notifications(until=now):
            armed = pages.armed_at(page["id"])
            if (armed is None or armed > page["due_at"]) and not pages.recently_handed(page["id"], recent):
                logger.warning("page %s: overdue and without a timer; delivering", page["id"])
                pages.deliver(Deliver(page["id"], page["incident_id"], page["method"], page["target"]))
        for index in range(len(self.shards)):
            self._tell_shard(index, EvictIdle())
        self._arm_sweep()

