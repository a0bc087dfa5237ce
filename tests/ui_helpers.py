"""Driving the web UI over HTTP as a browser would: its own cookies, the CSRF field of each form."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import httpx2 as httpx

from tests.inprocess import InProcessDaemon

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def browser(app: InProcessDaemon) -> httpx.Client:
    """A client of the daemon's web app with cookies of its own (another browser, another user)."""
    return app.browser()


def csrf(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found[1]


def user(app: InProcessDaemon, username: str, role: str = "USER", password: str = PASSWORD) -> int:
    """A user who can log in to the UI."""
    created = app.post("/api/users", {"username": username, "role": role, "email": f"{username}@example.com"})
    assert created.status_code == 201, created.text
    assert app.daemon.services is not None
    app.daemon.services.app.passwords.set(username, password)
    return int(created.json()["id"])


def login(app: InProcessDaemon, username: str, password: str = PASSWORD) -> httpx.Client:
    """A browser logged in as `username`."""
    client = browser(app)
    page = client.get("/ui/login")
    reply = client.post("/ui/login", data={"username": username, "password": password,
                                           "csrf_token": csrf(page.text), "next": "/ui/incidents"})
    assert reply.status_code == 200 and str(reply.url).endswith("/ui/incidents"), reply.text
    return client


def submit(client: httpx.Client, page: str, action: str, data: dict[str, Any] | list[tuple[str, str]]
           ) -> Any:
    """Post a form of `page` to `action` with `data`, as its submit button would (redirects followed)."""
    token = csrf(client.get(page).text)
    fields = list(data.items()) if isinstance(data, dict) else list(data)
    return client.post(action, content=urlencode([*fields, ("csrf_token", token)]),
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
