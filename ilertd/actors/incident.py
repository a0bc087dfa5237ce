"""IncidentActor: owns one incident's state while it has work, applies transitions, arms its timer."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import pykka

from ilertd.actors.base import TrackedActor, send
from ilertd.actors.messages import (
    EventForIncident,
    IncidentClosed,
    IncidentCommand,
    IngestEvent,
    OpenIncident,
    Outcome,
    Reload,
    Reply,
    Reroute,
    TimerDue,
)
from ilertd.actors.runtime import Runtime
from ilertd.domain import incidents as domain
from ilertd.domain.incidents import Actor, Incident, Transition
from ilertd.errors import ApiError
from ilertd.store import incidents as store
from ilertd.store import models as m
from ilertd.store.committer import WriteUnit

logger = logging.getLogger(__name__)

STORE_FAILED = ApiError(503, "STORE_UNAVAILABLE", "the change could not be stored; retry")


def escalation_timer_key(incident_id: int) -> tuple[str, int]:
    return ("escalation", incident_id)


class IncidentActor(TrackedActor):
    def __init__(
        self,
        incident_id: int,
        runtime: Runtime,
        supervisor: pykka.ActorRef[Any],
        fresh: bool = False,
    ) -> None:
        super().__init__(runtime.tracker)
        self.incident_id = incident_id
        self.runtime = runtime
        self.supervisor = supervisor
        self.fresh = fresh
        self.incident: Incident | None = None

    def on_start(self) -> None:
        if not self.fresh:
            self._load()

    def on_stop(self) -> None:
        # The next actor for this incident reads the store: let our queued writes land first.
        self.runtime.committer.wait_flushed(self.incident_id)
        self.runtime.db.close()

    def _load(self) -> None:
        self.runtime.committer.wait_flushed(self.incident_id)
        self.incident = store.load_incident(self.incident_id)

    def handle(self, message: Any) -> None:
        match message:
            case OpenIncident():
                self._open(message)
            case EventForIncident():
                self._event(message)
            case IncidentCommand():
                self._command(message)
            case TimerDue():
                self._timer(message)
            case Reload():
                self._load()
            case _:
                super().handle(message)

    def _open(self, message: OpenIncident) -> None:
        ingest = message.ingest
        source = ingest.source
        now = self.runtime.clock.now()
        policy = store.load_policy(source.escalation_policy_id)
        transition = domain.open_incident(
            message.incident_id, source.id, message.alert_key, source.priority,
            ingest.event, policy, source.name, now, ingest.integration.upper(),
        )
        self._apply(transition, ingest.reply, new=True, ingest=ingest)

    def _event(self, message: EventForIncident) -> None:
        ingest = message.ingest
        if self.incident is None or not self.incident.is_open:
            send(self.supervisor, Reroute(message.incident_id, ingest), self.tracker)
            return
        actor = Actor(name=ingest.integration, channel=ingest.integration.upper())
        try:
            transition = domain.apply_event(
                self.incident, ingest.event, actor, self.runtime.clock.now()
            )
        except ApiError as error:
            ingest.reply(Outcome(error=error))
            return
        self._apply(transition, ingest.reply, new=False, ingest=ingest)

    def _command(self, message: IncidentCommand) -> None:
        if self.incident is None:
            message.reply(Outcome(error=ApiError(404, "NOT_FOUND",
                                                 f"incident {message.incident_id} does not exist")))
            return
        now = self.runtime.clock.now()
        try:
            if message.action == "accept":
                transition = domain.accept(self.incident, message.actor, now)
            elif message.action == "resolve":
                transition = domain.resolve(self.incident, message.actor, now)
            else:
                transition = domain.comment(self.incident, message.content, message.actor)
        except ApiError as error:
            message.reply(Outcome(error=error))
            return
        self._apply(transition, message.reply, new=False)

    def _timer(self, message: TimerDue) -> None:
        if self.incident is None:
            return
        policy = store.load_policy(self.incident.escalation_policy_id)
        transition = domain.escalation_due(self.incident, policy, self.runtime.clock.now())
        if transition.changed:
            self._apply(transition, None, new=False)
        else:
            self._sync_timer()

    def _apply(
        self, transition: Transition, reply: Reply | None, new: bool, ingest: IngestEvent | None = None
    ) -> None:
        before = self.incident
        incident = transition.incident
        self.incident = incident
        now = self.runtime.clock.now()
        row = store.incident_row(incident)
        logs = store.log_rows(incident.id, transition.log, now)
        event_row = None
        if ingest is not None:
            event_row = {
                "incident": incident.id,
                "event_type": ingest.event.event_type,
                "alert_key": incident.alert_key,
                "received_at": ingest.received_at or now,
                "integration": ingest.integration,
                "payload": ingest.payload,
            }
        write = _writer(row, new, before != incident, event_row, logs)
        outcome = Outcome(incident.id, incident.alert_key, transition.response_code)
        self.runtime.committer.submit(
            WriteUnit(incident.id, write, self._on_commit(outcome, reply))
        )
        if (before is not None and before.is_open and not incident.is_open) or (
            before is None and not incident.is_open
        ):
            send(self.supervisor,
                 IncidentClosed(incident.id, incident.alert_source_id, incident.key_identity),
                 self.tracker)
        self._sync_timer()

    def _on_commit(
        self, outcome: Outcome, reply: Reply | None
    ) -> Callable[[BaseException | None], None]:
        def done(error: BaseException | None) -> None:
            if error is not None:
                logger.error("incident %s: write failed (%s); reloading", self.incident_id, error)
                with contextlib.suppress(pykka.ActorDeadError):
                    send(self.actor_ref, Reload(), self.tracker)
                if reply is not None:
                    reply(Outcome(error=STORE_FAILED))
                return
            if reply is not None:
                reply(outcome)

        return done

    def _sync_timer(self) -> None:
        """The escalation timer follows the incident's state: armed exactly while it is due."""
        incident = self.incident
        key = escalation_timer_key(self.incident_id)
        clock = self.runtime.clock
        if incident is not None and incident.status == "PENDING" and incident.next_escalation_at:
            if clock.armed_at(key) != incident.next_escalation_at:
                clock.arm(key, incident.next_escalation_at, self._timer_callback())
        else:
            clock.disarm(key)

    def _timer_callback(self) -> Callable[[Any], None]:
        incident_id, supervisor, tracker = self.incident_id, self.supervisor, self.tracker
        return escalation_callback(incident_id, supervisor, tracker)


def escalation_callback(incident_id: int, supervisor: pykka.ActorRef[Any], tracker: Any
                        ) -> Callable[[Any], None]:
    def fire(when: Any) -> None:
        try:
            send(supervisor, TimerDue(incident_id, "escalation", when), tracker)
        except pykka.ActorDeadError:
            logger.warning("escalation of incident %s due while stopping", incident_id)

    return fire


def _writer(
    row: dict[str, Any],
    new: bool,
    incident_changed: bool,
    event_row: dict[str, Any] | None,
    logs: list[dict[str, Any]],
) -> Callable[[], None]:
    def write() -> None:
        if new:
            m.Incident.insert(**row).execute()
        elif incident_changed:
            fields = {k: v for k, v in row.items() if k != "id"}
            m.Incident.update(**fields).where(m.Incident.id == row["id"]).execute()
        if event_row is not None:
            m.Event.insert(**event_row).execute()
        if logs:
            m.LogEntry.insert_many(logs).execute()

    return write
