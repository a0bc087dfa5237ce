"""The web UI's frame: sessions and CSRF, rendering templates, and the endpoint every page goes through."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ilertd.app import bootstrap
from ilertd.app.auth import Principal
from ilertd.domain.link_tokens import csrf_matches, csrf_token, password_mark, read_session, sign_session
from ilertd.domain.text_input import form_fields
from ilertd.domain.timeutil import parse_instant
from ilertd.errors import ApiError
from ilertd.store.people import user
from ilertd.web.http import read_body
from ilertd.web.services import Services
from ilertd.web.ui.notices import Notice, is_notice_parameter, shown_notice

logger = logging.getLogger(__name__)

SESSION_COOKIE = "ilertd_session"
BROWSER_COOKIE = "ilertd_browser"
# A session lasts a working day or a night on call; then the login page again.
SESSION_TTL = timedelta(hours=12)
# Failed logins: this many within the window, per user name or per address, and the next ones
# are refused until the window has passed since the oldest.
FAILED_LOGINS_ALLOWED = 5
FAILED_LOGIN_WINDOW = timedelta(minutes=15)
# Names and addresses with failed logins kept before those outside the window are dropped.
FAILURES_KEPT = 10_000
TEMPLATES = Path(__file__).parent / "templates"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src * data:; style-src 'self'; script-src 'self';"
                               " form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


class Form:
    """A posted form (application/x-www-form-urlencoded): the first or every value of a field."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, name: str, default: str = "") -> str:
        return next((value for key, value in self.pairs if key == name), default)

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]

    def __contains__(self, name: str) -> bool:
        return any(key == name for key, _ in self.pairs)


@dataclass
class View:
    """What a page handler is given: the request, who is logged in, the posted form."""

    request: Request
    principal: Principal
    form: Form = field(default_factory=lambda: Form([]))
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))

    @property
    def query(self) -> Mapping[str, str]:
        return self.request.query_params

    def path_int(self, name: str = "id") -> int:
        raw = self.request.path_params.get(name, "")
        if not raw.isdigit() or len(raw) > 18:
            raise ApiError(404, "NOT_FOUND", "no such page")
        return int(raw)


@dataclass(frozen=True)
class Page:
    """A template to render with its values, and the status to answer with."""

    template: str
    values: dict[str, Any]
    status: int = 200


Handler = Callable[[View], Page | Response]


class LoginLimiter:
    """Failed logins per user name and per address, by the daemon's clock."""

    def __init__(self) -> None:
        self._failures: dict[str, list[datetime]] = {}
        self._lock = threading.Lock()
        self._prune_at = FAILURES_KEPT

    def _recent(self, key: str, now: datetime) -> list[datetime]:
        kept = [t for t in self._failures.get(key, []) if now - t < FAILED_LOGIN_WINDOW]
        if kept:
            self._failures[key] = kept
        else:
            self._failures.pop(key, None)
        return kept

    def attempt(self, keys: list[str], now: datetime) -> datetime | None:
        """Until when a login under `keys` is refused; None: it may go on, and counts as failed
        until `succeeded` says otherwise. Checked and counted at once: counted only once its
        password was found wrong, forty guesses sent together were each let through (and checked)
        before the first failure was counted."""
        with self._lock:
            ends = [recent[0] + FAILED_LOGIN_WINDOW for key in keys
                    if len(recent := self._recent(key, now)) >= FAILED_LOGINS_ALLOWED]
            if ends:
                return max(ends)
            for key in keys:
                self._failures.setdefault(key, []).append(now)
            if len(self._failures) > self._prune_at:
                # A name is looked at again only when it is tried again: names tried once from
                # many addresses would otherwise be kept for ever.
                self._failures = {key: times for key, times in self._failures.items()
                                  if now - times[-1] < FAILED_LOGIN_WINDOW}
                self._prune_at = max(FAILURES_KEPT, 2 * len(self._failures))
        return None

    def succeeded(self, keys: list[str], now: datetime) -> None:
        """The attempt under `keys` at `now` logged in: the user name's failures are forgotten,
        and the address's count loses this attempt."""
        with self._lock:
            self._failures.pop(keys[0], None)
            for key in keys[1:]:
                times = self._failures.get(key, [])
                if now in times:
                    times.remove(now)
                if not times:
                    self._failures.pop(key, None)


class Ui:
    """One per daemon: its key, templates and login limiter; builds every page's endpoint."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.limiter = LoginLimiter()
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined,
            trim_blocks=True, lstrip_blocks=True)
        self.templates.filters["local"] = local_time
        self.templates.filters["web_url"] = web_url
        self.templates.filters["who"] = who
        # Every link of a page begins with public_url's path (a proxy's sub-path, or nothing).
        self.templates.globals["root"] = services.config.server.public_path
        self._secret: str | None = None
        self.secure_cookies = services.public_url.startswith("https://")

    @property
    def secret(self) -> str:
        if self._secret is None:
            self._secret = bootstrap.secret_key(self.services.db, self.services.config.security.secret_key)
        return self._secret

    # --- sessions -----------------------------------------------------------------------------

    def principal(self, request: Request) -> tuple[Principal, ZoneInfo] | None:
        """The logged-in user of this request's session cookie (blocking: reads the user)."""
        value = request.cookies.get(SESSION_COOKIE, "")
        claim = read_session(self.secret, value, self.services.clock.now()) if value else None
        if claim is None:
            return None
        row = user(claim[0])
        if row is None or not row.password_hash or password_mark(self.secret, row.password_hash) != claim[1]:
            return None
        try:
            zone = ZoneInfo(row.timezone)
        except (ValueError, KeyError):
            zone = ZoneInfo("UTC")
        return Principal(row.id, row.username, row.role), zone

    def start_session(self, response: Response, principal: Principal, password_hash: str) -> None:
        expires = self.services.clock.now() + SESSION_TTL
        mark = password_mark(self.secret, password_hash)
        value = sign_session(self.secret, principal.user_id, expires, mark)
        response.set_cookie(SESSION_COOKIE, value, max_age=int(SESSION_TTL.total_seconds()), path="/",
                            httponly=True, samesite="lax", secure=self.secure_cookies)

    def end_session(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                               secure=self.secure_cookies)

    # --- rendering ----------------------------------------------------------------------------

    def render(self, request: Request, view: View | None, page: Page) -> HTMLResponse:
        browser = getattr(request.state, "browser_key", "")
        values = {
            "me": view.principal if view is not None else None,
            "csrf": csrf_token(self.secret, browser) if browser else "",
            "path": request.url.path,
            "notice": shown_notice(request.query_params, lambda: self.secret),
            "zone": view.zone if view is not None else ZoneInfo("UTC"),
            **page.values,
        }
        html = self.templates.get_template(page.template).render(values)
        return HTMLResponse(html, status_code=page.status)

    def error_page(self, request: Request, view: View | None, error: ApiError) -> HTMLResponse:
        return self.render(request, view, Page("error.html", {"error": error}, error.status))

    def _to_login(self, request: Request) -> RedirectResponse:
        """The login page, then back: to the page asked for, or, for a form posted without a
        session, to the page the form was on (its action answers POST only), saying it was not done."""
        if request.method in ("GET", "HEAD"):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/ui/login?next={quote(target, safe='')}", status_code=303)
        target = form_page(request, self.services.config.server.public_path)
        # A form posted after its session ended did nothing: the login page says so, and then
        # shows the form's page again rather than the POST-only action (whose GET would be a 405).
        return self.redirect(f"/ui/login?next={quote(target, safe='')}", Notice("not-done"))

    def redirect(self, path: str, notice: Notice | None = None) -> RedirectResponse:
        """After a POST: back to a page (303, so a reload does not post again), with a notice."""
        if notice is not None:
            path += ("&" if "?" in path else "?") + urlencode(notice.query(self.secret))
        return RedirectResponse(path, status_code=303)

    # --- the endpoint -------------------------------------------------------------------------

    def endpoint(self, handler: Handler, public: bool = False) -> Callable[[Request], Any]:
        """A page's endpoint: the session (else the login page), the CSRF check of a POST (else
        403, nothing done), then `handler` in the thread pool; an ApiError is shown as a page."""

        async def serve(request: Request) -> Response:
            new_browser = request.cookies.get(BROWSER_COOKIE, "") == ""
            request.state.browser_key = request.cookies.get(BROWSER_COOKIE) or secrets.token_urlsafe(24)
            response = await self._serve(request, handler, public)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            if new_browser:
                response.set_cookie(BROWSER_COOKIE, request.state.browser_key, path="/", httponly=True,
                                    samesite="lax", secure=self.secure_cookies)
            return response

        return serve

    async def _serve(self, request: Request, handler: Handler, public: bool) -> Response:
        found = await run_in_threadpool(self.principal, request)
        if found is None and not public:
            return self._to_login(request)
        anonymous = View(request, Principal(0, "", ""))
        view = View(request, found[0], zone=found[1]) if found is not None else anonymous
        if request.method == "POST":
            try:
                body = await read_body(request)
            except ApiError as error:
                return self.error_page(request, view if found else None, error)
            view.form = Form(form_fields(body.decode("utf-8", "replace")))
            browser = request.cookies.get(BROWSER_COOKIE, "")
            if not csrf_matches(self.secret, browser, view.form.get("csrf_token")):
                refused = ApiError(403, "CSRF", "this form's security token is missing or out of date: "
                                                "go back, reload the page and try again")
                return self.error_page(request, view if found else None, refused)
        if found is not None:
            # The API's handlers, called on the user's behalf, find the caller here.
            request.state.principal = view.principal
        try:
            result = await run_in_threadpool(handler, view)
        except ApiError as error:
            return self.error_page(request, view if found else None, error)
        if isinstance(result, Page):
            return self.render(request, view if found else None, result)
        return result


def form_page(request: Request, public_path: str) -> str:
    """The page a form posted to `request` was on: the Referer's path if it is a page of this UI
    on this host, else the action's path without its last segment (/ui/incidents/1/accept ->
    /ui/incidents/1)."""
    referer = urlsplit(request.headers.get("referer", ""))
    path = referer.path
    if public_path and (path == public_path or path.startswith(public_path + "/")):
        path = path[len(public_path):]
    if referer.netloc == request.headers.get("host", "") and path.startswith("/ui/") \
            and not path.startswith("/ui/login"):
        # An old notice ("Accepted.") would read as the outcome of the action that was not done.
        query = urlencode([(k, v) for k, v in parse_qsl(referer.query) if not is_notice_parameter(k)])
        return path + (f"?{query}" if query else "")
    return request.url.path.rstrip("/").rsplit("/", 1)[0] or "/ui/incidents"


def web_url(value: Any) -> str:
    """`value` if it is an http(s) URL, else empty: what an alert sends as a link or an image
    could be `javascript:` or `data:`, which a page must not make clickable."""
    text = str(value or "").strip()
    return text if text.lower().startswith(("https://", "http://")) else ""


def who(user: Any) -> str:
    """A user reference `{id, username}` as a page names it: the API's reference to a user deleted
    since (an incident's history keeps their id) has an empty username, which read as nobody."""
    if not user:
        return "?"
    return str(user["username"]) or f"deleted user #{user['id']}"


def local_time(value: Any, zone: ZoneInfo, with_date: bool = True) -> str:
    """An instant (datetime or the API's ISO text) in the viewer's zone; empty for none."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = parse_instant(value)
    local = value.astimezone(zone)
    return local.strftime("%a %Y-%m-%d %H:%M %Z" if with_date else "%H:%M")

