"""Maintenance windows, their checks and writes; and the holds moved when quiet times change."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ilertd.app import fields as v
from ilertd.app.auth import Principal, require_admin
from ilertd.app.context import Context
from ilertd.app.schema import ArrayOf, Instant, ObjectSpec, Text
from ilertd.domain.quiet_times import SupportHours, hold_end, parse_support_hours
from ilertd.domain.timeutil import RANGE, format_instant
from ilertd.errors import invalid, not_found
from ilertd.store import models as m
from ilertd.store.db import write_transaction
from ilertd.store.incidents import held_incidents
from ilertd.store.quiet_times import MaintenanceCache, window
from ilertd.store.sources import existing_source_ids, source

logger = logging.getLogger(__name__)

MAX_SOURCES = 1000
# One retiming at a time: two changes committed at once each retimed after its COMMIT, and the
# first one's hold, read before the second committed, could reach the incident last.
_RETIMING = threading.Lock()

_WHEN = Instant(message="{name} is required: an ISO-8601 instant " + RANGE)
WINDOW_BODY = ObjectSpec(title="MaintenanceWindowBody", fields={
    "summary": Text(max_length=1000, nonblank=True),
    "start": _WHEN,
    "end": Instant(message=_WHEN.message, description="after start"),
    "alertSources": ArrayOf(item=v.REF, min_items=1, max_items=MAX_SOURCES,
                            description="existing alert sources"),
}, on_create=("summary", "start", "end", "alertSources"), description="An update changes the fields given.")


def window_or_404(window_id: int) -> m.MaintenanceWindow:
    row = window(window_id)
    if row is None:
        raise not_found("maintenance window", window_id)
    return row


def _instant(body: dict[str, Any], name: str) -> datetime:
    return WINDOW_BODY[name].read(body, name)  # type: ignore[no-any-return]


class MaintenanceWindows:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _fields(self, body: dict[str, Any], current: m.MaintenanceWindow | None) -> dict[str, Any]:
        merged = {
            "summary": current.summary, "start": current.starts_at, "end": current.ends_at,
            "alertSources": [{"id": i} for i in current.alert_source_ids],
        } if current is not None else {}
        fields: dict[str, Any] = {}
        summary = WINDOW_BODY.read(body, "summary", creating=current is None)
        fields["summary"] = summary if summary is not None else merged["summary"]
        fresh = current is None
        fields["starts_at"] = _instant(body, "start") if fresh or "start" in body else merged["start"]
        fields["ends_at"] = _instant(body, "end") if fresh or "end" in body else merged["end"]
        if fields["ends_at"] <= fields["starts_at"]:
            raise invalid("end", "end must be after start")
        if current is not None and "alertSources" not in body:
            # An older store kept the ids of sources deleted since: they cover nothing.
            kept = existing_source_ids(current.alert_source_ids)
            merged["alertSources"] = [ref for ref in merged["alertSources"] if ref["id"] in kept]
        refs = body.get("alertSources", merged.get("alertSources"))
        sources: ArrayOf = WINDOW_BODY["alertSources"]
        if not isinstance(refs, list) or len(refs) < sources.min_items:
            raise invalid("alertSources", "alertSources must be a non-empty array of {id} objects")
        if len(refs) > (sources.max_items or len(refs)):
            raise invalid("alertSources", f"a window covers at most {sources.max_items} alert sources")
        ids = list(dict.fromkeys(v.REF.read(ref, f"alertSources[{i}]") for i, ref in enumerate(refs)))
        v.all_exist(existing_source_ids, ids, "alertSources", "alert source")
        fields["alert_source_ids"] = ids
        return fields

    def create(self, caller: Principal, body: dict[str, Any]) -> m.MaintenanceWindow:
        require_admin(caller)
        now = self.ctx.now()
        with write_transaction(self.ctx.db):
            # Its sources held: one deleted meanwhile (which leaves its windows) is seen here.
            fields = self._fields(body, None)
            # A window already over would hold nothing: most likely a date or time zone mistyped.
            if fields["ends_at"] <= now:
                raise invalid("end", f"end {format_instant(fields['ends_at'])} is not after now "
                                     f"({format_instant(now)}): a window already over would hold nothing")
            row = m.MaintenanceWindow.create(**fields)
        retime_holds(self.ctx, row.alert_source_ids, "Maintenance window created")
        return row

    def update(self, caller: Principal, window_id: int, body: dict[str, Any]) -> m.MaintenanceWindow:
        require_admin(caller)
        WINDOW_BODY.refuse_nulls(body)
        before = window_or_404(window_id)
        with write_transaction(self.ctx.db):
            fields = self._fields(body, before)
            m.MaintenanceWindow.update(**fields).where(m.MaintenanceWindow.id == window_id).execute()
        after = window_or_404(window_id)
        retime_holds(self.ctx, {*before.alert_source_ids, *after.alert_source_ids},
                     "Maintenance window changed")
        return after

    def delete(self, caller: Principal, window_id: int) -> None:
        require_admin(caller)
        before = window_or_404(window_id)
        with write_transaction(self.ctx.db):
            m.MaintenanceWindow.delete().where(m.MaintenanceWindow.id == window_id).execute()
        retime_holds(self.ctx, before.alert_source_ids, "Maintenance window deleted")


def retime_holds(ctx: Context, source_ids: Iterable[int] | None, reason: str) -> None:
    """The quiet times of these sources (None: of any) changed: a window written or deleted,
    support hours edited, here or by another process. Each incident they hold is held by them as
    they are now (`quiet_times.hold_end`), and one that nothing holds any more starts escalating
    at once."""
    with _RETIMING:
        _retime(ctx, source_ids, reason)


def _retime(ctx: Context, source_ids: Iterable[int] | None, reason: str) -> None:
    ctx.maintenance.invalidate()
    moves = holds_to_move(ctx.maintenance, source_ids, ctx.now())
    if not moves:
        return
    # All at once: moved one by one (each waiting for the last), what a window ended early held
    # was released incident by incident, where its end releases it all together.
    for (incident_id, _), change in zip(moves, ctx.move_holds(moves, reason), strict=True):
        refusal = change.refusal
        # The CLI, or a follower: the leading daemon moves it when it sees the change.
        if refusal is not None and refusal.code not in ("UNAVAILABLE", "NOT_LEADER"):
            logger.warning("incident %s: the hold was not moved: %s", incident_id, refusal.message)


def holds_to_move(maintenance: MaintenanceCache, source_ids: Iterable[int] | None,
                  now: datetime) -> list[tuple[int, datetime]]:
    """(incident, when its hold ends now) of each incident these sources (None: any) hold whose
    hold `quiet_times.hold_end` now puts elsewhere: `now` for one that nothing holds any more."""
    windows = maintenance.current(now)
    hours: dict[int, SupportHours | None] = {}
    moves = []
    for incident_id, source_id, _opened_at, held_until in held_incidents(source_ids):
        if source_id not in hours:
            row = source(source_id)
            hours[source_id] = parse_support_hours(row.support_hours) if row and row.support_hours else None
        until = hold_end(source_id, windows, hours[source_id], now)
        # Most are held as they should be: when another process's change is seen, at a start.
        if max(until, now) != held_until:
            moves.append((incident_id, until))
    return moves
