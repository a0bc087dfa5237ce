"""The web UI's admin pages: users (create, role, anyone's profile, contacts and rules, delete) and
maintenance windows. Only an ADMIN sees them: a USER gets 403 on every page and form."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from ilertd.app.auth import require_admin
from ilertd.app.offboarding import remove_user
from ilertd.app.people import user_or_404
from ilertd.app.quiet_times import window_or_404
from ilertd.errors import ApiError
from ilertd.store.people import users_page
from ilertd.store.quiet_times import windows_page
from ilertd.store.sources import source_names, sources_page
from ilertd.web.intake import maintenance_window_json
from ilertd.web.ui.core import Page, Ui, View
from ilertd.web.ui.notices import Notice
from ilertd.web.ui.profile import (
    FORM_ERRORS,
    NOTHING_KEPT,
    Kept,
    instant_from_local,
    kept_form,
    local_input,
    muted,
    person_routes,
    person_values,
    row_id,
)
from ilertd.web.views import user_json

PAGE_SIZE = 100
# The sources a window may cover, offered in one list; past this many the API names the rest.
SOURCE_CHOICES = 1000
ROLES = ("USER", "ADMIN")
# A new window's form starts as the coming hour.
DEFAULT_WINDOW = timedelta(hours=1)


def admin(view: View) -> None:
    require_admin(view.principal)


def offset(view: View) -> int:
    start = view.query.get("start", "0")
    return min(int(start), 10**9) if start.isdigit() and len(start) < 10 else 0


def routes(ui: Ui) -> list[Route]:
    app = ui.services.app

    def home(view: View) -> Response:
        admin(view)
        return ui.redirect("/ui/admin/users")

    # --- users -----------------------------------------------------------------------------

    def users_values(view: View, extra: dict[str, Any]) -> dict[str, Any]:
        start = offset(view)
        rows = users_page(start, PAGE_SIZE + 1)
        now = ui.services.clock.now()
        return {"users": [{**user_json(r), "muted": muted(r, now)} for r in rows[:PAGE_SIZE]],
                "start": start, "more": len(rows) > PAGE_SIZE, "page_size": PAGE_SIZE, "roles": ROLES,
                "kept": NOTHING_KEPT, **extra}

    def users(view: View) -> Page:
        admin(view)
        return Page("admin_users.html", users_values(view, {}))

    def users_form(view: View, form: str, error: ApiError) -> Page:
        if error.status not in FORM_ERRORS:
            raise error
        kept = kept_form(view, form, error)
        return Page("admin_users.html", users_values(view, {"kept": kept}), error.status)

    def create_user(view: View) -> Page | Response:
        admin(view)
        body = {"username": view.form.get("username").strip(), "email": view.form.get("email").strip(),
                "role": view.form.get("role")}
        try:
            row = app.people.create_user(view.principal, body)
        except ApiError as error:
            return users_form(view, "user-new", error)
        return ui.redirect(f"/ui/admin/users/{row.id}", Notice("user-created", (row.username,)))

    def set_role(view: View) -> Page | Response:
        admin(view)
        user_id = view.path_int()
        try:
            row = app.people.update_user(view.principal, user_id, {"role": view.form.get("role")})
        except ApiError as error:
            return users_form(view, f"role-{user_id}", error)
        return ui.redirect("/ui/admin/users", Notice("user-role-set", (row.username, row.role)))

    def someone(view: View) -> int:
        admin(view)
        user_id = view.path_int()
        user_or_404(user_id)
        return user_id

    def render_user(view: View, user_id: int, extra: dict[str, Any], status: int = 200) -> Page:
        return Page("admin_user.html", {
            **person_values(ui, view, user_id), "base": f"/ui/admin/users/{user_id}", "with_role": True,
            **extra,
        }, status)

    def user_page(view: View) -> Page:
        return render_user(view, someone(view), {})

    def delete_user(view: View) -> Page | Response:
        user_id = someone(view)
        name = user_or_404(user_id).username
        try:
            remove_user(app, view.principal, user_id, force=view.form.get("force") == "on",
                        how_to_force="tick \"Take them off\" to do it now")
        except ApiError as error:
            if error.status not in FORM_ERRORS:
                raise
            return render_user(view, user_id, {"kept": kept_form(view, "delete", error)}, error.status)
        return ui.redirect("/ui/admin/users", Notice("user-deleted", (name,)))

    # --- maintenance windows -----------------------------------------------------------------

    def maintenance_values(view: View, kept: Kept) -> dict[str, Any]:
        start = offset(view)
        rows = windows_page(start, PAGE_SIZE + 1)
        now = ui.services.clock.now()
        names = source_names({i for r in rows for i in r.alert_source_ids})
        windows = [{
            **maintenance_window_json(r),
            "state": "over" if r.ends_at <= now else "active" if r.starts_at <= now else "upcoming",
            "sourceNames": [names.get(i, f"source {i}") for i in r.alert_source_ids],
        } for r in rows[:PAGE_SIZE]]
        return {"windows": windows, "start": start, "more": len(rows) > PAGE_SIZE, "page_size": PAGE_SIZE,
                "sources": sources_page(0, SOURCE_CHOICES), "kept": kept,
                "default_start": local_input(now, view.zone),
                "default_end": local_input(now + DEFAULT_WINDOW, view.zone)}

    def maintenance(view: View) -> Page:
        admin(view)
        return Page("admin_maintenance.html", maintenance_values(view, NOTHING_KEPT))

    def maintenance_form(view: View, form: str, error: ApiError) -> Page:
        if error.status not in FORM_ERRORS:
            raise error
        return Page("admin_maintenance.html", maintenance_values(view, kept_form(view, form, error)),
                    error.status)

    def create_window(view: View) -> Page | Response:
        admin(view)
        try:
            body = {
                "summary": view.form.get("summary"),
                "start": instant_from_local(view.form.get("start"), view.zone, "start"),
                "end": instant_from_local(view.form.get("end"), view.zone, "end"),
                "alertSources": [{"id": row_id(raw, "alert source")}
                                 for raw in view.form.all("alertSources")],
            }
            app.maintenance.create(view.principal, body)
        except ApiError as error:
            return maintenance_form(view, "window-new", error)
        return ui.redirect("/ui/admin/maintenance", Notice("window-created"))

    def end_window(view: View) -> Page | Response:
        admin(view)
        window_id = view.path_int()
        window_or_404(window_id)
        try:
            app.maintenance.update(view.principal, window_id, {"end": ui.services.clock.now().isoformat()})
        except ApiError as error:
            return maintenance_form(view, f"window-{window_id}", error)
        return ui.redirect("/ui/admin/maintenance", Notice("window-ended"))

    def delete_window(view: View) -> Response:
        admin(view)
        app.maintenance.delete(view.principal, view.path_int())
        return ui.redirect("/ui/admin/maintenance", Notice("window-deleted"))

    return [
        Route("/ui/admin", ui.endpoint(home), methods=["GET"]),
        Route("/ui/admin/users", ui.endpoint(users), methods=["GET"]),
        Route("/ui/admin/users", ui.endpoint(create_user), methods=["POST"]),
        Route("/ui/admin/users/{id}", ui.endpoint(user_page), methods=["GET"]),
        Route("/ui/admin/users/{id}/role", ui.endpoint(set_role), methods=["POST"]),
        Route("/ui/admin/users/{id}/delete", ui.endpoint(delete_user), methods=["POST"]),
        *person_routes(ui, "/ui/admin/users/{id}", someone, render_user, lambda i: f"/ui/admin/users/{i}"),
        Route("/ui/admin/maintenance", ui.endpoint(maintenance), methods=["GET"]),
        Route("/ui/admin/maintenance", ui.endpoint(create_window), methods=["POST"]),
        Route("/ui/admin/maintenance/{id}/end", ui.endpoint(end_window), methods=["POST"]),
        Route("/ui/admin/maintenance/{id}/delete", ui.endpoint(delete_window), methods=["POST"]),
    ]
