"""Incident shards: actors that each own a fixed share of the incidents, their state and timers.

An incident's state lives in exactly one shard (chosen by its id), which applies the pure
transitions of `ilertd.domain.incidents`, hands the writes to the committer and arms the
incident's escalation timer. A shard keeps the incidents it has worked on lately in memory
and forgets the idle ones; the store has them.

Why shards and not a thread per incident: starting a pykka actor costs a thread start, which
the supervisor measured at 0.6 ms (p50) under load, capping new incidents near 1,200/s; a
thread per open incident would also break the 100-thread budget. A shard holds each
incident's state and mailbox order just as its own actor would.
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import datetime, timedelta
from typing import Any

import pykka

from ilertd.actors.base import TrackedActor, send
from ilertd.actors.clock import TimerCallback
from ilertd.actors.messages import (
    EscalationsDue,
    EventForIncident,
    EvictIdle,
    HeldCount,
    IncidentClosed,
    IncidentCommand,
    IngestEvent,
    OpenIncident,
    Outcome,
    Ping,
    Reload,
    Reply,
    Reroute,
    TimerDue,
)
from ilertd.actors.runtime import Runtime
from ilertd.domain import incidents as domain
from ilertd.domain.incidents import Actor, Incident, Paging, Transition
from ilertd.domain.notification_plan import PlannedPage, UpdateType, update_pages
from ilertd.errors import ApiError
from ilertd.store import incidents as store
from ilertd.store.committer import WriteUnit
from ilertd.store.people import paged_user_ids

logger = logging.getLogger(__name__)

STATUS_UPDATES: dict[str, UpdateType] = {
    "ACCEPTED": "ALERT_ACCEPTED", "RESOLVED": "ALERT_RESOLVED", "ESCALATED": "ALERT_ESCALATED",
}
INTERNAL = ApiError(500, "INTERNAL_ERROR", "the change failed; see the log")
STORE_FAILED = ApiError(503, "STORE_UNAVAILABLE", "the change could not be stored; retry")


def escalation_timer_key(incident_id: int) -> tuple[str, int]:
    return ("escalation", incident_id)


class IncidentShard(TrackedActor):
    def __init__(
        self,
        runtime: Runtime,
        supervisor: pykka.ActorRef[Any],
        capacity: int,
        idle_seconds: int,
    ) -> None:
        super().__init__(runtime.tracker)
        self.runtime = runtime
        self.supervisor = supervisor
        self.capacity = max(1, capacity)
        self.idle = timedelta(seconds=idle_seconds)
        self.incidents: OrderedDict[int, Incident | None] = OrderedDict()
        self.last_used: dict[int, datetime] = {}
        # While a batch runs: the timers it arms, armed at its end in one go.
        self.timers: list[tuple[Hashable, datetime, TimerCallback]] | None = None

    def on_stop(self) -> None:
        self.runtime.db.close()

    # --- the state this shard holds ----------------------------------------------------------

    def _hold(self, incident_id: int, incident: Incident | None) -> None:
        self.incidents[incident_id] = incident
        self.incidents.move_to_end(incident_id)
        self.last_used[incident_id] = self.runtime.clock.now()
        while len(self.incidents) > self.capacity:
            evicted, _ = self.incidents.popitem(last=False)
            del self.last_used[evicted]

    def _state(self, incident_id: int) -> Incident | None:
        if incident_id in self.incidents:
            incident = self.incidents[incident_id]
        else:
            # Writes queued for this incident land before it is read back.
            self.runtime.committer.wait_flushed(incident_id)
            incident = store.load_incident(self.runtime.reader, incident_id)
        self._hold(incident_id, incident)
        return incident

    def _forget(self, incident_id: int) -> None:
        self.incidents.pop(incident_id, None)
        self.last_used.pop(incident_id, None)

    def _evict_idle(self) -> None:
        cutoff = self.runtime.clock.now() - self.idle
        for incident_id in [i for i, used in self.last_used.items() if used <= cutoff]:
            self._forget(incident_id)

    # --- messages --------------------------------------------------------------------------

    def handle(self, message: Any) -> Any:
        try:
            return self._handle(message)
        except Exception:
            # Whoever waits for this change hears now, not after their timeout.
            ingest = getattr(message, "ingest", None)
            reply = getattr(message, "reply", None) or getattr(ingest, "reply", None)
            if reply is not None:
                reply(Outcome(error=INTERNAL))
            raise

    def _handle(self, message: Any) -> Any:
        match message:
            case OpenIncident():
                self._open(message)
            case EventForIncident():
                self._event(message)
            case IncidentCommand():
                self._command(message)
            case EscalationsDue(timers=timers):
                self._escalations(timers)
            case TimerDue():
                self._escalations((message,))
            case Reload(incident_id=incident_id):
                self._forget(incident_id)
            case EvictIdle():
                self._evict_idle()
            case HeldCount():
                return len(self.incidents)
            case Ping():
                return True
            case _:
                return super().handle(message)
        return None

    def _open(self, message: OpenIncident) -> None:
        ingest = message.ingest
        source = ingest.source
        now = self.runtime.clock.now()
        policy = self.runtime.policies.get(source.escalation_policy_id, self.runtime.reader)
        transition = domain.open_incident(
            message.incident_id, source.id, message.alert_key, source.priority,
            ingest.event, policy, source.name, now, ingest.integration.upper(), self.paging,
        )
        self._apply(None, transition, ingest.reply, ingest=ingest)

    def _event(self, message: EventForIncident) -> None:
        ingest = message.ingest
        incident = self._state(message.incident_id)
        if incident is None or not incident.is_open:
            send(self.supervisor, Reroute(message.incident_id, ingest), self.tracker)
            return
        actor = Actor(name=ingest.integration, channel=ingest.integration.upper())
        try:
            transition = domain.apply_event(incident, ingest.event, actor, self.runtime.clock.now())
        except ApiError as error:
            ingest.reply(Outcome(error=error))
            return
        self._apply(incident, transition, ingest.reply, ingest=ingest)

    def _command(self, message: IncidentCommand) -> None:
        incident = self._state(message.incident_id)
        if incident is None:
            message.reply(Outcome(error=ApiError(404, "NOT_FOUND",
                                                 f"incident {message.incident_id} does not exist")))
            return
        now = self.runtime.clock.now()
        try:
            if message.action == "accept":
                transition = domain.accept(incident, message.actor, now)
            elif message.action == "resolve":
                transition = domain.resolve(incident, message.actor, now)
            elif message.action == "escalate":
                policy = self.runtime.policies.get(incident.escalation_policy_id, self.runtime.reader)
                transition = domain.escalate(incident, policy, message.actor, now, message.level,
                                             self.paging)
            else:
                transition = domain.comment(incident, message.content, message.actor)
        except ApiError as error:
            message.reply(Outcome(error=error))
            return
        self._apply(incident, transition, message.reply)

    def _escalations(self, timers: tuple[TimerDue, ...]) -> None:
        """Escalations that fell due together: their incidents, policies and people are read in
        one query each (about 5 ms of the interpreter lock per escalation went to reading them
        one at a time), then each incident moves on as a lone timer would move it."""
        runtime, reader = self.runtime, self.runtime.reader
        incident_ids = list(dict.fromkeys(timer.incident_id for timer in timers))
        missing = [i for i in incident_ids if i not in self.incidents]
        loaded: dict[int, Incident] = {}
        if missing:
            # Writes queued for these incidents land before they are read back.
            runtime.committer.wait_flushed_all(missing)
            loaded = store.load_incidents(reader, missing)
        batch = {i: self.incidents[i] if i in self.incidents else loaded.get(i) for i in incident_ids}
        now = runtime.clock.now()
        runtime.policies.load_missing((i.escalation_policy_id for i in batch.values() if i), reader)
        user_ids = [
            user_id for incident in batch.values() if incident is not None
            for user_id in domain.escalation_user_ids(
                incident, runtime.policies.get(incident.escalation_policy_id, reader), now,
                runtime.schedules.on_call)
        ]
        runtime.people.get_many(user_ids, reader)
        paging = self.paging
        self.timers = []
        try:
            for incident_id, incident in batch.items():
                self._hold(incident_id, incident)
                if incident is None:
                    continue
                try:
                    self._escalate(incident, paging)
                except Exception:
                    # One incident's failure must not hold back the rest of the batch; the sweep
                    # fires its deadline again.
                    logger.exception("incident %s: escalation failed", incident_id)
        finally:
            timers, self.timers = self.timers, None
            runtime.clock.arm_many(timers)

    def _escalate(self, incident: Incident, paging: Paging) -> None:
        policy = self.runtime.policies.get(incident.escalation_policy_id, self.runtime.reader)
        transition = domain.escalation_due(incident, policy, self.runtime.clock.now(), paging)
        if transition.changed:
            self._apply(incident, transition, None)
        else:
            self._sync_timer(incident)

    # --- effects ---------------------------------------------------------------------------

    def _apply(
        self,
        before: Incident | None,
        transition: Transition,
        reply: Reply | None,
        ingest: IngestEvent | None = None,
    ) -> None:
        incident = transition.incident
        self._hold(incident.id, incident)
        now = self.runtime.clock.now()
        statements = self.runtime.statements
        writes = []
        row = store.incident_row(incident)
        if before is None:
            writes.append(statements.insert_incident_row(row))
        elif before != incident:
            update = statements.update_incident_row(store.incident_row(before), row)
            if update is not None:
                writes.append(update)
        if ingest is not None:
            writes.append(statements.event({
                "incident": incident.id,
                "event_type": ingest.event.event_type,
                "alert_key": incident.alert_key,
                "received_at": ingest.received_at or now,
                "integration": ingest.integration,
                "payload": ingest.payload,
            }))
        writes.extend(statements.log(row) for row in store.log_rows(incident.id, transition.log, now))
        if transition.cancel_pages:
            writes.append(statements.cancel_pages(incident.id))
        pages = [*transition.pages, *self._status_updates(transition, now)]
        numbered = [(self.runtime.notification_ids.next(), page) for page in pages]
        writes.extend(
            statements.notification({
                "id": notification_id, "incident": incident.id, "user_id": page.user_id,
                "kind": page.kind, "method": page.method, "target": page.target, "level": page.level,
                "due_at": page.due_at, "sent_at": None, "status": "SCHEDULED", "attempts": 0,
                "error_message": None, "created_at": now,
            })
            for notification_id, page in numbered
        )
        outcome = Outcome(incident.id, incident.alert_key, transition.response_code)
        self.runtime.committer.submit(
            WriteUnit(incident.id, tuple(writes), self._on_commit(incident.id, outcome, reply))
        )
        for notification_id, page in numbered:
            self._arm(*self.runtime.pages.timer(notification_id, incident.id, page.method, page.target,
                                                page.due_at))
        if not incident.is_open and (before is None or before.is_open):
            send(self.supervisor,
                 IncidentClosed(incident.id, incident.alert_source_id, incident.key_identity),
                 self.tracker)
        self._sync_timer(incident)

    @property
    def paging(self) -> Paging:
        reader, people = self.runtime.reader, self.runtime.people
        return Paging(person=lambda user_id: people.get(user_id, reader),
                      on_call=self.runtime.schedules.on_call)

    def _status_updates(self, transition: Transition, now: datetime) -> tuple[PlannedPage, ...]:
        """Who asked to hear of an accept, resolve or manual escalation by someone else."""
        for entry in transition.log:
            update = STATUS_UPDATES.get(entry.log_entry_type)
            if update is None or (entry.log_entry_type == "ESCALATED" and entry.user_id is None):
                continue
            # Pages of this incident still queued for the store count as paged too.
            self.runtime.committer.wait_flushed(transition.incident.id)
            paged = paged_user_ids(transition.incident.id)
            found = self.runtime.people.get_many(paged, self.runtime.reader)
            people = [found[user_id] for user_id in paged if user_id in found]
            return update_pages(update, entry.user_id, people, now)
        return ()

    def _on_commit(
        self, incident_id: int, outcome: Outcome, reply: Reply | None
    ) -> Callable[[BaseException | None], None]:
        def done(error: BaseException | None) -> None:
            if error is not None:
                logger.error("incident %s: write failed (%s); reloading", incident_id, error)
                with contextlib.suppress(pykka.ActorDeadError):
                    send(self.actor_ref, Reload(incident_id), self.tracker)
                if reply is not None:
                    reply(Outcome(error=STORE_FAILED))
                return
            if reply is not None:
                reply(outcome)

        return done

    def _sync_timer(self, incident: Incident) -> None:
        """The escalation timer follows the incident's state: armed exactly while it is due."""
        key = escalation_timer_key(incident.id)
        clock = self.runtime.clock
        if incident.status == "PENDING" and incident.next_escalation_at:
            # In a batch the timer has just fired: it is never armed already.
            if self.timers is not None or clock.armed_at(key) != incident.next_escalation_at:
                self._arm(key, incident.next_escalation_at,
                          escalation_callback(incident.id, self.supervisor, self.tracker))
        else:
            clock.disarm(key)

    def _arm(self, key: Hashable, when: datetime, callback: TimerCallback) -> None:
        if self.timers is not None:
            self.timers.append((key, when, callback))
        else:
            self.runtime.clock.arm(key, when, callback)


def escalation_callback(incident_id: int, supervisor: pykka.ActorRef[Any], tracker: Any
                        ) -> Callable[[Any], None]:
    def fire(when: Any) -> None:
        try:
            send(supervisor, TimerDue(incident_id, "escalation", when), tracker)
        except pykka.ActorDeadError:
            logger.warning("escalation of incident %s due while stopping", incident_id)

    return fire
