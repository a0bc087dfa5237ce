"""Logging in and out of the web UI: the login form, its rate limit, the session cookie."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from starlette.responses import Response
from starlette.routing import Route

from ilertd.store.people import user
from ilertd.web.ui.core import Page, Ui, View, local_time
from ilertd.web.ui.notices import Notice

logger = logging.getLogger(__name__)


def _safe_next(target: str) -> str:
    """Where to go after logging in: a path of the UI only, never another site."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/ui/") or target.startswith("//"):
        return "/ui/incidents"
    return target


def routes(ui: Ui) -> list[Route]:
    def login_form(view: View) -> Page | Response:
        if view.principal.user_id:
            return ui.redirect(_safe_next(view.query.get("next", "")))
        target = _safe_next(view.query.get("next", ""))
        return Page("login.html", {"next": target, "username": "", "error": ""})

    def login(view: View) -> Page | Response:
        username = view.form.get("username").strip()[:64]
        password = view.form.get("password")[:1024]
        target = _safe_next(view.form.get("next"))
        client = view.request.client.host if view.request.client else "?"
        keys = [f"user:{username.lower()}", f"address:{client}"]
        now = ui.services.clock.now()
        until = ui.limiter.attempt(keys, now)
        if until is not None:
            logger.warning("login for %r from %s refused: too many failed logins", username, client)
            error = f"Too many failed logins. Try again after {local_time(until, view.zone)}."
            return Page("login.html", {"next": target, "username": username, "error": error}, 429)
        principal = ui.services.app.passwords.login(username, password)
        if principal is None:
            logger.info("failed login for %r from %s", username, client)
            return Page("login.html", {"next": target, "username": username,
                                       "error": "Wrong user name or password."}, 401)
        ui.limiter.succeeded(keys, now)
        row = user(principal.user_id)
        response = ui.redirect(target)
        ui.start_session(response, principal, row.password_hash if row is not None else "")
        logger.info("%s logged in from %s", principal.username, client)
        return response

    def logout(view: View) -> Response:
        response = ui.redirect("/ui/login", Notice("logged-out"))
        ui.end_session(response)
        return response

    def home(view: View) -> Response:
        return ui.redirect("/ui/incidents")

    return [
        Route("/ui", ui.endpoint(home), methods=["GET"]),
        Route("/ui/", ui.endpoint(home), methods=["GET"]),
        Route("/ui/login", ui.endpoint(login_form, public=True), methods=["GET"]),
        Route("/ui/login", ui.endpoint(login, public=True), methods=["POST"]),
        Route("/ui/logout", ui.endpoint(logout), methods=["POST"]),
    ]
