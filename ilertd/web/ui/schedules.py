"""The web UI's schedules: the list, one schedule's next 14 days per layer and in the end, its overrides."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import Response
from starlette.routing import Route

from ilertd.app.schedules import schedule_or_404
from ilertd.domain import schedule_history, schedule_view
from ilertd.domain.local_time import local_to_utc, zone_info
from ilertd.domain.schedule_history import History
from ilertd.domain.schedules import Shift
from ilertd.domain.timeutil import format_instant, parse_instant
from ilertd.errors import ApiError, not_found
from ilertd.store.people import usernames, users_page
from ilertd.store.schedules import all_schedules, overrides_by_start
from ilertd.web.ui.core import Page, Ui, View, local_time
from ilertd.web.ui.notices import Notice

# What the schedule page draws, from now on.
WINDOW = timedelta(days=14)
# Bars take one of this many colours, by the order their users first appear on the page.
TONES = 8
# The override form lists users up to this many; an install with more types the rest in the API.
USERS_LISTED = 1000
# What a `<input type="datetime-local">` sends: minutes, seconds optional.
LOCAL_INPUT = "%Y-%m-%dT%H:%M"


@dataclass(frozen=True)
class Bar:
    """One shift drawn on a lane: its place and length as percentages of the window."""

    user_id: int
    username: str
    start: datetime
    end: datetime
    left: float
    width: float
    tone: int


@dataclass(frozen=True)
class Tick:
    """A local midnight in the viewer's zone, where a new day begins on the lanes."""

    left: float
    label: str
    at: datetime


@dataclass(frozen=True)
class Row:
    """A line of a shift table: a user from..until, or nobody (a gap)."""

    user_id: int | None
    username: str
    start: datetime
    end: datetime


def history_or_404(ui: Ui, schedule_id: int) -> History:
    history = ui.services.schedules.history(schedule_id)
    if history is None:
        raise not_found("schedule", schedule_id)
    return history


def on_call_and_next(history: History, now: datetime) -> tuple[Shift | None, Shift | None]:
    """Who is on call now (the whole merged shift, as `user-on-call` reports it) and who comes next."""
    current = schedule_history.on_call_shift(history, now)
    start = current.end if current is not None else now
    upcoming = schedule_history.shifts(history, start, start + WINDOW)
    following = next((s for s in upcoming if current is None or s.user != current.user
                      or s.start > current.end), None)
    return current, following


def bars(shifts: Iterable[Shift], start: datetime, end: datetime, names: dict[int, str],
         tones: dict[int, int]) -> list[Bar]:
    span = (end - start).total_seconds()
    drawn = []
    for shift in shifts:
        tone = tones.setdefault(shift.user, len(tones) % TONES)
        left = (shift.start - start).total_seconds() / span * 100
        width = (shift.end - shift.start).total_seconds() / span * 100
        drawn.append(Bar(shift.user, names.get(shift.user, f"user {shift.user}"), shift.start, shift.end,
                         round(left, 3), round(width, 3), tone))
    return drawn


def day_ticks(start: datetime, end: datetime, zone: ZoneInfo) -> list[Tick]:
    span = (end - start).total_seconds()
    day = start.astimezone(zone).date() + timedelta(days=1)
    ticks = []
    while (at := local_to_utc(datetime.combine(day, time()), zone)) < end:
        ticks.append(Tick(round((at - start).total_seconds() / span * 100, 3), day.strftime("%a %d"), at))
        day += timedelta(days=1)
    return ticks


def with_gaps(shifts: list[Shift], start: datetime, end: datetime, names: dict[int, str]) -> list[Row]:
    """The shifts as table rows, with a row for each span nobody is on call."""
    rows: list[Row] = []
    reached = start
    for shift in shifts:
        if shift.start > reached:
            rows.append(Row(None, "", reached, shift.start))
        rows.append(Row(shift.user, names.get(shift.user, f"user {shift.user}"), shift.start, shift.end))
        reached = shift.end
    if reached < end:
        rows.append(Row(None, "", reached, end))
    return rows


def local_input(at: datetime, zone: ZoneInfo) -> str:
    """An instant as a datetime-local field shows it, rounded up to the minute (the field has no seconds,
    and a start rounded down would lie in the past)."""
    local = at.astimezone(zone)
    if local.second or local.microsecond:
        local = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return local.strftime(LOCAL_INPUT)


def read_local(text: str, zone: ZoneInfo) -> str:
    """A datetime-local field's value, read in `zone`, as the API's instant text; the text as it came
    when it is no date-time, so the application layer refuses it as it refuses the API's input."""
    try:
        local = datetime.fromisoformat(text.strip())
        if local.tzinfo is not None:
            return text
        return format_instant(local_to_utc(local, zone)) or text
    except (ValueError, OverflowError):
        return text


def routes(ui: Ui) -> list[Route]:
    services = ui.services

    def schedule_list(view: View) -> Page:
        now = services.clock.now()
        rows = all_schedules()
        histories = {row.id: services.schedules.history(row.id) for row in rows}
        # A schedule deleted since the list was read is left out rather than failing the page.
        rows = [row for row in rows if histories[row.id] is not None]
        current = {row.id: schedule_history.on_call_shift(histories[row.id], now) for row in rows}
        names = usernames({s.user for s in current.values() if s is not None})
        return Page("schedules.html", {
            "now": now,
            "schedules": [{"id": row.id, "name": row.name, "type": row.type, "timezone": row.timezone,
                           "on_call": current[row.id],
                           "username": names.get(current[row.id].user, "") if current[row.id] else ""}
                          for row in rows],
        })

    def schedule_page(view: View, schedule_id: int, form: dict[str, str] | None = None,
                      error: str = "", status: int = 200) -> Page:
        row = schedule_or_404(schedule_id)
        history = history_or_404(ui, schedule_id)
        now = services.clock.now()
        end = now + WINDOW
        final = schedule_history.shifts(history, now, end)
        lanes = schedule_view.lanes(history, now, end)
        overridden = schedule_view.override_shifts(history, now, end)
        overrides = [o for o in overrides_by_start(schedule_id) if o.end > now]
        current, following = on_call_and_next(history, now)
        names = usernames({s.user for s in final} | {s.user for lane in lanes for s in lane.shifts}
                          | {o.user_id for o in overrides}
                          | {s.user for s in (current, following) if s is not None})
        tones: dict[int, int] = {}
        can_override = view.principal.is_admin  # the application layer's rule for overrides
        users = [(u.id, u.username) for u in users_page(0, USERS_LISTED)] if can_override else []
        users.sort(key=lambda u: u[1].lower())
        night_start, night_end = schedule_view.tonight(now, zone_info(row.timezone))
        preset = {"user": str(view.principal.user_id), "start": local_input(night_start, view.zone),
                  "end": local_input(night_end, view.zone)}
        return Page("schedule.html", {
            "schedule": row, "now": now, "until": end,
            "ticks": day_ticks(now, end, view.zone),
            "lanes": [{"name": lane.name, "bars": bars(lane.shifts, now, end, names, tones),
                       "rows": with_gaps(list(lane.shifts), now, end, names)} for lane in lanes],
            "overridden": bars(overridden, now, end, names, tones),
            "final": bars(final, now, end, names, tones),
            "final_rows": with_gaps(final, now, end, names),
            "current": current, "following": following, "names": names,
            "overrides": [{"id": o.id, "user_id": o.user_id, "username": names.get(o.user_id, ""),
                           "start": o.start, "end": o.end, "running": o.start <= now} for o in overrides],
            "can_override": can_override, "users": users,
            "night": (night_start, night_end),
            "form": form or preset, "error": error,
        }, status)

    def show(view: View) -> Page:
        return schedule_page(view, view.path_int())

    def started(start: str) -> str:
        """The start typed, or now if it is a minute or two past (see `override_start`)."""
        try:
            at = parse_instant(start)
        except ValueError:
            return start
        return format_instant(schedule_view.override_start(at, services.clock.now())) or start

    def add_override(view: View) -> Page | Response:
        schedule_id = view.path_int()
        row = schedule_or_404(schedule_id)
        form = {name: view.form.get(name)[:64] for name in ("user", "start", "end")}
        if view.form.get("preset") == "tonight":
            # Worked out when the button is pressed: a page left open since the evening began
            # would otherwise offer a start already past.
            start, end = schedule_view.tonight(services.clock.now(), zone_info(row.timezone))
            body: dict[str, Any] = {"user": {"id": view.principal.user_id},
                                    "start": format_instant(start), "end": format_instant(end)}
        else:
            picked = form["user"]
            # Anything but a number goes to the application layer as given, which refuses it.
            user_id: Any = int(picked) if picked.isdigit() and len(picked) < 19 else picked
            body = {"user": {"id": user_id}, "start": started(read_local(form["start"], view.zone)),
                    "end": read_local(form["end"], view.zone)}
        try:
            created = services.app.schedules.add_override(view.principal, schedule_id, body)
        except ApiError as refused:
            if refused.status != 400:
                raise
            message = refused.message
            if refused.field in ("start", "end") and body[refused.field] == form[refused.field]:
                message = f"{refused.field.title()} must be a date and time."
            return schedule_page(view, schedule_id, form if "preset" not in view.form else None, message, 400)
        name = usernames({created.user_id}).get(created.user_id, "")
        shown = (name, local_time(created.start, view.zone), local_time(created.end, view.zone))
        return ui.redirect(f"/ui/schedules/{schedule_id}", Notice("schedule-override-added", shown))

    def delete_override(view: View) -> Page | Response:
        schedule_id = view.path_int()
        try:
            services.app.schedules.delete_override(view.principal, schedule_id, view.path_int("oid"))
        except ApiError as refused:
            if refused.status != 409:
                raise
            return schedule_page(view, schedule_id, error=refused.message, status=409)
        return ui.redirect(f"/ui/schedules/{schedule_id}", Notice("schedule-override-removed"))

    return [
        Route("/ui/schedules", ui.endpoint(schedule_list), methods=["GET"]),
        Route("/ui/schedules/{id}", ui.endpoint(show), methods=["GET"]),
        Route("/ui/schedules/{id}/overrides", ui.endpoint(add_override), methods=["POST"]),
        Route("/ui/schedules/{id}/overrides/{oid}/delete", ui.endpoint(delete_override), methods=["POST"]),
    ]
