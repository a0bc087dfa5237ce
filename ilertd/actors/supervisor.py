"""The supervisor: routes events by (alert source, alert key) to incident actors, and supervises their hosts.

It is the only creator of incidents, which is how "one open incident per alert key" holds
under concurrent events: every event for a key passes through this one mailbox. It starts the
incident hosts and starts a new one in place of a host that dies, handing it what the dead one
had not handled (its incident actors re-activate from the store; their timers, kept by the clock
and delivered through the host directory, reach the new host). On start it re-arms every stored
deadline, moves each hold to the quiet times as they are now and makes the moves policy edits
still owe; a periodic sweep fires any overdue deadline without a timer and passivates idle actors.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from ilertd.actors.base import TrackedActor, send_if_alive
from ilertd.actors.host import HostDirectory, IncidentHost
from ilertd.actors.incident import escalation_timer_key
from ilertd.actors.messages import (
    Deliver,
    EventForIncident,
    EvictIdle,
    HostBatch,
    HostFailed,
    IncidentClosed,
    IncidentCommand,
    IncidentCommands,
    IngestBatch,
    IngestEvent,
    LookAgain,
    MakeOwedPolicyMoves,
    OpenIncident,
    Outcome,
    Ping,
    Reroute,
    SomeoneMayBeReachable,
    Sweep,
)
from ilertd.actors.runtime import Runtime
from ilertd.app.quiet_times import holds_to_move
from ilertd.app.unsent_pages import reroute_without_channel
from ilertd.domain.events import alert_key_identity, normalize_alert_key
from ilertd.domain.incidents import SYSTEM
from ilertd.domain.wording import quoted
from ilertd.errors import ApiError
from ilertd.logs import ids
from ilertd.store import incidents as store
from ilertd.store import outbox
from ilertd.store.db import write_transaction
from ilertd.store.policy_moves import owed_policy_moves, settle_policy_edits

logger = logging.getLogger(__name__)

UNROUTABLE = ApiError(500, "INTERNAL_ERROR", "an unexpected error; see the log")

SWEEP_INTERVAL = timedelta(seconds=30)
HOLDS_RETIMED = "Maintenance windows or support hours changed"
SWEEP_KEY = ("sweep",)
# Hosts share two cores under one GIL: each more is one more thread taking turns at it. Two took
# a webhook's 100-alert POSTs 10-27 % faster than four, new keys on the Event API 8 % faster.
HOSTS = 2


def _logged_refusal(incident_id: int, what: str) -> Callable[[Outcome], None]:
    def reply(outcome: Outcome) -> None:
        if outcome.error is not None:
            logger.warning("incident %s: %s: %s", incident_id, what, outcome.error.message,
                           extra=ids(incident_id=incident_id))
    return reply


class Supervisor(TrackedActor):
    def __init__(self, runtime: Runtime, max_live: int, idle_seconds: int, hosts: int = HOSTS) -> None:
        super().__init__(runtime.tracker)
        self.runtime = runtime
        self.max_live = max_live
        self.idle_seconds = idle_seconds
        self.hosts = HostDirectory(max(1, min(hosts, max_live)), runtime.tracker, runtime.clock.now)
        self.open_keys: dict[tuple[int, str], int] = {}
        self.next_id = 1

    def on_start(self) -> None:
        capacity = self.max_live // self.hosts.count
        ref, runtime, hosts, idle = self.actor_ref, self.runtime, self.hosts, self.idle_seconds
        self.hosts.start(lambda index: IncidentHost.start(runtime, ref, hosts, index, capacity, idle))
        self.open_keys = store.open_alert_keys()
        self.next_id = store.max_incident_id() + 1
        self.runtime.notification_ids.start_after(outbox.max_notification_id())
        self._recover_pages_in_flight()
        self._reroute_pages_without_channel()
        pages = [page for page in outbox.scheduled_notifications(self.runtime.reader)
                 if self.runtime.pages.has_channel(page["method"])]
        for page in pages:
            self.runtime.pages.arm(page["id"], page["incident_id"], page["method"], page["target"],
                                   page["due_at"])
        # Told before the deadlines are armed: one overdue would escalate by the levels as the
        # edit left them. Each incident told arms its own deadline once moved (one armed here
        # after that, as read before, would put its timer back).
        moved = self._make_owed_policy_moves() | self._retime_holds()
        deadlines = store.escalation_deadlines(self.runtime.reader)
        for incident_id, when in deadlines:
            if incident_id not in moved:
                self.runtime.clock.arm(escalation_timer_key(incident_id), when,
                                       self.hosts.escalation_callback(incident_id))
        self._arm_sweep()
        logger.info("supervisor: %d open incidents; %d deadlines and %d pages re-armed",
                    len(self.open_keys), len(deadlines), len(pages))

    def _retime_holds(self) -> set[int]:
        """Each held incident is held by the quiet times as they are now: a window deleted, ended
        early or moved (or support hours changed) commits before its incidents' holds move, one
        at a time, and a crash in between left the rest held until the window's old end. The
        incidents told."""
        self.runtime.maintenance.invalidate()
        moves = holds_to_move(self.runtime.maintenance, None, self.runtime.clock.now())
        self._tell_together(tuple(IncidentCommand(
            incident_id, "hold", SYSTEM, _logged_refusal(incident_id, "the hold was not moved"),
            HOLDS_RETIMED, as_of=until) for incident_id, until in moves))
        if moves:
            logger.info("supervisor: %d holds moved to the quiet times as they are now", len(moves))
        return {incident_id for incident_id, _ in moves}

    def _make_owed_policy_moves(self) -> set[int]:
        """The moves policy edits still owe their incidents (a crash came before they were all
        made), each incident's in the order of the edits: the incidents told."""
        settle_policy_edits(self.runtime.db)
        owed = owed_policy_moves()
        for edit, incident_id in owed:
            self.hosts.tell(incident_id, IncidentCommand(
                incident_id, "policy_edited", SYSTEM,
                _logged_refusal(incident_id, "the policy edit's move was not made"), edit=edit))
        if owed:
            logger.info("supervisor: %d incidents moved by policy edits made before the start", len(owed))
        return {incident_id for _, incident_id in owed}

    def _recover_pages_in_flight(self) -> None:
        """Pages the last sender had handed to their providers when it stopped: each is sent
        again once (due now, re-armed with the rest) or, in flight a second time, given up."""
        recovered = outbox.recover_pages_in_flight(self.runtime.db, self.runtime.clock.now())
        for page, recovery in recovered:
            logger.warning("page %s: %s", page.id, recovery.entry.text,
                           extra=ids(notification_id=page.id, incident_id=page.incident_id))
        if recovered:
            again = sum(1 for _, recovery in recovered if recovery.send_again)
            logger.info("supervisor: %d pages were in flight when their sender stopped; %d sent again,"
                        " %d not sent a third time", len(recovered), again, len(recovered) - again)

    def _reroute_pages_without_channel(self) -> None:
        """Pages planned for a method whose channel this start does not have: alert pages go by
        e-mail instead, the rest wait (not armed, nor fired by the sweep) until it is enabled."""
        channels = self.runtime.pages.channels
        if channels is None:
            return
        with write_transaction(self.runtime.db):
            moved, waiting = reroute_without_channel(channels, self.runtime.clock.now())
        if moved or waiting:
            logger.warning("supervisor: %d pages were planned for a method with no channel now; %d go"
                           " by e-mail to their user's account address instead, %d wait for their"
                           " channel", moved + waiting, moved, waiting)

    def on_stop(self) -> None:
        self.runtime.clock.disarm(SWEEP_KEY)
        self.hosts.stop_all()
        self.runtime.db.close()

    def handle(self, message: Any) -> Any:
        match message:
            case IngestEvent():
                self._route(message)
            case IngestBatch(events=events):
                self._route_batch(events)
            case Reroute(incident_id=incident_id, ingest=ingest):
                self._reroute(incident_id, ingest)
            case IncidentClosed():
                self._forget(message.incident_id, message.alert_source_id, message.key_identity)
            case IncidentCommand():
                self.hosts.tell(message.incident_id, message)
            case IncidentCommands(commands=commands):
                self._tell_together(commands)
            case HostFailed():
                self._replace_host(message)
            case Sweep():
                try:
                    self._sweep()
                finally:
                    # Armed again whatever the store said: a read that failed once (a disk error,
                    # a database gone a moment) ended the sweeps for good.
                    self._arm_sweep()
            case MakeOwedPolicyMoves():
                self._make_owed_policy_moves()
            case SomeoneMayBeReachable(queued=queued):
                # Cleared before the store is read: a write committed after this read queues a
                # look of its own.
                queued.clear()
                for incident_id in store.waiting_incident_ids(self.runtime.reader):
                    self.hosts.tell(incident_id, LookAgain(incident_id))
            case Ping():
                return True
            case _:
                return super().handle(message)
        return None

    def _replace_host(self, failed: HostFailed) -> None:
        """A new host takes the dead one's place and its unhandled messages; its incidents'
        overdue deadlines are fired now instead of at the next sweep."""
        self.hosts.restart(failed.index)
        self.hosts.forget_handed_to(failed.index)
        for message in failed.pending:
            self.hosts.tell_host(failed.index, message)
        for incident_id, due in store.escalation_deadlines(self.runtime.reader, self.runtime.clock.now()):
            if self.hosts.index(incident_id) == failed.index:
                self.hosts.escalation_due(incident_id, due)

    def _route_batch(self, events: tuple[IngestEvent, ...]) -> None:
        """A payload's events, each host's share told as one HostBatch: a host then queues their
        writes in one submit, where 25 submits from each of four hosts at once contended for the
        writer's lock (a POST of 100 alerts took three times as long under load as alone)."""
        shares: dict[int, list[OpenIncident | EventForIncident]] = {}
        for ingest in events:
            try:
                routed = self._routed(ingest)
            except Exception:
                # The batch holds the events of concurrent requests: one that cannot be routed is
                # its own request's 500, and the others' events go on to their incidents.
                logger.exception("supervisor: an event could not be routed: %r", ingest.event)
                ingest.reply(Outcome(error=UNROUTABLE))
                continue
            if routed is not None:
                shares.setdefault(self.hosts.index(routed.incident_id), []).append(routed)
        for index, share in shares.items():
            self.hosts.tell_host(index, share[0] if len(share) == 1 else HostBatch(tuple(share)))

    def _tell_together(self, commands: tuple[IncidentCommand, ...]) -> None:
        """Each host's share of the commands told as one HostBatch: told one by one, the holds a
        window's early end released escalated one by one, each with reads of its own."""
        shares: dict[int, list[IncidentCommand]] = {}
        for command in commands:
            shares.setdefault(self.hosts.index(command.incident_id), []).append(command)
        for index, share in shares.items():
            self.hosts.tell_host(index, share[0] if len(share) == 1 else HostBatch(tuple(share)))

    def _route(self, ingest: IngestEvent) -> None:
        routed = self._routed(ingest)
        if routed is not None:
            self.hosts.tell(routed.incident_id, routed)

    def _routed(self, ingest: IngestEvent) -> OpenIncident | EventForIncident | None:
        """The message that takes `ingest` to its incident (opening one for a new key), or None
        when it was refused here (told to its sender)."""
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
                    f"no open incident with alertKey {quoted(alert_key)} in this alert source"
                    if alert_key else "alertKey is required for " + event.event_type,
                    field="alertKey",
                )))
                return None
            incident_id = self.next_id
            self.next_id += 1
            self.open_keys[(source_id, alert_key_identity(alert_key))] = incident_id
            return OpenIncident(incident_id, alert_key, ingest)
        return EventForIncident(incident_id, alert_key, ingest)

    def _reroute(self, closed_id: int, ingest: IngestEvent) -> None:
        """The event's incident was closed, or never stored: route it afresh, to the incident the
        store says holds its key open, if another one does. One whose close the store refused
        still does (its key was rerouted while the close waited for the COMMIT), and the key's
        events go to it again, where a new incident of that key could never be stored."""
        source_id = ingest.source.id
        alert_key = normalize_alert_key(ingest.event.alert_key)
        if alert_key is None:  # only a keyed event is routed to an incident it may not open
            self._route(ingest)
            return
        identity = alert_key_identity(alert_key)
        self._forget(closed_id, source_id, identity)
        try:
            holder = store.open_incident_id(source_id, identity)
        except Exception as error:  # a store that fails reads too: the event is refused where it lands
            logger.warning("supervisor: could not read the incident of key %r: %s", alert_key, error)
            holder = None
        if holder is not None and holder != closed_id:
            self.open_keys[(source_id, identity)] = holder
        self._route(ingest)

    def _forget(self, incident_id: int, source_id: int, key_identity: str) -> None:
        """The key no longer routes to the incident (unless it was given to another meanwhile)."""
        if self.open_keys.get((source_id, key_identity)) == incident_id:
            del self.open_keys[(source_id, key_identity)]

    def _arm_sweep(self) -> None:
        ref, tracker = self.actor_ref, self.tracker
        self.runtime.clock.arm(SWEEP_KEY, self.runtime.clock.now() + SWEEP_INTERVAL,
                               lambda _when: send_if_alive(ref, Sweep(), tracker))

    def _sweep(self) -> None:
        """The safety net under the timers: fire what is overdue and has no timer.

        Work handed on within the last sweep interval may still wait in a busy mailbox; it is
        not a lost timer, and firing it again would only add to the backlog.
        """
        now = self.runtime.clock.now()
        recent = now - SWEEP_INTERVAL
        clock, hosts = self.runtime.clock, self.hosts
        hosts.forget_handed_before(recent)
        for incident_id, due in store.escalation_deadlines(self.runtime.reader, now):
            armed = clock.armed_at(escalation_timer_key(incident_id))
            if (armed is None or armed > due) and not hosts.recently_handed(incident_id, recent):
                logger.warning("incident %s: overdue escalation had no timer; firing", incident_id,
                               extra=ids(incident_id=incident_id))
                hosts.escalation_due(incident_id, due)
        pages = self.runtime.pages
        pages.forget_handed_before(recent)
        for page in outbox.scheduled_notifications(self.runtime.reader, now):
            if not pages.has_channel(page["method"]):
                continue  # it waits for its channel, logged at the start
            armed = pages.armed_at(page["id"])
            if (armed is None or armed > page["due_at"]) and not pages.recently_handed(page["id"], recent):
                logger.warning("page %s: overdue and without a timer; delivering", page["id"],
                               extra=ids(notification_id=page["id"], incident_id=page["incident_id"]))
                pages.deliver(Deliver(page["id"], page["incident_id"], page["method"], page["target"]))
        for index in range(hosts.count):
            if hosts.holding[index]:
                hosts.tell_host(index, EvictIdle())
