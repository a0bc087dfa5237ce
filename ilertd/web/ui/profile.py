"""The web UI's "My profile", and the forms over one user's details, contacts, notification rules
and API tokens that the admin's page of a user shares."""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import Response
from starlette.routing import Route

from ilertd.app.people import user_or_404
from ilertd.app.preferences import (
    ALERT_TYPES,
    MAX_DELAY_MIN,
    RULE_KINDS,
    UPDATE_TYPES,
    RuleKind,
    contacts_json,
)
from ilertd.domain.local_time import local_to_utc
from ilertd.domain.shift_reminders import BEFORE_MIN_CHOICES
from ilertd.errors import ApiError, invalid
from ilertd.store import models as m
from ilertd.store.people import owned_row, owned_rows
from ilertd.web.schedules import feed_token
from ilertd.web.ui.core import Page, Ui, View
from ilertd.web.ui.notices import Notice
from ilertd.web.views import token_json, user_json

# A person has a handful of contacts, rules and tokens; past this many the API pages through them.
PERSON_ROWS = 500
# Refusals shown beside the form that caused them, with what was typed: the input is invalid (400)
# or clashes with what exists (409, a taken user name). Others (403, 404) are the error page.
FORM_ERRORS = (400, 409)
_NUMBER = re.compile(r"-?\d{1,9}")
KINDS = {kind.segment: kind for kind in RULE_KINDS}
RULE_TITLES = {"alerts": "Alert rules", "updates": "Update rules", "duties": "Shift reminders"}


@dataclass(frozen=True)
class Kept:
    """The form that was refused, what was posted in it and why: the page shows it again, filled in."""

    form: str = ""
    posted: tuple[tuple[str, str], ...] = ()
    error: str = ""

    def failed(self, form: str) -> bool:
        return self.form == form

    def value(self, form: str, name: str, default: Any = "") -> str:
        """What the form shows in a field: the posted value if this form was refused, else `default`."""
        shown = "" if default is None else str(default)
        if self.form == form:
            return next((value for key, value in self.posted if key == name), shown)
        return shown

    def values(self, form: str, name: str, default: list[Any]) -> list[str]:
        if self.form == form:
            return [value for key, value in self.posted if key == name]
        return [str(d) for d in default]


NOTHING_KEPT = Kept()


def kept_form(view: View, form: str, error: ApiError) -> Kept:
    return Kept(form, tuple((k, v) for k, v in view.form.pairs if k != "csrf_token"), error.message)


def local_input(value: datetime | None, zone: ZoneInfo) -> str:
    """An instant as a datetime-local input's value in the viewer's zone; empty for none."""
    return value.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if value is not None else ""


def instant_from_local(text: str, zone: ZoneInfo, name: str) -> str | None:
    """A datetime-local input's value, read in the viewer's zone (a skipped hour moves to its end, a
    repeated one is its first), as the API's ISO instant; None for an empty input. The application
    layer checks the instant's range."""
    text = text.strip()
    if not text:
        return None
    try:
        local = datetime.fromisoformat(text)
        instant = local.astimezone(UTC) if local.tzinfo is not None else local_to_utc(local, zone)
    except (ValueError, OverflowError):
        raise invalid(name, f"{name} must be a date and time such as 2025-03-01T14:30") from None
    return instant.isoformat()


def number(text: str) -> int | str:
    """A number typed into a form; anything else as typed, for the application layer to refuse
    with its own message naming the field and its range."""
    text = text.strip()
    return int(text) if _NUMBER.fullmatch(text) else text


def row_id(raw: str, name: str) -> int:
    if not raw.isdigit() or len(raw) > 18:
        raise invalid(name, f"choose one of the {name}s")
    return int(raw)


@functools.cache
def time_zones() -> tuple[str, ...]:
    """The zones offered: Area/Location names and UTC, not the legacy aliases (a user's current
    zone is offered whatever it is)."""
    return ("UTC", *sorted(z for z in zoneinfo.available_timezones() if "/" in z))


def muted(row: m.User, now: datetime) -> bool:
    return row.muted_until is not None and row.muted_until > now


def person_values(ui: Ui, view: View, user_id: int) -> dict[str, Any]:
    """What the shared partials show of one user: details, contacts, rules and tokens."""
    row = user_or_404(user_id)
    contacts = contacts_json(owned_rows(m.Contact, user_id, 0, PERSON_ROWS))
    reminders = ui.services.plugins.methods(True)
    kinds = [{
        "segment": kind.segment, "title": RULE_TITLES[kind.segment],
        "rules": [kind.json(r) for r in owned_rows(kind.model, user_id, 0, PERSON_ROWS)],
        "contacts": [c for c in contacts if not kind.reminders or c["method"] in reminders],
    } for kind in RULE_KINDS]
    tokens = [token_json(t) for t in owned_rows(m.ApiToken, user_id, 0, PERSON_ROWS)]
    return {
        "person": user_json(row), "muted": muted(row, ui.services.clock.now()),
        "muted_input": local_input(row.muted_until, view.zone), "zones": time_zones(),
        "contacts": contacts, "contact_names": {c["id"]: f"{c['method']}: {c['target']}" for c in contacts},
        # The numbers that replied STOP, which paging skips: said beside them, or it goes unseen.
        "stopped": {c["id"] for c in contacts if c["stopped"]},
        "methods": ui.services.plugins.methods(), "kinds": kinds, "tokens": tokens,
        "alert_types": ALERT_TYPES, "update_types": UPDATE_TYPES, "before_choices": BEFORE_MIN_CHOICES,
        "max_delay": MAX_DELAY_MIN, "kept": NOTHING_KEPT, "new_token": "",
    }


Render = Callable[[View, int, dict[str, Any], int], Page]


def person_routes(ui: Ui, prefix: str, owner: Callable[[View], int], render: Render,
                  page_path: Callable[[int], str]) -> list[Route]:
    """The POSTs of the shared forms under `prefix` (the page's path pattern). `owner` names the
    user whose profile the page edits (and refuses who may not see the page at all); `render`
    draws the page again with a refused form kept. The application layer's self-or-admin rule
    decides every write."""
    app = ui.services.app

    def form_action(form: Callable[[View], str], act: Callable[[View, int], Notice | Page]
                    ) -> Callable[[View], Page | Response]:
        """A form's endpoint: who may use the page first, then `act`; a refused form is drawn again
        (its id `form(view)`), a done one redirects to the page with `act`'s notice."""
        def handle(view: View) -> Page | Response:
            user_id = owner(view)
            try:
                done = act(view, user_id)
            except ApiError as error:
                if error.status not in FORM_ERRORS:
                    raise
                return render(view, user_id, {"kept": kept_form(view, form(view), error)}, error.status)
            return done if isinstance(done, Page) else ui.redirect(page_path(user_id), done)
        return handle

    def named(form: str) -> Callable[[View], str]:
        """The form's id on the page: `form` with the path's ids filled in (contact-{cid})."""
        return lambda view: form.format(**view.request.path_params)

    def details(view: View, user_id: int) -> Notice:
        # Trimmed, as the form creating a user trims them (a pasted address often ends in a blank).
        body: dict[str, Any] = {name: view.form.get(name).strip() for name in
                                ("username", "firstName", "lastName", "email", "timezone", "role")
                                if name in view.form}
        # The field shows the mute to the minute in the viewer's zone: sent back as shown, it is
        # left alone (read back, it lost its seconds, or an hour in a repeated autumn hour).
        shown = local_input(user_or_404(user_id).muted_until, view.zone)
        if "mutedUntil" in view.form and view.form.get("mutedUntil", "").strip() != shown:
            body["mutedUntil"] = instant_from_local(view.form.get("mutedUntil"), view.zone, "mutedUntil")
        app.people.update_user(view.principal, user_id, body)
        return Notice("details-saved")

    def add_contact(view: View, user_id: int) -> Notice:
        body = {"method": view.form.get("method"), "target": view.form.get("target")}
        app.preferences.create_contact(view.principal, user_id, body)
        return Notice("contact-added")

    def update_contact(view: View, user_id: int) -> Notice:
        app.preferences.update_contact(view.principal, user_id, view.path_int("cid"),
                                       {"target": view.form.get("target")})
        return Notice("contact-saved")

    def delete_contact(view: View, user_id: int) -> Notice:
        app.preferences.delete_contact(view.principal, user_id, view.path_int("cid"))
        return Notice("contact-deleted")

    def kind_of(view: View) -> RuleKind:
        kind = KINDS.get(view.request.path_params.get("kind", ""))
        if kind is None:
            raise ApiError(404, "NOT_FOUND", "no such page")
        return kind

    def rule_body(view: View, user_id: int) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if "contact" in view.form:
            contact_id = row_id(view.form.get("contact"), "contact")
            contact = owned_row(m.Contact, user_id, contact_id)
            if contact is None:
                raise invalid("contact", f"contact {contact_id} is not one of this user's contacts")
            body["contact"] = {"id": contact_id}
            # The rule reaches the contact by the contact's own method unless the form names one.
            body["method"] = view.form.get("method") or contact.method
        if "type" in view.form:
            body["type"] = view.form.get("type")
        for name in ("delayMin", "beforeMin"):
            if name in view.form:
                body[name] = number(view.form.get(name))
        return body

    def add_rule(view: View, user_id: int) -> Notice:
        kind = kind_of(view)
        app.preferences.create_rule(view.principal, kind, user_id, rule_body(view, user_id))
        return Notice(f"{kind.segment}-added")

    def update_rule(view: View, user_id: int) -> Notice:
        kind, rule_id = kind_of(view), view.path_int("rid")
        app.preferences.update_rule(view.principal, kind, user_id, rule_id, rule_body(view, user_id))
        return Notice(f"{kind.segment}-saved")

    def delete_rule(view: View, user_id: int) -> Notice:
        kind, rule_id = kind_of(view), view.path_int("rid")
        app.preferences.delete_rule(view.principal, kind, user_id, rule_id)
        return Notice(f"{kind.segment}-deleted")

    def create_token(view: View, user_id: int) -> Page:
        token = app.people.create_token(view.principal, user_id, {"name": view.form.get("name")})
        # Shown on this answer only: it is stored hashed, and a redirect would put it in a URL.
        return render(view, user_id, {"new_token": token, "notice": "API token created."}, 200)

    def revoke_token(view: View, user_id: int) -> Notice:
        app.people.revoke_token(view.principal, user_id, view.path_int("tid"))
        return Notice("token-revoked")

    def post(path: str, form: str, act: Callable[[View, int], Notice | Page]) -> Route:
        return Route(prefix + path, ui.endpoint(form_action(named(form), act)), methods=["POST"])

    return [
        post("/details", "details", details),
        post("/contacts", "contact-new", add_contact),
        post("/contacts/{cid}", "contact-{cid}", update_contact),
        post("/contacts/{cid}/delete", "contact-{cid}", delete_contact),
        post("/rules/{kind}", "{kind}-new", add_rule),
        post("/rules/{kind}/{rid}", "{kind}-{rid}", update_rule),
        post("/rules/{kind}/{rid}/delete", "{kind}-{rid}", delete_rule),
        post("/tokens", "token-new", create_token),
        post("/tokens/{tid}/revoke", "token-{tid}", revoke_token),
    ]

def routes(ui: Ui) -> list[Route]:
    def own(view: View) -> int:
        return view.principal.user_id

    def render(view: View, user_id: int, extra: dict[str, Any], status: int = 200) -> Page:
        feed = feed_token(ui.secret, "user", user_id)
        return Page("profile.html", {
            **person_values(ui, view, user_id), "base": "/ui/profile", "with_role": False,
            "feed_url": f"{ui.services.public_url}/api/users/{user_id}/shifts.ics?token={feed}", **extra,
        }, status)

    def profile(view: View) -> Page:
        return render(view, own(view), {})

    def test_notification(view: View) -> Response:
        contact = view.form.get("contact")
        if not contact.isdigit() or len(contact) > 18:
            raise ApiError(400, "INVALID_INPUT", "choose one of your contacts")
        ui.services.app.preferences.send_test(view.principal, own(view), int(contact))
        return ui.redirect("/ui/profile", Notice("test-sent"))

    return [
        Route("/ui/profile", ui.endpoint(profile), methods=["GET"]),
        Route("/ui/profile/test-notification", ui.endpoint(test_notification), methods=["POST"]),
        *person_routes(ui, "/ui/profile", own, render, lambda _user_id: "/ui/profile"),
    ]
