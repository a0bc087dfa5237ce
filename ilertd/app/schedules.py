"""On-call schedules and their overrides: checks and writes; an edit applies from now on."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ilertd.app import fields as v
from ilertd.app import schedule_fields
from ilertd.app.auth import Principal, require_admin
from ilertd.app.context import Context
from ilertd.app.schema import Instant, ObjectSpec
from ilertd.domain import schedule_history
from ilertd.domain.schedules import Override, Schedule
from ilertd.domain.timeutil import format_instant
from ilertd.domain.wording import quoted
from ilertd.errors import ApiError, invalid, not_found
from ilertd.store import models as m
from ilertd.store.db import row_held, write_transaction
from ilertd.store.outbox import drop_pending_reminders
from ilertd.store.people import existing_user_ids
from ilertd.store.schedules import load_history, override, schedule, to_schedule
from ilertd.store.sources import policies_paging_schedule

# An override longer than this would let one request compute years of hand-offs.
LONGEST_OVERRIDE = timedelta(days=366)

OVERRIDE_BODY = ObjectSpec(title="OverrideBody", fields={
    "user": v.REF,
    "start": Instant(description="not in the past"),
    "end": Instant(description="after start, at most 366 days later"),
}, required=("user", "start", "end"), description="The user is on call over [start, end) above every layer.")


def schedule_or_404(schedule_id: int) -> m.Schedule:
    row = schedule(schedule_id)
    if row is None:
        raise not_found("schedule", schedule_id)
    return row


def _ref(body: dict[str, Any], name: str) -> int:
    if name not in body:
        raise invalid(name, f"{name} is required")
    return OVERRIDE_BODY[name].read(body[name], name)  # type: ignore[no-any-return]


def _users_exist(definition: dict[str, Any]) -> None:
    v.all_exist(existing_user_ids, sorted(schedule_fields.user_ids(definition)),
                "scheduleLayers" if "scheduleLayers" in definition else "shifts", "user")


class Schedules:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def create(self, caller: Principal, body: dict[str, Any]) -> tuple[m.Schedule, dict[str, Any]]:
        """The new schedule's row and its definition; its first version rules from the beginning,
        the schedule itself from `created_at` (`History.begins`): nobody is on call in it before."""
        require_admin(caller)
        fields, definition = schedule_fields.parse_body(body, None)
        with write_transaction(self.ctx.db):
            # In the writing transaction: a user deleted meanwhile is not written in.
            _users_exist(definition)
            v.name_free(m.Schedule, "schedule", fields["name"])
            row = m.Schedule.create(created_at=self.ctx.now(), **fields)
            m.ScheduleVersion.create(schedule=row.id, effective_from=schedule_history.BEGINNING,
                                     definition=definition)
        self.ctx.schedule_written(row.id)
        return row, definition

    def update(self, caller: Principal, schedule_id: int, body: dict[str, Any]
               ) -> tuple[m.Schedule, dict[str, Any]]:
        """A new version from now on: the versions that ruled before now stay as they were."""
        require_admin(caller)
        schedule_fields.SCHEDULE_BODY.refuse_nulls(body)
        row = schedule_or_404(schedule_id)
        fields, definition = schedule_fields.parse_body(body, row.timezone, row.type)
        now = self.ctx.now()
        version = to_schedule(schedule_id, fields["name"], fields["type"], row.timezone, definition)
        with write_transaction(self.ctx.db):
            # A delete committed meanwhile is a 404 here, not a foreign key's 500 at the version.
            v.held_or_404(m.Schedule, schedule_id, "schedule", exclusive=True)
            _users_exist(definition)
            v.name_free(m.Schedule, "schedule", fields["name"], schedule_id)
            effective_from, kept = self._edit(schedule_id, version, now)
            m.Schedule.update(**fields).where(m.Schedule.id == schedule_id).execute()
            stale = m.ScheduleVersion.schedule == schedule_id
            if kept:
                stale &= m.ScheduleVersion.effective_from.not_in(kept)
            m.ScheduleVersion.delete().where(stale).execute()
            m.ScheduleVersion.create(schedule=schedule_id, effective_from=effective_from,
                                     definition=definition)
        self.ctx.schedule_written(schedule_id)
        return schedule_or_404(schedule_id), definition

    @staticmethod
    def _edit(schedule_id: int, version: Schedule, now: datetime) -> tuple[datetime, list[datetime]]:
        """(where the new version starts, the versions kept): `schedule_history.edit` decides. A
        history that cannot be read (no version left) starts over from the beginning."""
        try:
            loaded = load_history(schedule_id)
        except ValueError:
            loaded = None
        if loaded is None:
            return schedule_history.BEGINNING, []
        edited = schedule_history.edit(loaded[1], version, now)
        return edited.versions[-1].effective_from, [v.effective_from for v in edited.versions[:-1]]

    def delete(self, caller: Principal, schedule_id: int) -> None:
        require_admin(caller)
        with write_transaction(self.ctx.db):
            # Held first: a policy edit naming it meanwhile waits, and is seen here once committed.
            if not row_held(m.Schedule, schedule_id, exclusive=True):
                raise not_found("schedule", schedule_id)
            v.refuse_in_use([quoted(name) for name in policies_paging_schedule(schedule_id)],
                            "escalation policies page this schedule", "remove it there first")
            m.Schedule.delete().where(m.Schedule.id == schedule_id).execute()
            drop_pending_reminders(schedule_id)
        self.ctx.schedule_written(schedule_id)

    def add_override(self, caller: Principal, schedule_id: int, body: dict[str, Any]) -> m.ScheduleOverride:
        require_admin(caller)
        schedule_or_404(schedule_id)
        user_id = _ref(body, "user")
        start = OVERRIDE_BODY["start"].read(body, "start")
        end = OVERRIDE_BODY["end"].read(body, "end")
        now = self.ctx.now()
        if start < now:
            raise invalid("start", f"start {format_instant(start)} is in the past; the past does not change")
        if end <= start:
            raise invalid("end", "end must be after start")
        if end - start > LONGEST_OVERRIDE:
            raise invalid("end", "an override lasts at most 366 days")
        with write_transaction(self.ctx.db):
            v.all_exist(existing_user_ids, [user_id], "user", "user")
            if not row_held(m.Schedule, schedule_id):
                raise not_found("schedule", schedule_id)
            row = m.ScheduleOverride.create(schedule=schedule_id, user_id=user_id, start=start, end=end,
                                            created_at=now)
        self.ctx.schedule_written(schedule_id)
        return row

    def delete_override(self, caller: Principal, schedule_id: int, override_id: int) -> None:
        """Taking an override back ends it now (`schedule_history.end_override`): the past stays."""
        require_admin(caller)
        row = override(schedule_id, override_id)
        if row is None:
            raise not_found("override", override_id)
        try:
            kept = schedule_history.end_override(Override(row.id, row.user_id, row.start, row.end),
                                                 self.ctx.now())
        except ValueError as error:
            raise ApiError(409, "IN_THE_PAST", str(error)) from None
        with write_transaction(self.ctx.db):
            if kept is None:
                row.delete_instance()
            else:
                m.ScheduleOverride.update(end=kept.end).where(m.ScheduleOverride.id == row.id).execute()
        self.ctx.schedule_written(schedule_id)
