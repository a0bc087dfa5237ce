"""IncidentActor: one open incident's state and escalation timer; every message it gets in one `receive`.

An incident actor is a virtual actor (Orleans' model): a plain object, not a thread. An
`IncidentHost` holds it while it has work, activates it from the store on its first message and
passivates it when idle; its state is then already committed. Its transitions are the pure
functions of `ilertd.domain.incidents`; its writes go to the group-commit writer, and only once
they are committed does the caller hear the outcome and do its pages reach their channels.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pykka

from ilertd.actors.base import send, send_if_alive
from ilertd.actors.messages import (
    EscalationDue,
    EventForIncident,
    IncidentClosed,
    IncidentCommand,
    IngestEvent,
    LookAgain,
    OpenIncident,
    Outcome,
    Reload,
    Reply,
    Reroute,
)
from ilertd.actors.runtime import Runtime
from ilertd.domain import incidents as domain
from ilertd.domain import quiet_times
from ilertd.domain.incidents import HELD, Actor, Incident, Transition
from ilertd.domain.notification_plan import PlannedPage, UpdateType, update_pages
from ilertd.domain.policy_edits import follow_policy_edit, reach_level_again
from ilertd.errors import ApiError, StoreUnavailable
from ilertd.logs import ids
from ilertd.metrics import MUTED
from ilertd.store import incidents as store
from ilertd.store.committer import WriteUnit
from ilertd.store.db import store_failed
from ilertd.store.outbox import paged_user_ids
from ilertd.store.policy_moves import policy_move_owed, responders_left
from ilertd.store.sources import support_hours_of
from ilertd.store.statements import Statement

if TYPE_CHECKING:
    from ilertd.actors.host import IncidentHost

logger = logging.getLogger(__name__)

STATUS_UPDATES: dict[str, UpdateType] = {
    "ACCEPTED": "ALERT_ACCEPTED", "RESOLVED": "ALERT_RESOLVED", "ESCALATED": "ALERT_ESCALATED",
}
STORE_FAILED = StoreUnavailable()


def escalation_timer_key(incident_id: int) -> tuple[str, int]:
    return ("escalation", incident_id)


class IncidentActor:
    """One incident: `state` is None until it is opened (or when the store has no such incident)."""

    def __init__(self, incident_id: int, state: Incident | None, host: IncidentHost) -> None:
        self.id = incident_id
        self.state = state
        self.host = host
        # The stored row of `state` once this actor wrote it: the next change is a diff against it.
        self.row: dict[str, Any] | None = None

    @property
    def runtime(self) -> Runtime:
        return self.host.runtime

    def receive(self, message: Any) -> None:
        match message:
            case OpenIncident():
                self._open(message)
            case EventForIncident():
                self._event(message)
            case IncidentCommand():
                self._command(message)
            case EscalationDue(due_at=now):
                self._escalation_due(now)
            case LookAgain():
                self._look_again()
            case _:
                logger.warning("incident %s ignored unexpected message %r", self.id, message,
                               extra=ids(incident_id=self.id))

    # --- what each message does --------------------------------------------------------------

    def _open(self, message: OpenIncident) -> None:
        ingest = message.ingest
        source = ingest.source
        policy = self.runtime.policies.get(source.escalation_policy_id, self.runtime.reader)
        now = self.runtime.clock.now()
        windows = self.runtime.maintenance.current(now)
        quiet = quiet_times.opening(source.id, windows, source.support_hours, now)
        transition = domain.open_incident(
            self.id, source.id, message.alert_key, source.priority, ingest.event, policy, source.name,
            now, ingest.integration.upper(), self.host.paging, quiet,
        )
        self._apply(transition, ingest.reply, now, ingest=ingest, opening=True)

    def _event(self, message: EventForIncident) -> None:
        ingest = message.ingest
        if self.state is None or not self.state.is_open:
            # The key closed meanwhile: the supervisor routes the event afresh (a new incident).
            send(self.host.supervisor, Reroute(self.id, ingest), self.host.tracker)
            return
        actor = Actor(name=ingest.integration, channel=ingest.integration.upper())
        now = self.runtime.clock.now()
        try:
            transition = domain.apply_event(self.state, ingest.event, actor, now)
        except ApiError as error:
            ingest.reply(Outcome(error=error))
            return
        self._apply(transition, ingest.reply, now, ingest=ingest)

    def _command(self, message: IncidentCommand) -> None:
        incident = self.state
        if incident is None:
            message.reply(Outcome(error=ApiError(404, "NOT_FOUND", f"incident {self.id} does not exist")))
            return
        now = self.runtime.clock.now()
        try:
            if message.action == "accept":
                transition = domain.accept(incident, message.actor, now)
            elif message.action == "resolve":
                transition = domain.resolve(incident, message.actor, now)
            elif message.action == "hold":
                transition = quiet_times.move_hold(incident, message.as_of or now, now, message.content)
            elif message.action == "escalate":
                policy = self.runtime.policies.get(incident.escalation_policy_id, self.runtime.reader)
                transition = domain.escalate(incident, policy, message.actor, now, message.level,
                                             self.host.paging, message.page_seq)
            elif message.action == "policy_edited":
                self._follow_policy_edit(incident, message, now)
                return
            elif message.action == "reply_received":
                transition = domain.reply_received(incident, message.actor, message.content)
            elif message.action == "acceptor_deleted":
                policy = self.runtime.policies.get(incident.escalation_policy_id, self.runtime.reader)
                transition = domain.acceptor_deleted(incident, policy, message.actor.user_id or 0,
                                                     message.actor.name, now, self.host.paging)
            else:
                transition = domain.comment(incident, message.content, message.actor)
        except ApiError as error:
            message.reply(Outcome(error=error))
            return
        self._apply(transition, message.reply, now)

    def _follow_policy_edit(self, incident: Incident, message: IncidentCommand, now: datetime) -> None:
        """The edit's move, once: committed with the end of what the edit owes the incident. One it
        no longer owes (moved before a restart, told twice) moves nothing. A user's delete recorded
        as an edit reaches the level again if nobody it paged is left."""
        edit = message.edit
        # What this incident wrote last is committed before the store is asked what it owes.
        self.host.flush_writes()
        self.runtime.committer.wait_flushed(self.id)
        if edit is None or not policy_move_owed(self.id, edit.id):
            self._apply(Transition(incident), message.reply, now)
            return
        if edit.deleted_user is not None:
            policy = self.runtime.policies.get(incident.escalation_policy_id, self.runtime.reader)
            transition = reach_level_again(incident, policy, edit.deleted_user,
                                           responders_left(self.id), now, self.host.paging)
        else:
            transition = follow_policy_edit(incident, edit.before, edit.after, now, self.host.paging)
        self._apply(transition, message.reply, now,
                    also=(self.runtime.statements.policy_move_made(self.id, edit.id),))

    def _escalation_due(self, now: datetime, decide: Callable[..., Transition] = domain.escalation_due
                        ) -> None:
        """A deadline that fires late, twice, or after accept changes nothing: the state decides.
        `now` is the instant the host read for its whole batch of escalations. `decide` is the
        rule: the deadline's, or `look_again`'s (someone may be reachable before it)."""
        if self.state is None:
            return
        held = self._hold_still(self.state, now)
        if held is not None:
            self._apply(held, None, now)
            return
        policy = self.runtime.policies.get(self.state.escalation_policy_id, self.runtime.reader)
        transition = decide(self.state, policy, now, self.host.paging)
        if transition.changed:
            self._apply(transition, None, now)
        else:
            self._sync_timer()

    def _hold_still(self, incident: Incident, now: datetime) -> Transition | None:
        """A hold that ends now, moved on if the source's quiet times hold it now (a window it was
        not placed by: the next of a chain, or one the daemon was stopped through the hold's end
        into); None: released, or not a hold that ends now."""
        due = incident.next_escalation_at
        if incident.escalation_level != HELD or due is None or due > now:
            return None
        windows = self.runtime.maintenance.current(now)
        return quiet_times.hold_still(incident, windows, support_hours_of(incident.alert_source_id), now)

    def _look_again(self) -> None:
        self._escalation_due(self.runtime.clock.now(), domain.look_again)

    # --- effects -----------------------------------------------------------------------------

    def _apply(self, transition: Transition, reply: Reply | None, now: datetime,
               ingest: IngestEvent | None = None, opening: bool = False, also: tuple[Statement, ...] = ()
               ) -> None:
        """Queue the transition's writes (and `also`, in the same transaction); once committed,
        answer and hand its due pages on. `now` is the instant the transition was decided at: its
        log entries and pages bear it."""
        before = None if opening else self.state
        before_row = None if before is None else self.row or store.incident_row(before)
        incident = transition.incident
        self.state = incident
        statements = self.runtime.statements
        writes = []
        row = self.row = store.incident_row(incident)
        if before_row is None:
            writes.append(statements.insert_incident_row(row))
        elif before is not incident:
            update = statements.update_incident_row(before_row, row)
            if update is not None:
                writes.append(update)
        if ingest is not None:
            writes.append(statements.event({
                "incident": incident.id, "event_type": ingest.event.event_type,
                "alert_key": incident.alert_key, "received_at": ingest.received_at or now,
                "integration": ingest.integration, "payload": ingest.payload,
            }))
        writes.extend(statements.log(r) for r in store.log_rows(incident.id, transition.log, now))
        for method in transition.muted:
            # Not a row of the outbox: the user's mute kept the page from being planned at all.
            self.runtime.metrics.notification(method.lower(), MUTED)
        if transition.cancel_pages:
            what = "resolved" if incident.status == "RESOLVED" else "accepted"
            writes.append(statements.log_cancelled_pages(incident.id, now, what))
            writes.append(statements.cancel_pages(incident.id))
        pages = [*transition.pages, *self._status_updates(transition, now)]
        numbered = [(self.runtime.notification_ids.next(), page) for page in pages]
        writes.extend(
            statements.notification({
                "id": notification_id, "incident": incident.id, "user_id": page.user_id,
                "kind": page.kind, "method": page.method, "target": page.target, "level": page.level,
                "due_at": page.due_at, "sent_at": None, "status": "SCHEDULED", "attempts": 0,
                "error_message": None, "created_at": now, "fallback": page.fallback,
            })
            for notification_id, page in numbered
        )
        writes.extend(also)
        outcome = Outcome(incident.id, incident.alert_key, transition.response_code)
        closed = None
        if not incident.is_open and (before is None or before.is_open):
            closed = IncidentClosed(incident.id, incident.alert_source_id, incident.key_identity)
        done = self._on_commit(outcome, reply, numbered, closed)
        self.host.submit(WriteUnit(incident.id, tuple(writes), done))
        self._sync_timer(may_be_armed=not opening)

    def _status_updates(self, transition: Transition, now: datetime) -> tuple[PlannedPage, ...]:
        """Who asked to hear of an accept, resolve or manual escalation by someone else."""
        for entry in transition.log:
            update = STATUS_UPDATES.get(entry.log_entry_type)
            if update is None or (entry.log_entry_type == "ESCALATED" and entry.user_id is None):
                continue
            # Pages of this incident still queued for the store count as paged too.
            self.host.flush_writes()
            self.runtime.committer.wait_flushed(self.id)
            paged = paged_user_ids(self.id)
            found = self.runtime.people.get_many(paged, self.runtime.reader)
            people = [found[user_id] for user_id in paged if user_id in found]
            return update_pages(update, entry.user_id, people, now, self.runtime.pages.channels)
        return ()

    def _on_commit(self, outcome: Outcome, reply: Reply | None, pages: list[tuple[int, PlannedPage]],
                   closed: IncidentClosed | None) -> Callable[[BaseException | None], None]:
        """Runs on the writer's thread after the COMMIT: the pages' rows exist from now on, so a
        channel never waits for the store, and a crash before this point sends nothing. The
        supervisor lets go of a closed incident's key only now: a close the store refused leaves
        the incident open, and the key's next events must still reach it."""
        host, incident_id = self.host, self.id

        def done(error: BaseException | None) -> None:
            if error is not None:
                logger.error("incident %s: write failed (%s); reloading", incident_id, error,
                             extra=ids(incident_id=incident_id))
                with contextlib.suppress(pykka.ActorDeadError):
                    host.directory.tell(incident_id, Reload(incident_id, store_failed(error)))
                if reply is not None:
                    reply(Outcome(error=STORE_FAILED))
                return
            if closed is not None:
                send_if_alive(host.supervisor, closed, host.tracker)
            if reply is not None:
                reply(outcome)
            dispatcher = host.runtime.pages
            for notification_id, page in pages:
                dispatcher.arm(notification_id, incident_id, page.method, page.target, page.due_at)

        return done

    def _sync_timer(self, may_be_armed: bool = True) -> None:
        """The escalation timer follows the state: armed exactly while the incident is due to escalate.
        An incident opened just now has no timer to disarm (and the clock's lock is contended)."""
        incident = self.state
        key = escalation_timer_key(self.id)
        if incident is not None and incident.status == "PENDING" and incident.next_escalation_at:
            self.host.arm(key, incident.next_escalation_at, self.host.directory.escalation_callback(self.id))
        elif may_be_armed:
            self.runtime.clock.disarm(key)

