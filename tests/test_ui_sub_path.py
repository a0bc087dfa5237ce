"""ilertd behind a proxy that serves it under a sub-path (`public_url = "https://host/oncall"`): every
link and redirect of the web UI begins with that path, and a request is served whether the proxy
passes the path on or strips it."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

import httpx2 as httpx
import pytest

from tests.inprocess import InProcessDaemon
from tests.test_ui_crawl import MOST_PAGES, seed
from tests.ui_helpers import PASSWORD, csrf

PREFIX = "/oncall"
# Every place a page names a URL of its own: links, forms, scripts, stylesheets, the live list.
URLS = re.compile(r'(href|action|src|data-live)="([^"]*)"')


@pytest.fixture
def proxied(make_app: Callable[..., InProcessDaemon]) -> InProcessDaemon:
    """A daemon whose public_url has a path: its clients send every path under it, as a proxy that
    passes the whole path on would."""
    return make_app(env={"ILERTD_SERVER_PUBLIC_URL": f"http://127.0.0.1:8020{PREFIX}"}).start()


def log_in(client: httpx.Client) -> None:
    page = client.get("/ui/login")
    assert page.status_code == 200, page.text
    form = {"username": "ann", "password": PASSWORD, "csrf_token": csrf(page.text), "next": "/ui/incidents"}
    reply = client.post("/ui/login", data=form, follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == f"{PREFIX}/ui/incidents", reply.headers


def own_urls(html: str, at: str, kinds: tuple[str, ...] = ("href", "action", "src", "data-live")
             ) -> list[str]:
    """The URLs of ilertd's own that `html` (the page a browser shows at path `at`) names in
    attributes of `kinds`, made absolute paths."""
    found = []
    for kind, url in URLS.findall(html):
        target = urlsplit(urljoin(at, url.replace("&amp;", "&")))
        if kind in kinds and not target.netloc and target.path:
            found.append(target.path + (f"?{target.query}" if target.query else ""))
    return found


def test_every_link_form_and_redirect_of_the_ui_is_under_the_path(proxied: InProcessDaemon) -> None:
    seed(proxied)
    client = proxied.browser()
    assert str(client.base_url).rstrip("/").endswith(PREFIX)
    # Not logged in: to the login page, under the path, and back after it.
    gate = client.get("/ui/sources", follow_redirects=False)
    assert gate.status_code == 303, gate.text
    assert gate.headers["location"].startswith(f"{PREFIX}/ui/login?next="), gate.headers
    log_in(client)

    seen: dict[str, int] = {}
    outside: set[tuple[str, str]] = set()
    queue = deque([f"{PREFIX}/ui/incidents"])
    while queue and len(seen) < MOST_PAGES:
        path = queue.popleft()
        if path in seen:
            continue
        reply = client.get(f"http://127.0.0.1:8020{path}", follow_redirects=False)
        seen[path] = reply.status_code
        if "text/html" not in reply.headers.get("content-type", ""):
            continue
        outside.update((path, url) for url in own_urls(reply.text, path) if not url.startswith(f"{PREFIX}/"))
        queue.extend(url for url in own_urls(reply.text, path, ("href", "src", "data-live"))
                     if url.startswith(f"{PREFIX}/ui/"))
    assert len(seen) >= 20, sorted(seen)
    assert not outside, sorted(outside)[:20]
    assert {p: s for p, s in seen.items() if s != 200} == {}
    assert seen[f"{PREFIX}/ui/static/live.js"] == 200 and seen[f"{PREFIX}/ui/static/style.css"] == 200

    # A form's POST answers a redirect under the path, and so does logging out.
    page = client.get("/ui/admin/maintenance")
    created = client.post("/ui/admin/maintenance", follow_redirects=False, data={
        "summary": "upgrade", "start": "2026-01-06T10:00", "end": "2026-01-06T11:00", "alertSources": "1",
        "csrf_token": csrf(page.text)})
    assert created.status_code == 303, created.text
    assert created.headers["location"].startswith(f"{PREFIX}/ui/admin/maintenance"), created.headers


def test_a_proxy_that_strips_the_path_is_served_too(proxied: InProcessDaemon) -> None:
    seed(proxied)
    stripped = proxied.browser()
    stripped.base_url = httpx.URL("http://127.0.0.1:8020")
    log_in(stripped)
    page = stripped.get("/ui/incidents")
    assert page.status_code == 200
    # The browser shows it under the path: the proxy took the path off before ilertd saw it.
    urls = own_urls(page.text, f"{PREFIX}/ui/incidents")
    assert urls and all(url.startswith(f"{PREFIX}/") for url in urls), urls
    # The API the same way, and the links it writes name the path.
    body = {"integrationKey": proxied.integration_key, "eventType": "ALERT", "summary": "disk full",
            "alertKey": "disk1"}
    event = stripped.post("/api/events", json=body)
    assert event.status_code == 202, event.text
    assert event.json()["alertUrl"].startswith(f"http://127.0.0.1:8020{PREFIX}/ui/incidents/")


def test_an_action_links_page_is_under_the_path(proxied: InProcessDaemon) -> None:
    refused = proxied.client.get("/r/not-a-token")
    assert refused.status_code == 403, refused.text
    assert own_urls(refused.text, "/r/x") == [f"{PREFIX}/ui/static/style.css", f"{PREFIX}/ui/incidents"]


def test_the_openapi_document_names_the_path_as_its_server(proxied: InProcessDaemon) -> None:
    """Its paths are relative to its servers; without one a client resolves them against the host's
    root and misses the sub-path."""
    document = proxied.client.get("/api/openapi.json").json()
    assert document["servers"] == [{"url": PREFIX}]
