"""On-call schedules over HTTP: CRUD, who is on call, shifts, overrides, on-calls per policy, iCal feeds."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ilertd.app import bootstrap
from ilertd.app.auth import Principal, require_self_or_admin
from ilertd.app.schedules import schedule_or_404
from ilertd.domain import schedule_history
from ilertd.domain.ical import CalendarEvent, render_calendar, shift_uid
from ilertd.domain.schedule_history import History
from ilertd.domain.schedules import Shift
from ilertd.domain.timeutil import RANGE, format_instant, parse_instant
from ilertd.domain.wording import quoted
from ilertd.errors import ApiError, invalid, not_found
from ilertd.store import models as m
from ilertd.store.people import user, user_exists, usernames
from ilertd.store.schedules import (
    all_schedules,
    current_definitions,
    override,
    overrides_by_start,
    schedules_page,
)
from ilertd.store.sources import all_policies
from ilertd.web.auth import authenticate
from ilertd.web.http import admin_document, paging, path_id, threaded
from ilertd.web.services import Services
from ilertd.web.views import schedule_json, user_ref

_PLUS_AS_SPACE = re.compile(r" (\d{2}(?::?\d{2})?)$")
# A longer window would let one request compute years of hand-offs.
LONGEST_WINDOW = timedelta(days=366)
# The most rows `/api/on-calls` answers: each level naming a schedule repeats its shifts, so a
# year of 15-minute hand-offs named by 80 levels was 2.8 million rows, 465 MB of JSON and 3.7 GB
# of memory for any USER's one request, alert intake slowed meanwhile. A year of hourly shifts
# named by two levels fits.
MOST_ON_CALLS = 20_000
# The most hand-offs one request works out (about 36 us each): the largest schedule the API takes
# (20 layers of 100 users, 15-minute rotations, 50 restrictions each) over a year was 800,000,
# 17-26 s of the daemon for any USER's request, six at once slowing alert intake to a second.
MOST_HANDOFFS = 150_000
# What `shifts` reports when `until` is not given.
DEFAULT_SHIFTS_WINDOW = timedelta(days=7)
# What a calendar feed shows: the recent past and the coming quarter.
FEED_PAST = timedelta(days=30)
FEED_AHEAD = timedelta(days=90)


def feed_token(secret: str, kind: str, ident: int) -> str:
    """A read-only token for one calendar feed: it opens that feed and nothing else."""
    message = f"ilertd-feed:{kind}:{ident}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def routes(services: Services) -> list[Route]:
    known_secret: list[str] = []

    def secret() -> str:
        # The daemon created the key at start; it never changes while it runs.
        if not known_secret:
            known_secret.append(bootstrap.secret_key(services.db, services.config.security.secret_key))
        return known_secret[0]

    schedules = services.app.schedules

    def history_or_404(schedule_id: int) -> History:
        history = services.schedules.history(schedule_id)
        if history is None:
            raise not_found("schedule", schedule_id)
        return history

    def current_definition(schedule_id: int) -> dict[str, Any]:
        return current_definitions([schedule_id]).get(schedule_id, {})

    def instant(request: Request, name: str, default: datetime | None = None) -> datetime:
        raw = request.query_params.get(name)
        if raw is None:
            if default is None:
                raise invalid(name, f"{name} is required")
            return default
        # An unencoded "+01:00" arrives as " 01:00": a query string's plus is a space.
        raw = _PLUS_AS_SPACE.sub(r"+\1", raw.strip())
        try:
            return parse_instant(raw)
        except ValueError:
            raise invalid(name, f"{name} must be an ISO-8601 instant {RANGE}") from None

    def window(request: Request, default_length: timedelta) -> tuple[datetime, datetime]:
        start = instant(request, "from", services.clock.now())
        end = instant(request, "until", start + default_length)
        if end < start:
            raise invalid("until", "until must not be before from")
        if end - start > LONGEST_WINDOW:
            raise invalid("until", "the window from..until is at most 366 days")
        return start, end

    def bounded(history: History, start: datetime, end: datetime) -> None:
        if schedule_history.handoffs(history, start, end) > MOST_HANDOFFS:
            raise invalid("until", f"the window holds more than {MOST_HANDOFFS:,} hand-offs of schedule"
                                   f" {quoted(history.current.name)} to work out: ask for a shorter one")

    def shifts_json(shifts: list[Shift]) -> list[dict[str, Any]]:
        names = usernames({s.user for s in shifts})
        return [{"user": user_ref(s.user, names), "start": format_instant(s.start),
                 "end": format_instant(s.end)} for s in shifts]

    # --- the schedules themselves ----------------------------------------------------------

    def list_schedules(request: Request, _body: bytes) -> Response:
        authenticate(request)
        start, size = paging(request)
        rows = schedules_page(start, size)
        definitions = current_definitions([r.id for r in rows])
        return JSONResponse([schedule_json(r, definitions.get(r.id, {})) for r in rows])

    def get_schedule(request: Request, _body: bytes) -> Response:
        authenticate(request)
        row = schedule_or_404(path_id(request))
        return JSONResponse(schedule_json(row, current_definition(row.id)))

    def create_schedule(request: Request, body: bytes) -> Response:
        row, definition = schedules.create(*admin_document(request, body))
        return JSONResponse(schedule_json(row, definition), status_code=201)

    def update_schedule(request: Request, body: bytes) -> Response:
        caller, document = admin_document(request, body)
        row, definition = schedules.update(caller, path_id(request), document)
        return JSONResponse(schedule_json(row, definition))

    def delete_schedule(request: Request, _body: bytes) -> Response:
        schedules.delete(authenticate(request), path_id(request))
        return Response(status_code=204)

    # --- who is on call --------------------------------------------------------------------

    def user_on_call(request: Request, _body: bytes) -> Response:
        authenticate(request)
        history = history_or_404(path_id(request))
        at = instant(request, "at", services.clock.now())
        shift = schedule_history.on_call_shift(history, at)
        if shift is None:
            return Response(status_code=204)
        return JSONResponse(shifts_json([shift])[0])

    def schedule_shifts(request: Request, _body: bytes) -> Response:
        authenticate(request)
        history = history_or_404(path_id(request))
        start, end = window(request, DEFAULT_SHIFTS_WINDOW)
        bounded(history, start, end)
        return JSONResponse(shifts_json(schedule_history.shifts(history, start, end)))

    def on_calls(request: Request, _body: bytes) -> Response:
        authenticate(request)
        # Without `until`: who is on call at `from`, each schedule's shift whole, as PagerDuty's
        # on-calls report it; a level's own users have no start or end then.
        at_instant = "until" not in request.query_params
        start, end = window(request, timedelta(microseconds=1))
        entries: list[tuple[int, int, int, datetime | None, datetime | None]] = []
        policies = all_policies()
        # A schedule named by many levels is worked out once.
        timelines: dict[int, list[Shift]] = {}
        for policy in policies:
            for level, rule in enumerate(policy.rules):
                entries.extend((policy.id, level, u["id"], None if at_instant else start,
                                None if at_instant else end) for u in rule.get("users", []))
                for ref in rule.get("schedules", []):
                    if ref["id"] not in timelines:
                        history = services.schedules.history(ref["id"])
                        if history is None:
                            timelines[ref["id"]] = []
                        elif at_instant:
                            shift = schedule_history.on_call_shift(history, start)
                            timelines[ref["id"]] = [shift] if shift else []
                        else:
                            bounded(history, start, end)
                            timelines[ref["id"]] = schedule_history.shifts(history, start, end)
                    entries.extend((policy.id, level, s.user, s.start, s.end) for s in timelines[ref["id"]])
                if len(entries) > MOST_ON_CALLS:
                    raise invalid("until", f"the window holds more than {MOST_ON_CALLS:,} on-call entries:"
                                           " ask for a shorter one, or read each schedule's /shifts")
        # Each once: a store from before levels were checked may name a user or schedule twice.
        entries = list(dict.fromkeys(entries))
        names = usernames({e[2] for e in entries})
        policy_names = {p.id: p.name for p in policies}
        entries.sort(key=lambda e: (e[0], e[1], e[3] or start, e[2]))
        return JSONResponse([
            {"escalationPolicy": {"id": p, "name": policy_names[p]}, "escalationLevel": level,
             "user": user_ref(uid, names), "start": format_instant(s), "end": format_instant(e)}
            for p, level, uid, s, e in entries
        ])

    # --- overrides -------------------------------------------------------------------------

    def override_json(row: m.ScheduleOverride, names: dict[int, str]) -> dict[str, Any]:
        return {"id": row.id, "user": user_ref(row.user_id, names), "start": format_instant(row.start),
                "end": format_instant(row.end)}

    def list_overrides(request: Request, _body: bytes) -> Response:
        authenticate(request)
        schedule_id = path_id(request)
        schedule_or_404(schedule_id)
        rows = overrides_by_start(schedule_id)
        names = usernames({r.user_id for r in rows})
        return JSONResponse([override_json(r, names) for r in rows])

    def get_override(request: Request, _body: bytes) -> Response:
        authenticate(request)
        schedule_id, override_id = path_id(request), path_id(request, "oid")
        schedule_or_404(schedule_id)
        row = override(schedule_id, override_id)
        if row is None:
            raise not_found("override", override_id)
        return JSONResponse(override_json(row, usernames({row.user_id})))

    def add_override(request: Request, body: bytes) -> Response:
        caller, document = admin_document(request, body)
        row = schedules.add_override(caller, path_id(request), document)
        return JSONResponse(override_json(row, usernames({row.user_id})), status_code=201)

    def delete_override(request: Request, _body: bytes) -> Response:
        schedules.delete_override(authenticate(request), path_id(request), path_id(request, "oid"))
        return Response(status_code=204)

    # --- calendar feeds --------------------------------------------------------------------

    def feed_access(request: Request, kind: str, ident: int) -> Principal | None:
        """A feed opens with a bearer token, or with its own read-only token in the URL."""
        token = request.query_params.get("token")
        if token is None:
            return authenticate(request)
        if not hmac.compare_digest(token.encode(), feed_token(secret(), kind, ident).encode()):
            raise ApiError(401, "UNAUTHORIZED", "the feed token is not valid for this feed")
        return None

    def feed_shifts(history: History) -> list[Shift]:
        """The feed's window of shifts, the first and last whole: a clipped start would change the
        event's UID on every refresh and make calendar apps replace it."""
        now = services.clock.now()
        past, ahead = FEED_PAST, FEED_AHEAD
        handoffs = schedule_history.handoffs(history, now - past, now + ahead)
        if handoffs > MOST_HANDOFFS:
            # Fewer days of a schedule too busy for the whole window (the largest took 5-10 s of
            # the daemon at each calendar's refresh, with only a feed token).
            share = MOST_HANDOFFS / handoffs
            past, ahead = past * share, ahead * share
        found = schedule_history.shifts(history, now - past, now + ahead)
        if found:
            first = schedule_history.on_call_shift(history, found[0].start)
            last = schedule_history.on_call_shift(history, found[-1].end - timedelta(microseconds=1))
            if first is not None:
                found[0] = Shift(found[0].user, schedule_history.shift_began(history, first), found[0].end)
            if last is not None:
                found[-1] = Shift(found[-1].user, found[-1].start, last.end)
        return found

    def calendar(name: str, events: list[CalendarEvent]) -> Response:
        text = render_calendar(name, events, services.clock.now())
        return Response(text, media_type="text/calendar; charset=utf-8")

    def schedule_feed(request: Request, _body: bytes) -> Response:
        schedule_id = path_id(request)
        feed_access(request, "schedule", schedule_id)
        row = schedule_or_404(schedule_id)
        history = history_or_404(schedule_id)
        shifts = feed_shifts(history)
        names = usernames({s.user for s in shifts})
        return calendar(f"On call: {row.name}", [
            CalendarEvent(shift_uid(schedule_id, s.user, s.start), s.start, s.end,
                          f"{names.get(s.user, f'user {s.user}')} on call ({row.name})")
            for s in shifts
        ])

    def user_feed(request: Request, _body: bytes) -> Response:
        user_id = path_id(request)
        principal = feed_access(request, "user", user_id)
        if principal is not None:
            require_self_or_admin(principal, user_id, "read another user's calendar feed")
        owner = user(user_id)
        if owner is None:
            raise not_found("user", user_id)
        events = []
        for row in all_schedules():
            history = services.schedules.history(row.id)
            if history is None:
                continue
            events.extend(
                CalendarEvent(shift_uid(row.id, s.user, s.start), s.start, s.end, f"On call: {row.name}")
                for s in feed_shifts(history) if s.user == user_id
            )
        events.sort(key=lambda e: (e.start, e.uid))
        return calendar(f"{owner.username}: on-call shifts", events)

    def schedule_feed_url(request: Request, _body: bytes) -> Response:
        authenticate(request)
        schedule_id = path_id(request)
        schedule_or_404(schedule_id)
        token = feed_token(secret(), "schedule", schedule_id)
        return JSONResponse({"url": f"{services.public_url}/api/schedules/{schedule_id}.ics?token={token}"})

    def user_feed_url(request: Request, _body: bytes) -> Response:
        user_id = path_id(request)
        require_self_or_admin(authenticate(request), user_id, "read another user's calendar feed URL")
        if not user_exists(user_id):
            raise not_found("user", user_id)
        token = feed_token(secret(), "user", user_id)
        return JSONResponse({"url": f"{services.public_url}/api/users/{user_id}/shifts.ics?token={token}"})

    return [
        Route("/api/schedules", threaded(list_schedules), methods=["GET"]),
        Route("/api/schedules", threaded(create_schedule), methods=["POST"]),
        Route("/api/schedules/{id:int}.ics", threaded(schedule_feed, access="public"), methods=["GET"]),
        Route("/api/schedules/{id}", threaded(get_schedule), methods=["GET"]),
        Route("/api/schedules/{id}", threaded(update_schedule), methods=["PUT"]),
        Route("/api/schedules/{id}", threaded(delete_schedule), methods=["DELETE"]),
        Route("/api/schedules/{id}/user-on-call", threaded(user_on_call), methods=["GET"]),
        Route("/api/schedules/{id}/shifts", threaded(schedule_shifts), methods=["GET"]),
        Route("/api/schedules/{id}/overrides", threaded(list_overrides), methods=["GET"]),
        Route("/api/schedules/{id}/overrides", threaded(add_override), methods=["PUT", "POST"]),
        Route("/api/schedules/{id}/overrides/{oid}", threaded(get_override), methods=["GET"]),
        Route("/api/schedules/{id}/overrides/{oid}", threaded(delete_override), methods=["DELETE"]),
        Route("/api/schedules/{id}/feed-url", threaded(schedule_feed_url), methods=["GET"]),
        Route("/api/on-calls", threaded(on_calls), methods=["GET"]),
        Route("/api/users/{id:int}/shifts.ics", threaded(user_feed, access="public"), methods=["GET"]),
        Route("/api/users/{id}/feed-url", threaded(user_feed_url), methods=["GET"]),
    ]

