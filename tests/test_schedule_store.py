"""Schedules as the store keeps them: histories read back, and the shared cache paging asks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import peewee

from ilertd.domain import schedule_history
from ilertd.store import models as m
from ilertd.store.schedules import ScheduleDirectory

CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def layer(*users: int) -> dict[str, object]:
    return {"scheduleLayers": [{"name": "days", "users": list(users), "rotation": "PT8H",
                                "startsOn": "2026-03-27T07:00:00", "endsOn": None, "restrictions": []}]}


def test_the_directory_answers_as_the_pure_history_does_and_sees_an_edit(db: peewee.Database) -> None:
    schedule = m.Schedule.create(name="s", type="RECURRING", timezone="Europe/Berlin", created_at=CREATED)
    m.ScheduleVersion.create(schedule=schedule.id, effective_from=schedule_history.BEGINNING,
                             definition=layer(1, 2, 3))
    directory = ScheduleDirectory()
    history = directory.history(schedule.id)
    assert history is not None
    # Every 7 minutes over four days across Berlin's spring change (2026-03-29).
    instants = [datetime(2026, 3, 27, tzinfo=UTC) + timedelta(minutes=7 * i) for i in range(4 * 24 * 60 // 7)]
    assert [directory.on_call(schedule.id, at) for at in instants] == [
        schedule_history.on_call(history, at) for at in instants
    ]
    edit_at = datetime(2026, 3, 30, 12, tzinfo=UTC)
    m.ScheduleVersion.create(schedule=schedule.id, effective_from=edit_at, definition=layer(9))
    assert directory.on_call(schedule.id, edit_at + timedelta(hours=1)) != 9  # not invalidated yet
    directory.invalidate(schedule.id)
    assert directory.on_call(schedule.id, edit_at + timedelta(hours=1)) == 9
    assert directory.on_call(schedule.id, edit_at - timedelta(minutes=1)) in (1, 2, 3)
    assert directory.on_call(999, edit_at) is None
