"""The web UI's "On call now": who is on call per schedule, and who would be paged per policy level."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.routing import Route

from ilertd.domain.schedules import Shift
from ilertd.store.people import usernames
from ilertd.store.schedules import all_schedules
from ilertd.store.sources import all_policies
from ilertd.web.ui.core import Page, Ui, View
from ilertd.web.ui.schedules import on_call_and_next


@dataclass(frozen=True)
class Paged:
    """Someone a level would page now: one of its own users (no end), or a schedule's on-call user
    until their shift ends; `user_id` None when the schedule has nobody on call."""

    user_id: int | None
    username: str
    schedule_id: int | None
    schedule_name: str
    until: datetime | None


def routes(ui: Ui) -> list[Route]:
    services = ui.services

    def on_call_page(view: View) -> Page:
        # What `GET /api/on-calls` answers without `until`, and `user-on-call` per schedule.
        now = services.clock.now()
        schedules = all_schedules()
        found: dict[int, tuple[Shift | None, Shift | None]] = {}
        for row in schedules:
            history = services.schedules.history(row.id)
            found[row.id] = on_call_and_next(history, now) if history is not None else (None, None)
        policies = all_policies()
        level_users = {u["id"] for p in policies for rule in p.rules for u in rule.get("users", [])}
        names = usernames(level_users | {s.user for pair in found.values() for s in pair if s is not None})
        schedule_names = {row.id: row.name for row in schedules}

        def paged(rule: dict[str, Any]) -> list[Paged]:
            entries = [Paged(u["id"], names.get(u["id"], f"user {u['id']}"), None, "", None)
                       for u in rule.get("users", [])]
            for ref in rule.get("schedules", []):
                shift = found.get(ref["id"], (None, None))[0]
                name = schedule_names.get(ref["id"], f"schedule {ref['id']}")
                if shift is None:
                    entries.append(Paged(None, "", ref["id"], name, None))
                else:
                    username = names.get(shift.user, f"user {shift.user}")
                    entries.append(Paged(shift.user, username, ref["id"], name, shift.end))
            return entries

        return Page("oncall.html", {
            "now": now,
            "schedules": [{"id": row.id, "name": row.name, "timezone": row.timezone,
                           "current": found[row.id][0], "following": found[row.id][1]}
                          for row in schedules],
            "names": names,
            "policies": [{"id": p.id, "name": p.name,
                          "levels": [paged(rule) for rule in p.rules]} for p in policies],
        })

    return [Route("/ui/on-call", ui.endpoint(on_call_page), methods=["GET"])]
