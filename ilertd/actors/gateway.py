"""The actors as the application layer reaches them: incident actors, channels, heartbeat checks.

The application layer sits below the actors and may not import them; its `Context` takes these
methods instead, and the daemon hands them over. Each finds the actor it needs as it is now (a
node that follows has no supervisor; a promoted one gets a new one).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import pykka

from ilertd.actors.ask import ask_all_blocking, ask_blocking
from ilertd.actors.base import send
from ilertd.actors.heartbeat import HeartbeatChanged
from ilertd.actors.messages import (
    IncidentCommand,
    IncidentCommands,
    MakeOwedPolicyMoves,
    SomeoneMayBeReachable,
)
from ilertd.actors.runtime import Runtime
from ilertd.app.context import IncidentChange
from ilertd.app.unsent_pages import MovedPage
from ilertd.domain.incidents import SYSTEM, Actor
from ilertd.domain.policy_edits import PolicyEdit
from ilertd.errors import NOT_LEADER, ApiError
from ilertd.store.outbox import store_test_page


class ActorGateway:
    def __init__(self, runtime: Runtime, supervisor: Callable[[], Any], heartbeats: Callable[[], Any]
                 ) -> None:
        self.runtime = runtime
        self._supervisor = supervisor
        self._heartbeats = heartbeats
        # (supervisor, flag set while a look of the waiting incidents waits in its box): one per
        # supervisor, so a look lost with a stopped one never holds back the next one's.
        self._look: tuple[Any, threading.Event] | None = None

    def incident_action(self, incident_id: int, action: str, actor: Actor, content: str,
                        level: int | None, as_of: datetime | None, page_seq: int | None
                        ) -> IncidentChange:
        """The change, committed, or its refusal."""
        supervisor = self._supervisor()
        if supervisor is None:
            return IncidentChange(NOT_LEADER)
        outcome = ask_blocking(supervisor, self.runtime.tracker, lambda reply: IncidentCommand(
            incident_id, action, actor, reply, content, level, as_of, page_seq))  # type: ignore[arg-type]
        return IncidentChange(outcome.error, outcome.response_code)  # type: ignore[arg-type]

    def move_holds(self, moves: Sequence[tuple[int, datetime]], reason: str) -> list[IncidentChange]:
        """Each (incident, when its hold now ends), all told at once, so that what a window ended
        early releases escalates together, as at the window's end; each change, in order."""
        supervisor = self._supervisor()
        if supervisor is None:
            return [IncidentChange(NOT_LEADER)] * len(moves)
        outcomes = ask_all_blocking(supervisor, self.runtime.tracker, [
            lambda reply, incident=incident_id, until=until: IncidentCommand(
                incident, "hold", SYSTEM, reply, reason, as_of=until)  # type: ignore[arg-type]
            for incident_id, until in moves], IncidentCommands)
        return [IncidentChange(o.error, o.response_code) for o in outcomes]  # type: ignore[arg-type]

    def policy_edited(self, edit: PolicyEdit, incident_ids: list[int]) -> None:
        """Each of these incidents escalating by the policy edited goes on from its level in the
        policy as the edit left it (see ilertd.domain.policy_edits), one after the other. Without
        a supervisor, the moves are left to the next leader's start."""
        supervisor = self._supervisor()
        if supervisor is None:
            return
        tracker = self.runtime.tracker
        for incident_id in incident_ids:
            ask_blocking(supervisor, tracker, lambda reply, incident=incident_id: IncidentCommand(
                incident, "policy_edited", SYSTEM, reply, edit=edit))  # type: ignore[arg-type]

    def policy_moves_owed(self) -> None:
        """Another process recorded moves owed: the supervisor has them made (told, not waited for)."""
        supervisor = self._supervisor()
        if supervisor is None:
            return
        # Stopping: the moves stay owed, made at the next leader's start.
        with contextlib.suppress(pykka.ActorDeadError):
            send(supervisor, MakeOwedPolicyMoves(), self.runtime.tracker)

    def reachability_changed(self) -> None:
        """Someone may be reachable now: the supervisor has the incidents waiting for someone look
        again, once for however many writes came before it got to it."""
        supervisor = self._supervisor()
        if supervisor is None:
            return
        if self._look is None or self._look[0] is not supervisor:
            self._look = (supervisor, threading.Event())
        queued = self._look[1]
        if queued.is_set():
            return
        queued.set()
        try:
            send(supervisor, SomeoneMayBeReachable(queued), self.runtime.tracker)
        except pykka.ActorDeadError:
            # Stopping: the write is committed, and a waiting incident's own look still comes.
            queued.clear()

    def pages_moved(self, pages: list[MovedPage]) -> None:
        """Pages now due at another target: their timers go to that target's channel actor."""
        if self._supervisor() is None:
            return
        dispatcher = self.runtime.pages
        for page in pages:
            dispatcher.arm(page.notification_id, page.incident_id, page.method, page.target, page.due_at)

    def test_page(self, user_id: int, method: str, target: str) -> int:
        """Queue a test page to a contact and hand it to its channel actor now."""
        if self._supervisor() is None:
            raise NOT_LEADER
        runtime = self.runtime
        notification_id = runtime.notification_ids.next()
        store_test_page(runtime.db, notification_id, user_id, method, target, runtime.clock.now())
        runtime.pages.arm(notification_id, None, method, target, runtime.clock.now())
        return notification_id

    def heartbeat_changed(self, monitor_id: int, recovered: bool) -> ApiError | None:
        """The monitor's timer moves; a recovered one's open incidents are resolved, and this waits
        for their RESOLVEs to be committed: their refusal, or None. Without the heartbeat actor (a
        node stopping or not yet leading), a recovery is refused, to be sent again; at its start the
        actor resolves what is left open anyway."""
        heartbeats = self._heartbeats()
        if not recovered:
            if heartbeats is not None:
                send(heartbeats, HeartbeatChanged(monitor_id), self.runtime.tracker)
            return None
        if heartbeats is None:
            return NOT_LEADER
        try:
            outcome = ask_blocking(heartbeats, self.runtime.tracker,
                                   lambda reply: HeartbeatChanged(monitor_id, True, reply))
        except pykka.ActorDeadError:
            return NOT_LEADER
        return outcome.error
