"""Schedules as the API reads them, as histories, and the shared cache paging asks who is on call."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, time, timedelta
from typing import Any

from ilertd.domain import schedule_history as history_rules
from ilertd.domain.schedule_history import History, Version
from ilertd.domain.schedules import Layer, Override, Restriction, Schedule, Shift, StaticShift, Weekday
from ilertd.domain.timeutil import parse_instant
from ilertd.store import models as m
from ilertd.store.cache import GuardedCache
from ilertd.store.db import held

logger = logging.getLogger(__name__)


def schedule(schedule_id: int) -> m.Schedule | None:
    return m.Schedule.get_or_none(m.Schedule.id == schedule_id)


def schedule_exists(schedule_id: int) -> bool:
    return schedule(schedule_id) is not None


def schedule_ids() -> list[int]:
    return [schedule_id for (schedule_id,) in m.Schedule.select(m.Schedule.id).tuples()]


def existing_schedule_ids(ids: Iterable[int]) -> set[int]:
    """Those of `ids` that name a schedule; in a transaction, held there (`store.db.held`)."""
    query = m.Schedule.select(m.Schedule.id).where(m.Schedule.id.in_(sorted(ids))).order_by(m.Schedule.id)
    return {i for (i,) in held(query).tuples()}


def schedules_page(start: int, size: int) -> list[m.Schedule]:
    return list(m.Schedule.select().order_by(m.Schedule.id).offset(start).limit(size))


def all_schedules() -> list[m.Schedule]:
    return list(m.Schedule.select().order_by(m.Schedule.id))


def schedules_named(name: str) -> list[m.Schedule]:
    """The schedules with this name, by id (names are not unique in the store)."""
    return list(m.Schedule.select().where(m.Schedule.name == name).order_by(m.Schedule.id))


def current_definitions(ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each schedule's definition in force now (its latest version), in one query."""
    versions = (m.ScheduleVersion.select(m.ScheduleVersion.schedule, m.ScheduleVersion.definition)
                .where(m.ScheduleVersion.schedule.in_(ids))
                .order_by(m.ScheduleVersion.effective_from, m.ScheduleVersion.id).tuples())
    return dict(versions)  # the latest version of each schedule comes last and wins


def override(schedule_id: int, override_id: int) -> m.ScheduleOverride | None:
    return m.ScheduleOverride.get_or_none(
        (m.ScheduleOverride.id == override_id) & (m.ScheduleOverride.schedule == schedule_id)
    )


def overrides_by_start(schedule_id: int) -> list[m.ScheduleOverride]:
    return list(m.ScheduleOverride.select().where(m.ScheduleOverride.schedule == schedule_id)
                .order_by(m.ScheduleOverride.start, m.ScheduleOverride.id))


def user_overrides_ending_after(user_id: int, after: datetime) -> list[m.ScheduleOverride]:
    """The user's overrides not over by `after` (running or to come), by schedule and start."""
    return list(m.ScheduleOverride.select()
                .where((m.ScheduleOverride.user_id == user_id) & (m.ScheduleOverride.end > after))
                .order_by(m.ScheduleOverride.schedule, m.ScheduleOverride.start, m.ScheduleOverride.id))


def load_history(schedule_id: int) -> tuple[Any, History] | None:
    """The schedule's row and its whole history, or None when it does not exist."""
    row = schedule(schedule_id)
    if row is None:
        return None
    versions = tuple(
        Version(
            history_rules.BEGINNING if index == 0 else version.effective_from,
            to_schedule(row.id, row.name, row.type, row.timezone, version.definition),
        )
        for index, version in enumerate(
            m.ScheduleVersion.select().where(m.ScheduleVersion.schedule == schedule_id)
            .order_by(m.ScheduleVersion.effective_from, m.ScheduleVersion.id)
        )
    )
    overrides = tuple(
        Override(o.id, o.user_id, o.start, o.end)
        for o in m.ScheduleOverride.select().where(m.ScheduleOverride.schedule == schedule_id)
        .order_by(m.ScheduleOverride.id)
    )
    return row, History(versions, overrides, begins=row.created_at)


def to_schedule(
    schedule_id: int, name: str, kind: str, timezone: str, definition: dict[str, Any]
) -> Schedule:
    """The pure model of one version (without overrides)."""
    layers = tuple(
        Layer(
            name=layer["name"],
            users=tuple(layer["users"]),
            rotation=layer["rotation"],
            starts_on=datetime.fromisoformat(layer["startsOn"]),
            ends_on=datetime.fromisoformat(layer["endsOn"]) if layer.get("endsOn") else None,
            restrictions=tuple(
                Restriction(Weekday[r["from"]["dayOfWeek"]], time.fromisoformat(r["from"]["time"]),
                            Weekday[r["to"]["dayOfWeek"]], time.fromisoformat(r["to"]["time"]))
                for r in layer.get("restrictions", [])
            ),
        )
        for layer in definition.get("scheduleLayers", [])
    )
    static = tuple(
        StaticShift(s["user"], parse_instant(s["start"]), parse_instant(s["end"]))
        for s in definition.get("shifts", [])
    )
    return Schedule(schedule_id, name, kind, timezone, layers, static)  # type: ignore[arg-type]


# How far ahead `on_call_changes` looks: a week and a day covers every weekly restriction.
ON_CALL_LOOKAHEAD = timedelta(days=8)


class ScheduleDirectory:
    """Histories by schedule id, loaded once and dropped by every write to that schedule.

    Shards ask it who is on call while escalating, so it must answer without a query most of the
    time; `GuardedCache` says why a load that raced with a write is not kept.
    """

    def __init__(self) -> None:
        self._cache: GuardedCache[int, History | None] = GuardedCache()
        # The last shift `on_call` found per schedule, with the history it came from: a storm of
        # escalations asks about the same instant thousands of times, and a shift answers for
        # every instant inside it (one `on_call_shift` ~0.4 ms, then a comparison).
        self._shifts: dict[int, tuple[History, Shift]] = {}
        # False on a follower: the leader's writes never reach this cache, so every read loads.
        self.keeping = True

    def history(self, schedule_id: int) -> History | None:
        if not self.keeping:
            loaded = load_history(schedule_id)
            return loaded[1] if loaded else None
        found, missing, generation = self._cache.lookup((schedule_id,))
        if not missing:
            return found[schedule_id]
        loaded = load_history(schedule_id)
        history = loaded[1] if loaded else None
        self._cache.keep(generation, {schedule_id: history})
        return history

    def invalidate(self, schedule_id: int | None = None) -> None:
        self._cache.invalidate(schedule_id)

    def name(self, schedule_id: int) -> str:
        """How the incident log names the schedule (its id if it is gone or cannot be read)."""
        try:
            history = self.history(schedule_id)
        except Exception:
            history = None
        return history.versions[-1].schedule.name if history is not None else f"schedule {schedule_id}"

    def on_call(self, schedule_id: int, at: datetime) -> int | None:
        """Who is on call; a schedule that cannot be read counts as nobody, so its level
        escalates at once (NOBODY_ON_CALL) instead of the incident failing to open or escalate."""
        try:
            return self._on_call(schedule_id, at)
        except Exception:
            logger.exception("schedule %s cannot be read; paging takes it as nobody on call", schedule_id)
            return None

    def on_call_changes(self, schedule_id: int, at: datetime) -> datetime | None:
        """The first instant after `at` at which who is on call changes (someone comes on, or hands
        over), within ON_CALL_LOOKAHEAD; None if it does not, or the schedule cannot be read."""
        try:
            history = self.history(schedule_id)
            if history is None:
                return None
            in_effect = history_rules.in_effect_at(history, at)
            for shift in history_rules.shifts(in_effect, at, at + ON_CALL_LOOKAHEAD):
                for instant in (shift.start, shift.end):
                    if at < instant < at + ON_CALL_LOOKAHEAD:
                        return instant
        except Exception:
            logger.exception("schedule %s cannot be read; paging takes it as nobody on call", schedule_id)
        return None

    def _on_call(self, schedule_id: int, at: datetime) -> int | None:
        history = self.history(schedule_id)
        if history is None:
            return None
        known = self._shifts.get(schedule_id)
        if known is not None and known[0] is history and known[1].start <= at < known[1].end:
            return known[1].user
        shift = history_rules.on_call_shift(history_rules.in_effect_at(history, at), at)
        if shift is None:
            return None
        self._shifts[schedule_id] = (history, shift)
        return shift.user
