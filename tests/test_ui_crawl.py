"""Every page reachable from the web UI's navigation answers without a server error, for an ADMIN
and for a USER, over a store holding one of everything."""

from __future__ import annotations

import re
from collections import deque
from urllib.parse import urljoin, urlsplit

import httpx2 as httpx

from tests.inprocess import InProcessDaemon
from tests.ui_helpers import login, user

HREF = re.compile(r'href="([^"]+)"')
# Enough for every page of the seeded store; a crawl that finds more has found a loop of links.
MOST_PAGES = 400


def seed(app: InProcessDaemon) -> None:
    ann = user(app, "ann", role="ADMIN")
    bob = user(app, "bob")
    for person in (ann, bob):
        phone = {"method": "SMS", "target": f"+4915100000{person:03d}"}
        contact = {"id": app.post(f"/api/users/{person}/contacts", phone).json()["id"]}
        app.post(f"/api/users/{person}/notification-preferences/alerts",
                 {"method": "SMS", "contact": contact, "delayMin": 0, "type": "HIGH_PRIORITY"})
        app.post(f"/api/users/{person}/notification-preferences/duties",
                 {"method": "SMS", "contact": contact, "beforeMin": 15})
    schedule = app.post("/api/schedules", {
        "name": "primary", "type": "RECURRING", "timezone": "Europe/Berlin",
        "scheduleLayers": [{"name": "days", "users": [{"id": ann}, {"id": bob}], "rotation": "P1D",
                            "startsOn": "2026-01-05T10:00"}]}).json()["id"]
    app.put(f"/api/schedules/{schedule}/overrides", {"user": {"id": bob}, "start": "2026-01-06T00:00:00Z",
                                                     "end": "2026-01-06T06:00:00Z"})
    policy = app.post("/api/escalation-policies", {"name": "ops", "escalationRules": [
        {"escalationTimeout": 10, "users": [{"id": ann}], "schedules": [{"id": schedule}]},
        {"escalationTimeout": 10, "users": [{"id": bob}]}]}).json()["id"]
    app.put("/api/alert-sources/1", {"escalationPolicy": {"id": policy}})
    app.post("/api/alert-sources", {"name": "prometheus", "integrationType": "ALERTMANAGER",
                                    "escalationPolicy": {"id": policy}})
    app.post("/api/heartbeat-monitors", {"name": "backup job", "intervalSec": 3600, "alertSource": {"id": 1}})
    app.post("/api/maintenance-windows", {"summary": "db upgrade", "start": "2026-01-07T00:00:00Z",
                                          "end": "2026-01-07T02:00:00Z", "alertSources": [{"id": 1}]})
    first = app.event(summary="db down", alertKey="db1", details="x\ny", labels={"team": "db"},
                      links=[{"href": "https://runbook.example/db", "text": "runbook"}],
                      images=[{"src": "https://img.example/graph.png", "alt": "graph"}]).json()["incidentId"]
    app.event(summary="cpu hot", alertKey="cpu1")
    resolved = app.event(summary="done", alertKey="old1").json()["incidentId"]
    app.put(f"/api/incidents/{first}/accept")
    app.put(f"/api/incidents/{resolved}/resolve")
    app.advance("PT0S")


def crawl(client: httpx.Client, start: str = "/ui/incidents") -> dict[str, int]:
    """Status of every /ui/ page reachable by links from `start` (GET only, as a crawler)."""
    seen: dict[str, int] = {}
    queue = deque([start])
    while queue and len(seen) < MOST_PAGES:
        path = queue.popleft()
        if path in seen:
            continue
        reply = client.get(path, follow_redirects=False)
        seen[path] = reply.status_code
        if "text/html" not in reply.headers.get("content-type", ""):
            continue
        for link in HREF.findall(reply.text):
            target = urljoin(path, link.replace("&amp;", "&"))
            parts = urlsplit(target)
            if parts.netloc or not parts.path.startswith("/ui/"):
                continue
            queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    assert len(seen) < MOST_PAGES, "the crawl did not end"
    return seen


def test_no_page_reachable_from_the_navigation_fails(app: InProcessDaemon) -> None:
    seed(app)
    as_admin = crawl(login(app, "ann"))
    failed = {path: status for path, status in as_admin.items() if status >= 500}
    assert not failed, failed
    for page in ("/ui/incidents", "/ui/on-call", "/ui/schedules", "/ui/policies", "/ui/sources",
                 "/ui/profile", "/ui/admin/users", "/ui/admin/maintenance"):
        assert as_admin.get(page) == 200, (page, as_admin.get(page))
    assert any(path.startswith("/ui/incidents/") for path in as_admin)
    as_user = crawl(login(app, "bob"))
    assert not {path: status for path, status in as_user.items() if status >= 500}
    assert not any(path.startswith("/ui/admin") for path in as_user), "a USER is shown admin links"
