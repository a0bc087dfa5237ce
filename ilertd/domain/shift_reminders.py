"""Shift-start reminders: which duty rules fall due for the shifts about to begin, and when."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ilertd.domain import schedule_history
from ilertd.domain.schedule_history import History
from ilertd.domain.schedules import Shift

BEFORE_MIN_CHOICES: tuple[int, ...] = (0, 15, 30, 60, 180, 360, 720, 1440)
LONGEST_LEAD = timedelta(minutes=max(BEFORE_MIN_CHOICES))


@dataclass(frozen=True)
class DutyRule:
    """A user's wish to hear `before_min` minutes before each of their shifts starts."""

    id: int
    user_id: int
    method: str
    target: str
    before_min: int


@dataclass(frozen=True)
class PlannedReminder:
    rule: DutyRule
    shift: Shift
    due_at: datetime


def plan(starts: Iterable[Shift], rules: Mapping[int, Sequence[DutyRule]], now: datetime,
         until: datetime) -> list[PlannedReminder]:
    """Reminders due before `until` for the shifts in `starts` (see `schedule_history.outlook`),
    ordered by due time.

    A reminder whose moment has passed while its shift is still ahead (the daemon was down, or the
    shift was just created closer than `before_min`) is due now: late is better than never, and
    the store's unique key keeps it from being sent twice.
    """
    planned = []
    for shift in starts:
        for rule in rules.get(shift.user, ()):
            due = shift.start - timedelta(minutes=rule.before_min)
            if due < until:
                planned.append(PlannedReminder(rule, shift, max(due, now)))
    planned.sort(key=lambda p: (p.due_at, p.shift.start, p.rule.id))
    return planned


def still_due(history: History, reminder: PlannedReminder, rules: Sequence[DutyRule]) -> bool:
    """Whether a planned reminder still stands: the same user's shift starts then, and the rule holds."""
    if reminder.rule not in rules:
        return False
    shift = schedule_history.on_call_shift(history, reminder.shift.start)
    return shift is not None and shift.user == reminder.shift.user and shift.start == reminder.shift.start
