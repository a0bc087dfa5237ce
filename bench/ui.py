"""Section ui: how long each page of the web UI takes to render with 10,000 incidents in the store.

A daemon from the template store with 10,000 open incidents seeded in (as scale seeds them),
then, through its own API, what the pages show beside them: a second user, a schedule, an
escalation policy on the default source, a maintenance window ahead, an e-mail contact and rule
for the admin, one incident opened by an event (paged to the admin through the log channel,
commented and accepted: the newest, with a timeline) and some seeded incidents resolved. Then,
logged in as `admin` through the login form (a session and a browser cookie, as a browser
holds them), each page is fetched a few times to warm up and then timed over one keep-alive
connection, one GET after the other: the time from sending the request to the last byte of the
answer. A page that answers 404 is not built (yet) and skipped; any other answer than 200 is
an error. A daemon without a web UI (`GET /ui/login` is 404, a revision from before it) is
recorded as not built, without figures.
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import subprocess
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode, urlsplit

from bench import client, seed
from bench.context import Context
from bench.daemon import Ilertd, ilertd_command
from bench.daemon import template as daemon_template
from bench.procs import environment, free_port, wait_until_idle
from bench.report_figures import UI_PAGES
from bench.spec import percentile

INCIDENTS = 10_000
WARM_UP_GETS = 3
QUICK_TIMED_GETS = 30
FULL_TIMED_GETS = 100
RESOLVED = 60
COMMENTS = 10
PAGE_SIZE = 50
START_TIMEOUT_S = 120.0
GET_TIMEOUT_S = 30.0
PASSWORD_LINE = re.compile(r"admin password: (\S+)")
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
SESSION_COOKIE = "ilertd_session"
BROWSER_COOKIE = "ilertd_browser"
# Every page kind the navigation reaches; `{name}` is filled from what the setup created.
PATHS = {
    "incidents": "/ui/incidents",
    "incidents_last": "/ui/incidents?start={last_start}",
    "incidents_resolved": "/ui/incidents?status=RESOLVED",
    "incident_rows": "/ui/incidents/rows",
    "incident_newest": "/ui/incidents/{newest}",
    "incident_oldest": "/ui/incidents/1",
    "on_call": "/ui/on-call",
    "schedules": "/ui/schedules",
    "schedule": "/ui/schedules/{schedule}",
    "policies": "/ui/policies",
    "policy": "/ui/policies/{policy}",
    "sources": "/ui/sources",
    "source": "/ui/sources/{source}",
    "profile": "/ui/profile",
    "admin_users": "/ui/admin/users",
    "admin_user": "/ui/admin/users/{admin}",
    "admin_maintenance": "/ui/admin/maintenance",
}


class NotBuilt(Exception):
    """The daemon has no web UI."""


class Api:
    """The daemon's JSON API with the admin's token, for the setup; any answer but `expected` raises."""

    def __init__(self, daemon: Ilertd) -> None:
        self.daemon = daemon

    def call(self, method: str, path: str, body: Any = None, expected: int = 200) -> Any:
        status, reply = client.request(self.daemon.url + path, method, body,
                                       {"Authorization": f"Bearer {self.daemon.admin_token}"})
        if status != expected:
            raise RuntimeError(f"setup: {method} {path} answered {status}: {reply[:300]!r}")
        return json.loads(reply) if reply else None


def _furnish(daemon: Ilertd) -> dict[str, Any]:
    """What the pages list beside the seeded incidents, made through the API; the ids to visit."""
    api = Api(daemon)
    admin = api.call("GET", "/api/users/current")["id"]
    other = api.call("POST", "/api/users", {"username": "bench-oncall", "email": "oncall@example.org"},
                     201)["id"]
    schedule = api.call("POST", "/api/schedules", {
        "name": "bench primary", "type": "RECURRING", "timezone": "Europe/Berlin",
        "scheduleLayers": [{"name": "weekly", "users": [{"id": admin}, {"id": other}], "rotation": "P1W",
                            "startsOn": "2026-01-05T09:00"}],
    }, 201)["id"]
    policy = api.call("POST", "/api/escalation-policies", {
        "name": "bench policy",
        "escalationRules": [{"escalationTimeout": 30, "users": [{"id": admin}], "schedules": []},
                            {"escalationTimeout": 30, "users": [], "schedules": [{"id": schedule}]}],
    }, 201)["id"]
    source = api.call("GET", "/api/alert-sources")[0]["id"]
    api.call("PUT", f"/api/alert-sources/{source}", {"escalationPolicy": {"id": policy}})
    now = datetime.now(UTC)
    api.call("POST", "/api/maintenance-windows", {
        "summary": "bench window", "start": (now + timedelta(days=7)).isoformat(),
        "end": (now + timedelta(days=7, hours=2)).isoformat(), "alertSources": [{"id": source}],
    }, 201)
    contact = api.call("POST", f"/api/users/{admin}/contacts",
                       {"method": "EMAIL", "target": "admin@example.org"}, 201)["id"]
    api.call("POST", f"/api/users/{admin}/notification-preferences/alerts",
             {"method": "EMAIL", "contact": {"id": contact}, "type": "HIGH_PRIORITY", "delayMin": 0}, 201)
    # One incident that lived: opened by an event, paged to the admin, commented, accepted.
    api.call("POST", "/api/events", json.loads(daemon.event_body(f"bench-ui-{secrets.token_hex(4)}")), 202)
    newest = api.call("GET", "/api/incidents?max-results=1")[0]["id"]
    for index in range(COMMENTS):
        api.call("POST", f"/api/incidents/{newest}/comments", {"content": f"looked at it ({index + 1})"}, 201)
    api.call("PUT", f"/api/incidents/{newest}/accept")
    for incident in range(2, 2 + RESOLVED):
        api.call("PUT", f"/api/incidents/{incident}/resolve")
    still_open = INCIDENTS - RESOLVED + 1
    return {"admin": admin, "schedule": schedule, "policy": policy, "source": source, "newest": newest,
            "last_start": (still_open - 1) // PAGE_SIZE * PAGE_SIZE, "open_incidents": still_open,
            "resolved": RESOLVED, "comments": COMMENTS}


def _password(daemon: Ilertd) -> tuple[str, str]:
    """The admin's password from first-run.txt, else one set with `ilertd user passwd admin`
    (a store from before passwords); with where it came from."""
    found = PASSWORD_LINE.search((daemon.data_dir / "first-run.txt").read_text())
    if found:
        return found.group(1), "first-run.txt"
    password = secrets.token_urlsafe(16)
    done = subprocess.run([*ilertd_command(), "user", "passwd", "admin"], input=password + "\n", text=True,
                          capture_output=True, cwd=daemon.root, timeout=60,
                          env=environment(STATE_DIRECTORY=str(daemon.data_dir)))
    if done.returncode != 0:
        raise RuntimeError(f"`ilertd user passwd admin` exited {done.returncode}: {done.stderr[-300:]}")
    return password, "set with `ilertd user passwd admin`"


def _cookies(response: http.client.HTTPResponse) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_all("Set-Cookie") or []:
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


def _log_in(connection: http.client.HTTPConnection, password: str) -> str:
    """The login form as a browser sends it; the Cookie header of the session it starts."""
    connection.request("GET", "/ui/login")
    response = connection.getresponse()
    form = response.read().decode("utf-8", "replace")
    browser = _cookies(response).get(BROWSER_COOKIE, "")
    token = CSRF_FIELD.search(form)
    if response.status != 200 or not browser or token is None:
        raise RuntimeError(f"GET /ui/login answered {response.status} without the browser cookie or the"
                           f" CSRF field: {form[:300]!r}")
    body = urlencode({"username": "admin", "password": password, "csrf_token": token.group(1),
                      "next": "/ui/incidents"})
    connection.request("POST", "/ui/login", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": f"{BROWSER_COOKIE}={browser}"})
    response = connection.getresponse()
    reply = response.read()
    session = _cookies(response).get(SESSION_COOKIE, "")
    if response.status != 303 or not session:
        raise RuntimeError(f"POST /ui/login answered {response.status} without a session: {reply[:300]!r}")
    return f"{BROWSER_COOKIE}={browser}; {SESSION_COOKIE}={session}"


def _time_page(url: str, cookie: str, key: str, path: str, timed: int) -> dict[str, Any]:
    """WARM_UP_GETS then `timed` GETs of `path` on one connection; the spread of the timed ones."""
    page: dict[str, Any] = {"key": key, "label": UI_PAGES[key], "path": path}
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=GET_TIMEOUT_S)
    seconds: list[float] = []
    try:
        for index in range(WARM_UP_GETS + timed):
            began = time.perf_counter()
            connection.request("GET", path, headers={"Cookie": cookie})
            response = connection.getresponse()
            body = response.read()
            took = time.perf_counter() - began
            if response.status == 404 and index == 0:
                return {**page, "status": "not built"}
            if response.status != 200:
                return {**page, "status": "error", "http_status": response.status,
                        "error": f"GET {path} answered {response.status} (GET {index + 1}): {body[:200]!r}"}
            if index >= WARM_UP_GETS:
                seconds.append(took)
    finally:
        connection.close()
    ordered = sorted(each * 1000.0 for each in seconds)
    return {**page, "status": "ok", "http_status": 200, "bytes": len(body), "gets": len(ordered),
            "p50_ms": percentile(ordered, 0.50), "p95_ms": percentile(ordered, 0.95), "max_ms": ordered[-1]}


def _measure(ctx: Context, daemon: Ilertd, timed: int) -> dict[str, Any]:
    parts = urlsplit(daemon.url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=GET_TIMEOUT_S)
    try:
        # Before anything is set up: a daemon without a UI is told apart at once.
        connection.request("GET", "/ui/login")
        probe = connection.getresponse()
        probe.read()
        if probe.status == 404:
            raise NotBuilt("GET /ui/login answered 404: this daemon has no web UI")
        password, password_from = _password(daemon)
        setup = _furnish(daemon)
        cookie = _log_in(connection, password)
    finally:
        connection.close()
    # The setup's pages and the start's armed deadlines are done with before anything is timed.
    wait_until_idle(daemon.pid)
    pages = []
    for key, template in PATHS.items():
        page = _time_page(daemon.url, cookie, key, template.format(**setup), timed)
        pages.append(page)
        figures = (f"p50 {page['p50_ms']:6.1f}  p95 {page['p95_ms']:6.1f}  max {page['max_ms']:6.1f} ms"
                   f"  {page['bytes']:>8,} B" if page["status"] == "ok"
                   else page.get("error", page["status"]))
        ctx.log(f"  {page['path']:<36} {figures}")
    errors = [page["error"] for page in pages if page["status"] == "error"]
    return {"setup": {**setup, "password": password_from}, "pages": pages, "errors": errors,
            "failed_measurements": [page["key"] for page in pages if page["status"] == "error"]}


def run(ctx: Context, units: Sequence[str] | None = None) -> dict[str, Any]:
    timed = QUICK_TIMED_GETS if ctx.quick else FULL_TIMED_GETS
    ctx.log(f"ui: template daemon, {INCIDENTS:,} incidents seeded, then {WARM_UP_GETS} + {timed} GETs a page")
    template = daemon_template(ctx.scratch / "ui-template", "ui-template")
    daemon = Ilertd(ctx.scratch / "ui", "ui")
    seed.copy_store(template.data_dir, daemon.data_dir)
    seed.seed_incidents(daemon.data_dir, INCIDENTS)
    daemon.read_secrets()
    port = free_port()
    daemon.url = f"http://127.0.0.1:{port}"
    result: dict[str, Any] = {"seeded_incidents": INCIDENTS, "warm_up_gets": WARM_UP_GETS,
                              "timed_gets": timed}
    try:
        service = daemon.launch(port)
        client.wait_for_status(daemon.url + "/healthz", 200, START_TIMEOUT_S, alive=service.check_alive)
        try:
            result.update(_measure(ctx, daemon, timed))
        except NotBuilt as reason:
            ctx.log(f"ui: not measured: {reason}")
            result["not_built"] = str(reason)
        errors = daemon.error_lines()
        if errors:
            result.setdefault("errors", []).extend(f"daemon log: {line}" for line in errors[:5])
    finally:
        result["daemon_exit_status"] = daemon.stop()
    return {"ui": result}
