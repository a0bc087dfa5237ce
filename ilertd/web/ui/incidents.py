"""The web UI's incidents: the live list, one incident with its timeline, and acting on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from ilertd.app.incidents import incident_or_404
from ilertd.domain.incident_model import WAITING
from ilertd.errors import ApiError
from ilertd.store.incidents import IncidentFilters, incidents_page, log_entries_page, log_entry_count
from ilertd.store.outbox import notification_count, notifications_page
from ilertd.store.people import usernames
from ilertd.store.sources import policy, sources_page
from ilertd.web.ui.core import Page, Ui, View
from ilertd.web.ui.notices import Notice
from ilertd.web.views import incidents_json, log_entry_json, notification_json

STATES = ("PENDING", "ACCEPTED", "RESOLVED")
OPEN = ("PENDING", "ACCEPTED")
PAGE_SIZE = 50
# An incident's timeline shows this many log entries and pages, the first TIMELINE_HEAD (how it
# opened) and the newest (how it stands: a flapping incident's resolve came after its 500th event,
# and the page showed none of it); the API pages through the rest.
TIMELINE_LIMIT = 500
TIMELINE_HEAD = 100
# The channel the incident log names for what is done in the UI.
CHANNEL = "WEB"


def first_and_newest(incident_id: int, read: Callable[[int, int, int], list[Any]],
                     count: Callable[[int], int]) -> tuple[list[Any], int]:
    """At most TIMELINE_LIMIT of the incident's rows, the first TIMELINE_HEAD and the newest, and
    how many lie between them, not shown."""
    rows = read(incident_id, 0, TIMELINE_LIMIT + 1)
    if len(rows) <= TIMELINE_LIMIT:
        return rows, 0
    total = count(incident_id)
    newest = read(incident_id, max(total - (TIMELINE_LIMIT - TIMELINE_HEAD), TIMELINE_HEAD),
                  TIMELINE_LIMIT - TIMELINE_HEAD)
    return rows[:TIMELINE_HEAD] + newest, max(total - TIMELINE_HEAD - len(newest), 0)


def list_filters(view: View) -> tuple[list[str], int | None, int]:
    """The list's status filter (default: open), alert source and offset, from the query."""
    given = view.request.query_params.getlist("status") or [",".join(OPEN)]
    wanted = [s for value in given for s in value.upper().split(",") if s in STATES]
    source = view.query.get("source", "")
    start = view.query.get("start", "0")
    return (wanted or list(OPEN), int(source) if source.isdigit() and len(source) < 19 else None,
            min(int(start), 10**9) if start.isdigit() and len(start) < 10 else 0)


def routes(ui: Ui) -> list[Route]:
    public_url = ui.services.public_url

    def listing(view: View) -> dict[str, Any]:
        states, source, start = list_filters(view)
        rows = incidents_page(IncidentFilters(states, [source] if source else None), start, PAGE_SIZE + 1)
        return {"incidents": incidents_json(rows[:PAGE_SIZE], public_url), "states": states,
                "source": source, "start": start, "more": len(rows) > PAGE_SIZE,
                "status_param": ",".join(states), "all_states": STATES}

    def incident_list(view: View) -> Page:
        return Page("incidents.html", {**listing(view), "sources": sources_page(0, 1000)})

    def incident_rows(view: View) -> Page:
        # What the list's script fetches every few seconds: the rows alone.
        return Page("incident_rows.html", listing(view))

    def incident_page(view: View) -> Page:
        row = incident_or_404(view.path_int())
        (shown,) = incidents_json([row], public_url)
        entries, entries_between = first_and_newest(row.id, log_entries_page, log_entry_count)
        pages, pages_between = first_and_newest(row.id, notifications_page, notification_count)
        names = usernames({e.user_id for e in entries} | {p.user_id for p in pages})
        escalation = policy(row.escalation_policy_id) if row.escalation_policy_id is not None else None
        levels = len(escalation.rules or []) if escalation is not None else 0
        return Page("incident.html", {
            "incident": shown, "timeline": [log_entry_json(e, names) for e in entries],
            "pages": [notification_json(p, names) for p in pages], "levels": levels,
            "waiting": row.status == "PENDING" and row.escalation_level == WAITING,
            "head": TIMELINE_HEAD, "entries_between": entries_between, "pages_between": pages_between,
            "refused": "", "refused_action": "", "typed": "",
        })

    def act(view: View, action: str) -> Page | Response:
        incident_id = view.path_int()
        body: dict[str, Any] = {}
        if action == "comment":
            body["content"] = view.form.get("content")
        try:
            if action == "escalate" and view.form.get("level") not in ("", "next"):
                level = view.form.get("level")
                if not level.isdigit() or len(level) > 6:
                    raise ApiError(400, "INVALID_FIELD", "level must be a level of the escalation policy",
                                   field="level")
                body["level"] = int(level)
            ui.services.app.incidents.act(view.principal, incident_id, action, body, channel=CHANNEL)
        except ApiError as error:
            if error.status != 400:
                raise
            # The incident again, the message beside its form and what was typed still there
            # (an error page lost the comment).
            page = incident_page(view)
            page.values.update(refused=error.message, refused_action=action,
                               typed=body.get("content") or "")
            return Page(page.template, page.values, 400)
        done = {"accept": "accepted", "resolve": "resolved", "escalate": "escalated", "comment": "commented"}
        return ui.redirect(f"/ui/incidents/{incident_id}", Notice(done[action]))

    def acting(action: str) -> Any:
        return ui.endpoint(lambda view: act(view, action))

    return [
        Route("/ui/incidents", ui.endpoint(incident_list), methods=["GET"]),
        Route("/ui/incidents/rows", ui.endpoint(incident_rows), methods=["GET"]),
        Route("/ui/incidents/{id}", ui.endpoint(incident_page), methods=["GET"]),
        *(Route(f"/ui/incidents/{{id}}/{action}", acting(action), methods=["POST"])
          for action in ("accept", "resolve", "escalate", "comment")),
    ]
