"""Incident hosts: the few pykka actors (one thread each) that hold the active incident actors.

A host activates an incident actor from the store on its first message, keeps it while it has
work and passivates it when idle or when the host is full (its state is already committed), so
"one actor per incident" holds at 100,000 open incidents with a handful of threads. Which host
owns an incident is fixed by its id; the `HostDirectory` finds the live host for an incident,
delivers due escalation timers to it straight from the clock, and starts a new host in place of
one that died.

Escalation timers that fire while their host is busy wait in its box and are taken as one batch:
the batch's incidents, policies and people are read in one query each, not one per incident.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import datetime, timedelta
from typing import Any

import pykka

from ilertd.actors.base import Tracked, TrackedActor, send
from ilertd.actors.clock import TimerCallback
from ilertd.actors.incident import IncidentActor, escalation_timer_key
from ilertd.actors.messages import (
    DueBox,
    EscalationDue,
    EscalationsDue,
    EventForIncident,
    EvictIdle,
    HeldCount,
    HostBatch,
    HostFailed,
    IncidentCommand,
    LookAgain,
    OpenIncident,
    Outcome,
    Ping,
    Reload,
)
from ilertd.actors.runtime import Runtime
from ilertd.domain import incidents as domain
from ilertd.domain.incidents import Paging
from ilertd.errors import ApiError
from ilertd.logs import ids
from ilertd.store import incidents as store
from ilertd.store.committer import WRITE_RETRY, WriteQueue, WriteUnit
from ilertd.store.outbox import last_sent_seq
from ilertd.tracker import WorkTracker

logger = logging.getLogger(__name__)

INTERNAL = ApiError(500, "INTERNAL_ERROR", "the change failed; see the log")


class IncidentHost(TrackedActor):
    def __init__(self, runtime: Runtime, supervisor: pykka.ActorRef[Any], directory: HostDirectory,
                 index: int, capacity: int, idle_seconds: int) -> None:
        super().__init__(runtime.tracker)
        self.runtime = runtime
        self.supervisor = supervisor
        self.directory = directory
        self.index = index
        self.capacity = max(1, capacity)
        self.idle = timedelta(seconds=idle_seconds)
        self.actors: OrderedDict[int, IncidentActor] = OrderedDict()
        self.last_used: dict[int, datetime] = {}
        # While a batch runs: the timers it arms, armed at its end in one hold of the clock's lock,
        # and its writes, queued at its end (or before anyone waits for them) in one submit.
        self.timers: list[tuple[Hashable, datetime, TimerCallback]] | None = None
        self.writes: WriteQueue | None = None

    def on_stop(self) -> None:
        self.runtime.db.close()

    def on_failure(self, *_exc_info: Any) -> None:
        """Hand what waits in the mailbox to the supervisor, which starts a new host for it."""
        pending = []
        while not self.actor_inbox.empty():
            envelope = self.actor_inbox.get()
            if isinstance(envelope.message, Tracked):
                pending.append(envelope.message.message)
                self.tracker.end()
        send(self.supervisor, HostFailed(self.index, tuple(pending)), self.tracker)
        self.runtime.db.close()

    # --- the actors this host holds ------------------------------------------------------------

    def _hold(self, actor: IncidentActor) -> IncidentActor:
        self.actors[actor.id] = actor
        self.actors.move_to_end(actor.id)
        self.last_used[actor.id] = self.runtime.clock.now()
        self.directory.holding[self.index] = True
        while len(self.actors) > self.capacity:
            passivated, _ = self.actors.popitem(last=False)
            del self.last_used[passivated]
        return actor

    def _activate(self, incident_id: int) -> IncidentActor:
        actor = self.actors.get(incident_id)
        if actor is None:
            # Writes still queued for this incident land before it is read back.
            self.flush_writes()
            self.runtime.committer.wait_flushed(incident_id)
            actor = IncidentActor(incident_id, store.load_incident(self.runtime.reader, incident_id), self)
        return self._hold(actor)

    def _passivate(self, incident_id: int) -> None:
        self.actors.pop(incident_id, None)
        self.last_used.pop(incident_id, None)

    def _passivate_idle(self) -> None:
        cutoff = self.runtime.clock.now() - self.idle
        for incident_id in [i for i, used in self.last_used.items() if used <= cutoff]:
            self._passivate(incident_id)
        self.directory.holding[self.index] = bool(self.actors)

    # --- messages ------------------------------------------------------------------------------

    def handle(self, message: Any) -> Any:
        try:
            return self._handle(message)
        except Exception:
            # Whoever waits for this change (a command) hears now, not after their timeout.
            reply = getattr(message, "reply", None)
            if reply is not None:
                reply(Outcome(error=INTERNAL))
            raise

    def _handle(self, message: Any) -> Any:
        match message:
            case OpenIncident() | EventForIncident():
                self._event(message)
            case IncidentCommand(incident_id=incident_id) | LookAgain(incident_id=incident_id):
                self._activate(incident_id).receive(message)
            case HostBatch(messages=messages):
                self._batch(messages)
            case EscalationsDue(box=box):
                self._escalations(box.take())
            case EscalationDue():
                self._escalations([message])
            case Reload(incident_id=incident_id, soon=soon):
                self._passivate(incident_id)
                if soon:
                    # Its state is the store's again, deadline included. A look at it soon pages
                    # as soon as the store takes writes, where the sweep, which skips what it
                    # handed on within 30 s, came up to a minute later; early is harmless (the
                    # state decides). A statement that failed would only fail again so often.
                    clock = self.runtime.clock
                    clock.arm(escalation_timer_key(incident_id), clock.now() + WRITE_RETRY,
                              self.directory.escalation_callback(incident_id))
            case EvictIdle():
                self._passivate_idle()
            case HeldCount():
                return len(self.actors)
            case Ping():
                return True
            case _:
                return super().handle(message)
        return None

    def _batch(self, messages: tuple[OpenIncident | EventForIncident | IncidentCommand, ...]) -> None:
        """A payload's events, or commands sent together, for this host's incidents, in their
        order: their writes are queued in one submit and their timers armed in one hold of the
        clock's lock (holds released together then escalate as one batch, as at a window's end)."""
        commanded = self._loaded([m.incident_id for m in messages if isinstance(m, IncidentCommand)])
        self.timers, self.writes = [], WriteQueue(self.runtime.committer)
        try:
            for message in messages:
                if isinstance(message, IncidentCommand):
                    self._command(commanded[message.incident_id], message)
                else:
                    self._event(message)
        finally:
            self._end_batch()

    def _command(self, actor: IncidentActor, message: IncidentCommand) -> None:
        """One command of a batch; one that fails is answered at once and its incident read again
        on its next message, the rest of the batch going on."""
        try:
            self._hold(actor).receive(message)
        except Exception:
            logger.exception("incident %s: a command failed", actor.id, extra=ids(incident_id=actor.id))
            message.reply(Outcome(error=INTERNAL))
            self._passivate(actor.id)

    def _loaded(self, incident_ids: list[int]) -> dict[int, IncidentActor]:
        """The actors of these incidents: those not held read in one query (not one each)."""
        found = {i: self.actors[i] for i in incident_ids if i in self.actors}
        missing = [i for i in dict.fromkeys(incident_ids) if i not in found]
        if missing:
            # Writes still queued for these incidents land before they are read back.
            self.runtime.committer.wait_flushed_all(missing)
            loaded = store.load_incidents(self.runtime.reader, missing)
            found.update({i: IncidentActor(i, loaded.get(i), self) for i in missing})
        return found

    def _event(self, message: OpenIncident | EventForIncident) -> None:
        """An event reaches its incident actor. If it fails, its sender hears at once and its
        incident is read again from the store on its next message; the host, the other incidents
        it holds and the rest of a batch go on (the host itself is not what failed)."""
        incident_id = message.incident_id
        try:
            if isinstance(message, OpenIncident):
                self._hold(IncidentActor(incident_id, None, self)).receive(message)
            else:
                self._activate(incident_id).receive(message)
        except Exception:
            logger.exception("incident %s: an event failed", incident_id, extra=ids(incident_id=incident_id))
            message.ingest.reply(Outcome(error=INTERNAL))
            self._passivate(incident_id)

    def _end_batch(self) -> None:
        """Queue the batch's writes, then arm its timers."""
        self.flush_writes()
        self.writes = None
        timers, self.timers = self.timers, None
        self.runtime.clock.arm_many(timers or [])

    def _escalations(self, due: list[EscalationDue]) -> None:
        """Escalations that fell due together: their incidents, policies and people are read in one
        query each (about 5 ms of the interpreter lock per escalation went to reading them one at a
        time), then each incident actor receives its deadline as a lone timer would bring it."""
        runtime, reader = self.runtime, self.runtime.reader
        incident_ids = list(dict.fromkeys(d.incident_id for d in due))
        batch = self._loaded(incident_ids)
        actors = [batch[i] for i in incident_ids]
        now = runtime.clock.now()
        states = [a.state for a in actors if a.state is not None]
        runtime.policies.load_missing((s.escalation_policy_id for s in states), reader)
        runtime.people.get_many([
            user_id for state in states
            for user_id in domain.escalation_user_ids(
                state, runtime.policies.get(state.escalation_policy_id, reader), now,
                runtime.schedules.on_call)
        ], reader)
        self.timers, self.writes = [], WriteQueue(runtime.committer)
        try:
            for actor in actors:
                self._hold(actor)
                try:
                    actor.receive(EscalationDue(actor.id, now))
                except Exception:
                    # One incident's failure must not hold back the batch; the sweep fires it again.
                    logger.exception("incident %s: escalation failed", actor.id,
                                     extra=ids(incident_id=actor.id))
        finally:
            self._end_batch()

    # --- what incident actors use --------------------------------------------------------------

    @property
    def paging(self) -> Paging:
        reader, people = self.runtime.reader, self.runtime.people
        schedules = self.runtime.schedules
        return Paging(person=lambda user_id: people.get(user_id, reader), on_call=schedules.on_call,
                      schedule_name=schedules.name, on_call_changes=schedules.on_call_changes,
                      channels=self.runtime.pages.channels, messages_sent=lambda: last_sent_seq(reader))

    def submit(self, unit: WriteUnit) -> None:
        """Queue an actor's write: at once, or with the running batch's (see WriteQueue)."""
        if self.writes is None:
            self.runtime.committer.submit(unit)
        else:
            self.writes.submit(unit)

    def flush_writes(self) -> None:
        """Queue the running batch's writes so far: before anyone waits for them to land."""
        if self.writes is not None:
            self.writes.flush()

    def arm(self, key: Hashable, when: datetime, callback: TimerCallback) -> None:
        if self.timers is not None:
            self.timers.append((key, when, callback))
        elif self.runtime.clock.armed_at(key) != when:
            self.runtime.clock.arm(key, when, callback)


class HostDirectory:
    """The incident hosts by index: which one owns an incident, and a new one in place of one that died.

    Timers and the sweep deliver escalations through here, straight to the owning host's box.
    """

    def __init__(self, count: int, tracker: WorkTracker, clock_now: Callable[[], datetime]) -> None:
        self.count = count
        self.tracker = tracker
        self._now = clock_now
        self._lock = threading.Lock()
        self._refs: list[pykka.ActorRef[Any]] = []
        self._boxes = [DueBox[EscalationDue]() for _ in range(count)]
        self._start: Callable[[int], pykka.ActorRef[Any]] | None = None
        # Escalations handed to a host lately: during a backlog they wait in its box, and the
        # sweep must not take them for deadlines whose timer was lost.
        self._handed: dict[int, datetime] = {}
        # Whether each host may hold an incident actor: set by the host, read by the sweep, which
        # asks only those to passivate their idle actors.
        self.holding = [False] * count

    def start(self, start_host: Callable[[int], pykka.ActorRef[Any]]) -> None:
        self._start = start_host
        self._refs = [start_host(index) for index in range(self.count)]
        for ref in self._refs:
            ref.ask(Ping(), timeout=30)

    def index(self, incident_id: int) -> int:
        return incident_id % self.count

    def refs(self) -> list[pykka.ActorRef[Any]]:
        with self._lock:
            return list(self._refs)

    def tell(self, incident_id: int, message: Any) -> None:
        self.tell_host(self.index(incident_id), message)

    def tell_host(self, index: int, message: Any) -> None:
        with self._lock:
            ref = self._refs[index]
        try:
            send(ref, message, self.tracker)
        except pykka.ActorDeadError:
            # Died before the supervisor heard: start its successor now; the message goes there.
            send(self.restart(index, ref), message, self.tracker)

    def restart(self, index: int, dead: pykka.ActorRef[Any] | None = None) -> pykka.ActorRef[Any]:
        """A live host at `index`: a new one if the one there is `dead` (or not alive)."""
        assert self._start is not None
        with self._lock:
            ref = self._refs[index]
            if (dead is None or ref is dead) and not ref.is_alive():
                logger.error("incident host %d died; starting another in its place", index)
                ref = self._refs[index] = self._start(index)
            return ref

    def escalation_due(self, incident_id: int, when: datetime) -> None:
        """Put the escalation in its host's box; the host is told only when the box was empty."""
        index = self.index(incident_id)
        with self._lock:
            self._handed[incident_id] = self._now()
        box = self._boxes[index]
        if box.put(EscalationDue(incident_id, when)):
            try:
                self.tell_host(index, EscalationsDue(box))
            except pykka.ActorDeadError:
                logger.warning("escalation of incident %s due while stopping", incident_id,
                               extra=ids(incident_id=incident_id))

    def escalation_callback(self, incident_id: int) -> TimerCallback:
        return lambda when: self.escalation_due(incident_id, when)

    def recently_handed(self, incident_id: int, since: datetime) -> bool:
        with self._lock:
            handed = self._handed.get(incident_id)
        return handed is not None and handed >= since

    def forget_handed_before(self, cutoff: datetime) -> None:
        with self._lock:
            self._handed = {i: at for i, at in self._handed.items() if at >= cutoff}

    def forget_handed_to(self, index: int) -> None:
        """The host at `index` died: what it was handed may be lost with it."""
        with self._lock:
            self._handed = {i: at for i, at in self._handed.items() if self.index(i) != index}

    def stop_all(self) -> None:
        with self._lock:
            refs = list(self._refs)
        # Ask goes down: each host finishes its mailbox before it stops.
        for ref in refs:
            try:
                ref.stop(block=True, timeout=30)
            except pykka.Timeout:
                logger.error("an incident host did not stop in time")
