"""Incidents: list, read, accept, resolve, comment, log entries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ilertd.app.incidents import incident_or_404
from ilertd.domain.timeutil import RANGE, format_instant, parse_instant
from ilertd.errors import invalid
from ilertd.store.incidents import IncidentFilters, incidents_page, latest_comment, log_entries_page
from ilertd.store.outbox import notifications_page
from ilertd.store.people import usernames
from ilertd.web.auth import authenticate
from ilertd.web.http import json_object, paging, parse_id, path_id, threaded
from ilertd.web.services import Services
from ilertd.web.views import incidents_json, log_entry_json, notification_json

STATES = ("PENDING", "ACCEPTED", "RESOLVED")


def _listed(request: Request, name: str) -> str | None:
    """A list parameter given comma-separated, repeated (`states=PENDING&states=ACCEPTED`, as
    PagerDuty's clients send them), or both: its values joined; None when absent or empty. A value
    of commas and blanks alone (a script joining an empty list) is empty too: it matched nothing,
    and `200 []` read as "no incidents"."""
    given = [value for value in request.query_params.getlist(name) if value.replace(",", "").strip()]
    return ",".join(given) if given else None


def _id_list(request: Request, name: str) -> list[int] | None:
    raw = _listed(request, name)
    if raw is None:
        return None
    ids = [parse_id(p.strip()) for p in raw.split(",") if p.strip()]
    if None in ids:
        raise invalid(name, f"{name} must be a comma-separated list of ids")
    return [i for i in ids if i is not None]


def _instant(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return parse_instant(raw)
    except ValueError:
        raise invalid(name, f"{name} must be an ISO-8601 instant {RANGE}") from None


def _states(request: Request) -> list[str] | None:
    states = _listed(request, "states")
    if not states:
        return None
    wanted = [s.strip().upper() for s in states.split(",") if s.strip()]
    if any(s not in STATES for s in wanted):
        raise invalid("states", f"states must be among {', '.join(STATES)}")
    return wanted


def routes(services: Services) -> list[Route]:
    def one(incident_id: int) -> JSONResponse:
        return JSONResponse(incidents_json([incident_or_404(incident_id)], services.public_url)[0])

    def list_incidents(request: Request, _body: bytes) -> Response:
        authenticate(request)
        start, size = paging(request)
        filters = IncidentFilters(_states(request), _id_list(request, "sources"), _instant(request, "from"),
                                  _instant(request, "until"))
        return JSONResponse(incidents_json(incidents_page(filters, start, size), services.public_url))

    def get_incident(request: Request, _body: bytes) -> Response:
        authenticate(request)
        return one(path_id(request))

    def act(request: Request, body: bytes, action: str) -> Response:
        principal = authenticate(request)
        incident_id = path_id(request)
        # Accept and resolve take no body; what a client sends along is not read.
        reads_body = action in ("comment", "escalate")
        document = json_object(body, required=action == "comment") if reads_body else {}
        services.app.incidents.act(principal, incident_id, action, document)
        if action != "comment":
            return one(incident_id)
        entry = latest_comment(incident_id, principal.user_id, document.get("content"))
        return JSONResponse(
            {"id": entry.id, "content": entry.text, "creator": {"id": principal.user_id,
             "username": principal.username}, "reportTime": format_instant(entry.timestamp)},
            status_code=201,
        )

    def accept(request: Request, body: bytes) -> Response:
        return act(request, body, "accept")

    def resolve(request: Request, body: bytes) -> Response:
        return act(request, body, "resolve")

    def add_comment(request: Request, body: bytes) -> Response:
        return act(request, body, "comment")

    def escalate(request: Request, body: bytes) -> Response:
        return act(request, body, "escalate")

    def children(request: Request, page: Callable[[int, int, int], list[Any]],
                 to_json: Callable[[Any, dict[int, str]], dict[str, Any]]) -> Response:
        """A page of an incident's notifications or log entries, each with its user's name."""
        authenticate(request)
        incident_id = path_id(request)
        incident_or_404(incident_id)
        start, size = paging(request)
        rows = page(incident_id, start, size)
        names = usernames({r.user_id for r in rows})
        return JSONResponse([to_json(r, names) for r in rows])

    def notifications(request: Request, _body: bytes) -> Response:
        return children(request, notifications_page, notification_json)

    def log_entries(request: Request, _body: bytes) -> Response:
        return children(request, log_entries_page, log_entry_json)

    return [
        Route("/api/incidents", threaded(list_incidents), methods=["GET"]),
        Route("/api/incidents/{id}", threaded(get_incident), methods=["GET"]),
        Route("/api/incidents/{id}/accept", threaded(accept), methods=["PUT"]),
        Route("/api/incidents/{id}/resolve", threaded(resolve), methods=["PUT"]),
        Route("/api/incidents/{id}/comments", threaded(add_comment), methods=["POST"]),
        Route("/api/incidents/{id}/escalate", threaded(escalate), methods=["PUT"]),
        Route("/api/incidents/{id}/notifications", threaded(notifications), methods=["GET"]),
        Route("/api/incidents/{id}/log-entries", threaded(log_entries), methods=["GET"]),
    ]

