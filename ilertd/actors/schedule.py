"""Schedule actors: one per schedule, owning its current shift, its hand-off timer and its shift reminders.

A schedule actor is a virtual actor like an incident's: a plain object, and all of them live in
one `ScheduleHost` (one thread), which delivers their messages and timers to them. Each holds
who is on call now and arms one clock timer for the next moment that can change anything: the
next hand-off, or the end of the stretch for which reminders are planned (`PLAN_AHEAD`),
whichever comes first. At a hand-off it logs who is now on call; ahead of each shift it stores a
reminder for every duty rule of the incoming user (once: the store's unique key) and hands it to
the channel actor of its method.

Paging does not ask these actors who is on call: incident actors read the same history through
the shared `ScheduleDirectory`, a pure function of the stored schedule, so an escalation never
waits on a schedule's mailbox.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import pykka

from ilertd.actors.base import TrackedActor, send_if_alive
from ilertd.actors.messages import Ping, ReminderDue, ScheduleChanged, ScheduleTick
from ilertd.actors.runtime import Runtime
from ilertd.domain import schedule_history, shift_reminders
from ilertd.domain.schedule_history import History
from ilertd.domain.shift_reminders import PlannedReminder
from ilertd.domain.timeutil import format_instant
from ilertd.store.committer import WRITE_RETRY
from ilertd.store.db import store_failed
from ilertd.store.outbox import store_reminder
from ilertd.store.people import duty_rules
from ilertd.store.schedules import schedule_exists, schedule_ids

logger = logging.getLogger(__name__)

PLAN_AHEAD = timedelta(hours=1)
# How far one look reaches: past every reminder that can fall due before the next tick.
LOOK_AHEAD = PLAN_AHEAD + shift_reminders.LONGEST_LEAD


class ScheduleActor:
    def __init__(self, runtime: Runtime, schedule_id: int, host: pykka.ActorRef[Any]) -> None:
        self.runtime = runtime
        self.schedule_id = schedule_id
        self.host = host
        self.on_call: int | None = None
        self.reminder_keys: set[tuple[Any, ...]] = set()

    @property
    def tick_key(self) -> tuple[str, int]:
        return ("schedule", self.schedule_id)

    def activate(self) -> None:
        try:
            self._look(starting=True)
        except Exception:
            # One schedule that cannot be read must not keep the daemon from starting; paging
            # reads schedules on its own, and the next write to this one makes it look again.
            logger.exception("schedule %s: could not plan its hand-offs and reminders", self.schedule_id)

    def passivate(self) -> None:
        self.runtime.clock.disarm(self.tick_key)
        for key in self.reminder_keys:
            self.runtime.clock.disarm(key)

    def receive(self, message: Any) -> None:
        try:
            match message:
                case ScheduleChanged():
                    self._look(starting=False)
                case ScheduleTick(when=when):
                    self._look(starting=False, since=when)
                case ReminderDue(reminder=reminder):
                    self._remind(reminder)
                case _:
                    logger.warning("schedule %s ignored unexpected message %r", self.schedule_id, message)
        except Exception as error:
            # Its timer has fired: the store refusing the reminder, or failing a read, left the
            # reminder unsent or the hour unplanned for good. Anything else is a fault that
            # trying again would only repeat (the actor base logs it).
            if not store_failed(error):
                raise
            self._again(message, error)

    def _again(self, message: Any, error: Exception) -> None:
        """`message` once more, WRITE_RETRY from now, under its own timer key; a look that
        failed is a tick again (reminders are planned from where the last plan ended)."""
        logger.error("schedule %s: %r failed (%s); tried again in %d s", self.schedule_id, message, error,
                     WRITE_RETRY.total_seconds())
        host, tracker, clock = self.host, self.runtime.tracker, self.runtime.clock
        if isinstance(message, ReminderDue):
            key = ("reminder", self.schedule_id, message.reminder.rule.id, message.reminder.shift.start)
            self.reminder_keys.add(key)
        else:
            key = self.tick_key
            since = message.when if isinstance(message, ScheduleTick) else None
            message = ScheduleTick(self.schedule_id, since or clock.now())
        clock.arm(key, clock.now() + WRITE_RETRY, lambda _when: send_if_alive(host, message, tracker))

    def _history(self) -> History | None:
        return self.runtime.schedules.history(self.schedule_id)

    def _look(self, starting: bool, since: datetime | None = None) -> None:
        """Who is on call now, when that changes next, and which reminders fall due before then.

        Reminders are planned for shifts starting from `since` (the previous plan's end, on a
        tick; now, otherwise).
        """
        history = self._history()
        clock = self.runtime.clock
        for key in self.reminder_keys:
            clock.disarm(key)
        self.reminder_keys.clear()
        if history is None:
            clock.disarm(self.tick_key)
            return
        now = clock.now()
        history = schedule_history.in_effect_at(history, now)
        seen = schedule_history.outlook(history, now, now + LOOK_AHEAD, since)
        if starting or seen.on_call != self.on_call:
            shift = schedule_history.on_call_shift(history, now)
            until = f" until {format_instant(shift.end)}" if shift else ""
            logger.info("schedule %s: %s on call%s%s", self.schedule_id, self._who(seen.on_call), until,
                        "" if starting else f" (hand-off from {self._who(self.on_call)})")
        self.on_call = seen.on_call
        horizon = now + PLAN_AHEAD
        tick_at = min(seen.next_change, horizon) if seen.next_change is not None else horizon
        host, tracker, schedule_id = self.host, self.runtime.tracker, self.schedule_id
        clock.arm(self.tick_key, tick_at,
                  lambda when: send_if_alive(host, ScheduleTick(schedule_id, when), tracker))
        rules = duty_rules({s.user for s in seen.starts})
        for planned in shift_reminders.plan(seen.starts, rules, now, tick_at):
            key = ("reminder", self.schedule_id, planned.rule.id, planned.shift.start)
            self.reminder_keys.add(key)
            message = ReminderDue(schedule_id, planned)
            clock.arm(key, planned.due_at,
                      lambda _when, message=message: send_if_alive(host, message, tracker))

    def _remind(self, planned: PlannedReminder) -> None:
        history = self._history()
        if history is None:
            return
        rules = duty_rules({planned.rule.user_id}).get(planned.rule.user_id, [])
        # Judged on the history `_look` planned it from: a schedule stamped by a clock ahead of
        # this one is in effect now, and its reminders were all dropped as "before it began".
        in_effect = schedule_history.in_effect_at(history, self.runtime.clock.now())
        if not shift_reminders.still_due(in_effect, planned, rules):
            return
        now = self.runtime.clock.now()
        rule = planned.rule
        notification_id = self.runtime.notification_ids.next()
        stored = store_reminder(self.runtime.db, {
            "id": notification_id, "incident": None, "user_id": rule.user_id, "method": rule.method,
            "target": rule.target, "due_at": now, "created_at": now, "schedule_id": self.schedule_id,
            "rule_id": rule.id, "shift_start": planned.shift.start, "shift_end": planned.shift.end,
        })
        if stored:
            self.runtime.pages.arm(notification_id, None, rule.method, rule.target, now)

    @staticmethod
    def _who(user: int | None) -> str:
        return "nobody" if user is None else f"user {user}"


class ScheduleHost(TrackedActor):
    """Holds every schedule actor (schedules are few and each always has a timer armed)."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime.tracker)
        self.runtime = runtime
        self.actors: dict[int, ScheduleActor] = {}

    def on_start(self) -> None:
        for schedule_id in schedule_ids():
            self._changed(schedule_id)

    def on_stop(self) -> None:
        for actor in self.actors.values():
            actor.passivate()
        self.actors.clear()
        self.runtime.db.close()

    def handle(self, message: Any) -> Any:
        match message:
            case ScheduleChanged(schedule_id=None):
                for actor in list(self.actors.values()):
                    actor.receive(message)
            case ScheduleChanged(schedule_id=schedule_id):
                self._changed(schedule_id)
            case ScheduleTick(schedule_id=schedule_id) | ReminderDue(schedule_id=schedule_id):
                actor = self.actors.get(schedule_id)
                if actor is not None:
                    actor.receive(message)
            case Ping():
                return True
            case _:
                return super().handle(message)
        return None

    def _changed(self, schedule_id: int) -> None:
        """After a write to the schedule (committed): its actor looks again, is activated, or goes."""
        self.runtime.schedules.invalidate(schedule_id)
        exists = schedule_exists(schedule_id)
        actor = self.actors.get(schedule_id)
        if exists and actor is None:
            self.actors[schedule_id] = actor = ScheduleActor(self.runtime, schedule_id, self.actor_ref)
            actor.activate()
        elif exists and actor is not None:
            actor.receive(ScheduleChanged(schedule_id))
        elif actor is not None:
            del self.actors[schedule_id]
            actor.passivate()


class ScheduleActors:
    """The schedule actors' host: started with the daemon, told of every committed schedule write."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._host: pykka.ActorRef[Any] | None = None

    def start_all(self) -> None:
        self._host = ScheduleHost.start(self.runtime)
        self._host.ask(Ping(), timeout=60)

    def changed(self, schedule_id: int) -> None:
        """After a write to the schedule (committed): the actor looks again, is started, or stops."""
        self.runtime.schedules.invalidate(schedule_id)
        if self._host is not None:
            send_if_alive(self._host, ScheduleChanged(schedule_id), self.runtime.tracker)

    def duties_changed(self) -> None:
        """A user's duty rules changed: every schedule plans its reminders again."""
        if self._host is not None:
            send_if_alive(self._host, ScheduleChanged(), self.runtime.tracker)

    def stop_all(self) -> None:
        if self._host is not None:
            try:
                self._host.stop(block=True, timeout=10)
            except pykka.Timeout:
                logger.error("the schedule host did not stop in time")
            self._host = None
