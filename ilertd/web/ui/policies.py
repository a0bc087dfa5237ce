"""The web UI's escalation policies: the list, one policy's levels, and the forms that change them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from ilertd.app.auth import require_admin
from ilertd.app.sources import MAX_LEVELS, policy_or_404, version_of_policy
from ilertd.domain.wording import quoted
from ilertd.errors import ApiError
from ilertd.store.people import usernames, users_page
from ilertd.store.schedules import all_schedules
from ilertd.store.sources import all_policies, sources_page
from ilertd.web.ui.core import Form, Page, Ui, View
from ilertd.web.ui.notices import Notice
from ilertd.web.views import escalation_policy_json

# The form offers the policy's levels and this many empty rows to add more.
SPARE_ROWS = 2
# Who can be picked in a level: every user and schedule, up to this many of each.
CHOICES_LIMIT = 5000
# An integer as typed (a sign allowed, so a negative one reaches the API's own check).
WHOLE_NUMBER = re.compile(r"[+-]?\d{1,9}")
RULE_REF = re.compile(r"escalationRules\[(\d+)\]")


@dataclass
class LevelRow:
    """One row of the form's levels as typed: the timeout's text and who it pages."""

    timeout: str = ""
    users: set[int] = field(default_factory=set)
    schedules: set[int] = field(default_factory=set)

    @property
    def empty(self) -> bool:
        return not self.users and not self.schedules and not self.timeout.strip()


def rows_of(policy: dict[str, Any]) -> list[LevelRow]:
    """A stored policy's levels as form rows."""
    return [LevelRow(str(rule["escalationTimeout"]), {u["id"] for u in rule.get("users", [])},
                     {s["id"] for s in rule.get("schedules", [])})
            for rule in policy.get("escalationRules", [])]


def posted_rows(form: Form) -> list[LevelRow]:
    """The level rows of a posted form, in their order, empty ones included."""
    rows = []
    for index in range(MAX_LEVELS + SPARE_ROWS):
        prefix = f"level-{index}-"
        rows.append(LevelRow(form.get(prefix + "timeout")[:20], _ids(form.all(prefix + "users")),
                             _ids(form.all(prefix + "schedules"))))
    while rows and rows[-1].empty:
        rows.pop()
    return rows


def _in_stored_order(chosen: set[int], stored: list[dict[str, Any]]) -> list[dict[str, int]]:
    """`chosen` as references: those the level named before in its order, then the new ones by id."""
    kept = [ref["id"] for ref in stored if ref["id"] in chosen]
    return [{"id": ident} for ident in kept + sorted(chosen - set(kept))]


def _ids(values: list[str]) -> set[int]:
    return {int(value) for value in values if value.isdigit() and len(value) < 19}


def policy_body(form: Form, rows: list[LevelRow], stored: list[dict[str, Any]] | None = None
                ) -> tuple[dict[str, Any], list[int]]:
    """The API's body for the form, and for each of its rules the form row it came from; empty
    rows are left out. A level naming the people `stored` (the policy's rules as they are) names
    at that place keeps their order: a multiple choice sends them in the list's order, and a
    policy saved unchanged changed (a provision file listing them then saw a difference)."""
    rules: list[dict[str, Any]] = []
    kept: list[int] = []
    for index, row in enumerate(rows):
        if row.empty:
            continue
        timeout = row.timeout.strip()
        if not WHOLE_NUMBER.fullmatch(timeout):
            raise ApiError(400, "INVALID_FIELD", f"level {index}: the timeout must be a whole number of"
                                                 " minutes", field=f"escalationRules[{len(rules)}]")
        before = stored[len(rules)] if stored is not None and len(rules) < len(stored) else {}
        rules.append({"escalationTimeout": int(timeout),
                      "users": _in_stored_order(row.users, before.get("users", [])),
                      "schedules": _in_stored_order(row.schedules, before.get("schedules", []))})
        kept.append(index)
    frequency = form.get("frequency").strip() or "0"
    body = {
        "name": form.get("name").strip(),
        "escalationRules": rules,
        "repeating": form.get("repeating") == "on",
        # Not a number: passed as typed, so the API's message says what it must be.
        "frequency": int(frequency) if WHOLE_NUMBER.fullmatch(frequency) else frequency,
    }
    return body, kept


def plain_message(error: ApiError, kept: list[int]) -> str:
    """The API's message with its `escalationRules[i]` named as the form's level row."""
    def row(found: re.Match[str]) -> str:
        index = int(found[1])
        return f"level {kept[index] if index < len(kept) else index}"

    return RULE_REF.sub(row, error.message)


def level_views(policy: dict[str, Any], names: dict[int, str], schedules: dict[int, str]
                ) -> list[dict[str, Any]]:
    """Each level with the names of its users and schedules, for showing."""
    return [{
        "timeout": rule["escalationTimeout"],
        "users": [{"id": u["id"], "name": names.get(u["id"], f"user {u['id']}")}
                  for u in rule.get("users", [])],
        "schedules": [{"id": s["id"], "name": schedules.get(s["id"], f"schedule {s['id']}")}
                      for s in rule.get("schedules", [])],
    } for rule in policy.get("escalationRules", [])]


def routes(ui: Ui) -> list[Route]:
    sources = ui.services.app.sources

    def choices() -> dict[str, Any]:
        return {"users": [(u.id, u.username) for u in users_page(0, CHOICES_LIMIT)],
                "schedules": [(s.id, s.name) for s in all_schedules()[:CHOICES_LIMIT]]}

    def using(policy_id: int | None = None) -> dict[int, list[dict[str, Any]]]:
        found: dict[int, list[dict[str, Any]]] = {}
        for row in sources_page(0, 10**6):
            if row.escalation_policy_id is not None and policy_id in (None, row.escalation_policy_id):
                found.setdefault(row.escalation_policy_id, []).append({"id": row.id, "name": row.name})
        return found

    def policy_list(view: View) -> Page:
        shown = [escalation_policy_json(row) for row in all_policies()]
        return Page("policies.html", {"policies": shown, "used_by": using()})

    def policy_page(view: View) -> Page:
        shown = escalation_policy_json(policy_or_404(view.path_int()))
        names = usernames(u["id"] for rule in shown["escalationRules"] for u in rule.get("users", []))
        levels = level_views(shown, names, {s.id: s.name for s in all_schedules()})
        return Page("policy.html", {"policy": shown, "levels": levels,
                                    "used_by": using(shown["id"]).get(shown["id"], [])})

    def form_page(policy: dict[str, Any] | None, values: dict[str, Any], rows: list[LevelRow],
                  error: str = "", status: int = 200, version: str | None = None) -> Page:
        spare = [LevelRow() for _ in range(min(SPARE_ROWS, MAX_LEVELS - len(rows)))]
        if version is None:
            version = version_of_policy(policy_or_404(policy["id"])) if policy is not None else ""
        return Page("policy_form.html", {"policy": policy, "values": values, "rows": [*rows, *spare],
                                         "error": error, "version": version, **choices()}, status)

    def new_form(view: View) -> Page:
        require_admin(view.principal)
        return form_page(None, {"name": "", "repeating": False, "frequency": 0}, [])

    def edit_form(view: View) -> Page:
        require_admin(view.principal)
        shown = escalation_policy_json(policy_or_404(view.path_int()))
        return form_page(shown, shown, rows_of(shown))

    def save(view: View, policy: dict[str, Any] | None) -> Page | Response:
        rows = posted_rows(view.form)
        kept: list[int] = []
        typed = {"name": view.form.get("name")[:255], "repeating": view.form.get("repeating") == "on",
                 "frequency": view.form.get("frequency")[:20]}
        loaded = view.form.get("version")[:64]
        try:
            stored = policy["escalationRules"] if policy is not None else None
            body, kept = policy_body(view.form, rows, stored)
            if policy is None:
                row = sources.create_policy(view.principal, body)
            else:
                row = sources.update_policy(view.principal, policy["id"], body, loaded)
        except ApiError as error:
            if policy is not None and error.code == "CHANGED_SINCE_LOADED":
                # Saved, it would silently undo the other edit (a level another tab added, gone).
                # The form now carries the current version: saving again replaces it, knowingly.
                current = escalation_policy_json(policy_or_404(policy["id"]))
                levels = len(current["escalationRules"])
                message = (f"this policy was changed since you opened it; your changes, shown here, are"
                           f" not saved. The saved policy is now {quoted(current['name'])} with {levels}"
                           f" level{'s' if levels != 1 else ''} (open it in another tab to compare);"
                           f" save again to replace it with yours")
                return form_page(current, typed, rows, message, 409)
            # 409 too (a name another policy has): the form again with what was typed, not an error page.
            if error.status not in (400, 409):
                raise
            return form_page(policy, typed, rows, plain_message(error, kept), error.status, loaded)
        done = Notice("policy-created" if policy is None else "policy-saved")
        return ui.redirect(f"/ui/policies/{row.id}", done)

    def create(view: View) -> Page | Response:
        require_admin(view.principal)
        return save(view, None)

    def update(view: View) -> Page | Response:
        require_admin(view.principal)
        return save(view, escalation_policy_json(policy_or_404(view.path_int())))

    def delete(view: View) -> Response:
        policy_id = view.path_int()
        sources.delete_policy(view.principal, policy_id)
        return ui.redirect("/ui/policies", Notice("policy-deleted"))

    return [
        Route("/ui/policies", ui.endpoint(policy_list), methods=["GET"]),
        Route("/ui/policies/new", ui.endpoint(new_form), methods=["GET"]),
        Route("/ui/policies/new", ui.endpoint(create), methods=["POST"]),
        Route("/ui/policies/{id}", ui.endpoint(policy_page), methods=["GET"]),
        Route("/ui/policies/{id}/edit", ui.endpoint(edit_form), methods=["GET"]),
        Route("/ui/policies/{id}/edit", ui.endpoint(update), methods=["POST"]),
        Route("/ui/policies/{id}/delete", ui.endpoint(delete), methods=["POST"]),
    ]
