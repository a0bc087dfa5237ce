"""The web UI's status line: only the UI's own notices show, never a text a link carries."""

from __future__ import annotations

import re
from string import Formatter
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.datastructures import QueryParams

from ilertd.web.ui.notices import NOTICES, Notice, shown_notice
from tests.inprocess import InProcessDaemon
from tests.ui_helpers import browser, login, submit, user

SPOOF = "Security notice: ilertd has moved. Log in at https://evil.example instead."
_NOTICE = re.compile(r'<p class="notice" role="status">([^<]*)</p>')


def notice_of(html: str) -> str | None:
    found = _NOTICE.search(html)
    return found[1] if found else None


def test_a_notice_a_link_carries_shows_nothing(app: InProcessDaemon) -> None:
    """Any `?notice=` text showed as the UI's own status line, on the login page and every page
    of a logged-in user: a phishing text inside the real UI."""
    user(app, "ann")
    crafted = urlencode({"next": "/ui/incidents", "notice": SPOOF})
    assert notice_of(browser(app).get(f"/ui/login?{crafted}").text) is None
    client = login(app, "ann")
    assert notice_of(client.get(f"/ui/incidents?{crafted}").text) is None
    # A code of a notice that names someone shows nothing without the UI's signature.
    for forged in ({"notice": "user-deleted", "notice_value": SPOOF},
                   {"notice": "user-deleted", "notice_value": SPOOF, "notice_sig": "A" * 22},
                   {"notice": "user-deleted"}):
        assert notice_of(client.get(f"/ui/incidents?{urlencode(forged)}").text) is None


def test_the_uis_own_notices_still_show_as_they_read(app: InProcessDaemon) -> None:
    user(app, "boss", role="ADMIN")
    admin = login(app, "boss")
    created = submit(admin, "/ui/admin/users", "/ui/admin/users",
                     {"username": "cy", "email": "cy@example.com", "role": "USER"})
    assert notice_of(created.text) == "User cy created. Set a password with: ilertd user passwd cy"
    cy = next(u for u in app.get("/api/users").json() if u["username"] == "cy")["id"]
    deleted = submit(admin, f"/ui/admin/users/{cy}", f"/ui/admin/users/{cy}/delete", {})
    assert notice_of(deleted.text) == "User cy deleted."
    # Its signed name swapped for another text: nothing shows.
    query = [(k, SPOOF if k == "notice_value" else v) for k, v in parse_qsl(urlsplit(str(deleted.url)).query)]
    assert notice_of(admin.get(f"/ui/admin/users?{urlencode(query)}").text) is None
    incident_id = app.event(summary="db down", alertKey="db1").json()["incidentId"]
    page = f"/ui/incidents/{incident_id}"
    assert notice_of(submit(admin, page, f"{page}/accept", {}).text) == "Accepted."
    logged_out = submit(admin, "/ui/incidents", "/ui/logout", {})
    assert notice_of(logged_out.text) == "Logged out."


def test_every_notice_reads_back_from_its_query_and_only_with_its_own_key() -> None:
    for code, text in NOTICES.items():
        values = tuple(f"name {n}" for n in range(len({field for _, field, _, _ in Formatter().parse(text)
                                                          if field is not None})))
        query = QueryParams(urlencode(Notice(code, values).query("key")))
        assert shown_notice(query, lambda: "key") == text.format(*values)
        assert shown_notice(query, lambda: "another key") == ("" if values else text)
