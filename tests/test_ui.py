"""The web UI over HTTP: logging in, sessions, CSRF, the rate limit, and the incident pages."""

from __future__ import annotations

import gc
import re
import tracemalloc
from datetime import UTC, datetime, timedelta

from ilertd.web.ui.core import FAILED_LOGIN_WINDOW, FAILED_LOGINS_ALLOWED, LoginLimiter
from tests.inprocess import InProcessDaemon
from tests.ui_helpers import PASSWORD, browser, csrf, login, submit, user


def test_pages_need_a_login_and_the_session_cookie_is_safe(app: InProcessDaemon) -> None:
    user(app, "ann")
    anonymous = browser(app)
    reply = anonymous.get("/ui/incidents", follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/ui/login?next=%2Fui%2Fincidents"
    client = browser(app)
    form = client.get("/ui/login")
    logged_in = client.post("/ui/login", data={"username": "ann", "password": PASSWORD,
                                               "csrf_token": csrf(form.text), "next": "/ui/incidents"},
                            follow_redirects=False)
    assert logged_in.status_code == 303 and logged_in.headers["location"] == "/ui/incidents"
    cookie = next(c for c in logged_in.headers.get_list("set-cookie") if c.startswith("ilertd_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=43200" in cookie
    assert client.get("/ui/incidents").status_code == 200
    # Another site's redirect target is not followed after a login.
    other = browser(app)
    token = csrf(other.get("/ui/login").text)
    away = other.post("/ui/login", data={"username": "ann", "password": PASSWORD, "csrf_token": token,
                                         "next": "https://evil.example/"}, follow_redirects=False)
    assert away.headers["location"] == "/ui/incidents"


def test_a_session_ends_at_logout_at_its_expiry_and_with_a_new_password(app: InProcessDaemon) -> None:
    user(app, "ann")
    client = login(app, "ann")
    submit(client, "/ui/incidents", "/ui/logout", {})
    assert str(client.get("/ui/incidents").url).split("?")[0].endswith("/ui/login")
    client = login(app, "ann")
    app.advance("PT12H")
    assert str(client.get("/ui/incidents").url).split("?")[0].endswith("/ui/login")
    client = login(app, "ann")
    assert app.daemon.services is not None
    app.daemon.services.app.passwords.set("ann", "another long password")
    assert str(client.get("/ui/incidents").url).split("?")[0].endswith("/ui/login")


def test_acting_after_the_session_ended_leads_back_to_the_incident_not_done(app: InProcessDaemon) -> None:
    """Accept on a page left open past the session's end went to the login page, then to the
    POST-only action: a raw 405, and the incident still PENDING while the responder thought it
    accepted."""
    user(app, "ann")
    incident_id = app.event(summary="db down", alertKey="db1").json()["incidentId"]
    client = login(app, "ann")
    page = f"/ui/incidents/{incident_id}"
    token = csrf(client.get(page).text)
    app.advance("PT12H1M")
    base = str(client.base_url).rstrip("/")
    for referer in ({"Referer": f"{base}{page}?notice=Accepted."}, {}, {"Referer": "https://evil.example/ui/users"}):
        gate = client.post(f"{page}/accept", data={"csrf_token": token}, headers=referer,
                           follow_redirects=False)
        assert gate.status_code == 303, gate.text
        shown = client.get(gate.headers["location"])
        assert "that was not done" in shown.text
        target = re.search(r'name="next" value="([^"]+)"', shown.text)
        assert target is not None and target[1] == page, target
        logged_in = client.post("/ui/login", data={"username": "ann", "password": PASSWORD,
                                                   "csrf_token": csrf(shown.text), "next": target[1]})
        assert logged_in.status_code == 200 and '/accept"' in logged_in.text, logged_in.text[:300]
        assert app.get(f"/api/incidents/{incident_id}").json()["status"] == "PENDING"
        app.advance("PT12H1M")


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(app: InProcessDaemon) -> None:
    user(app, "ann")
    incident_id = app.event(summary="db down", alertKey="db1").json()["incidentId"]
    client = login(app, "ann")
    for token in (None, "forged", csrf(browser(app).get("/ui/login").text)):
        data = {"csrf_token": token} if token is not None else {}
        refused = client.post(f"/ui/incidents/{incident_id}/accept", data=data)
        assert refused.status_code == 403 and "security token" in refused.text
    assert app.get(f"/api/incidents/{incident_id}").json()["status"] == "PENDING"


def test_five_wrong_passwords_are_rate_limited(app: InProcessDaemon) -> None:
    user(app, "ann")
    client = browser(app)
    for _ in range(5):
        token = csrf(client.get("/ui/login").text)
        wrong = client.post("/ui/login", data={"username": "ann", "password": "nope", "csrf_token": token})
        assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
    token = csrf(client.get("/ui/login").text)
    limited = client.post("/ui/login", data={"username": "ann", "password": PASSWORD, "csrf_token": token})
    assert limited.status_code == 429 and "Too many failed logins" in limited.text
    app.advance("PT15M")
    login(app, "ann")


def test_the_incident_page_acts_and_shows_each_step_in_its_timeline(app: InProcessDaemon) -> None:
    ann = user(app, "ann")
    level = {"escalationTimeout": 10, "users": [{"id": ann}]}
    policy = app.post("/api/escalation-policies", {"name": "ops", "escalationRules": [level, level]})
    app.put("/api/alert-sources/1", {"escalationPolicy": {"id": policy.json()["id"]}})
    opened = app.event(summary="db <b>down</b>", alertKey="db1", details="replica lag 40 s",
                       links=[{"href": "https://runbook.example/db", "text": "runbook"}])
    incident_id = opened.json()["incidentId"]
    app.advance("PT0S")
    client = login(app, "ann")
    listed = client.get("/ui/incidents")
    assert f'href="/ui/incidents/{incident_id}"' in listed.text
    assert "db &lt;b&gt;down&lt;/b&gt;" in listed.text
    page = f"/ui/incidents/{incident_id}"
    shown = client.get(page)
    assert "replica lag 40 s" in shown.text and "https://runbook.example/db" in shown.text
    assert "level 0" in shown.text and "next level at" in shown.text
    assert submit(client, page, f"{page}/accept", {}).status_code == 200
    # A refused comment or escalation shows the incident again, the message by its form and what
    # was typed kept (an error page lost the comment, under an error code of no table).
    blank = submit(client, page, f"{page}/comment", {"content": "   "})
    assert blank.status_code == 400 and '<textarea id="content"' in blank.text
    assert "content is required and must be a non-empty string" in blank.text
    wrong = submit(client, page, f"{page}/escalate", {"level": "abc"})
    assert wrong.status_code == 400 and "level must be a level of the escalation policy" in wrong.text
    assert '<form method="post" action="/ui/incidents/' in wrong.text
    assert submit(client, page, f"{page}/comment", {"content": "restarting the replica"}).status_code == 200
    escalated = submit(client, page, f"{page}/escalate", {"level": "1"})
    assert "Escalated." in escalated.text
    assert submit(client, page, f"{page}/resolve", {}).status_code == 200
    timeline = client.get(page).text.split("<h2>Timeline</h2>")[1]
    kinds = re.findall(r'<span class="kind">([^<]+)</span>', timeline)
    assert [k for k in kinds if k in (
        "Accepted", "Comment", "Escalated", "Resolved")] == ["Accepted", "Comment", "Escalated", "Resolved"]
    assert "restarting the replica" in timeline and timeline.count('<span class="channel">WEB</span>') == 4
    entries = app.get(f"/api/incidents/{incident_id}/log-entries").json()
    assert {e["logEntryType"] for e in entries if e["channel"] == "WEB"} == {
        "ACCEPTED", "COMMENT", "ESCALATED", "RESOLVED"}
    # A resolved incident offers no more actions; acting anyway is refused as the API refuses.
    final = client.get(page).text
    assert "/accept" not in final and "/resolve" not in final
    refused = submit(client, page, f"{page}/accept", {})
    assert refused.status_code == 409


def test_a_responder_deleted_since_is_named_as_such_on_the_incident_page(app: InProcessDaemon) -> None:
    """The API keeps a deleted user's id with an empty username in an incident's history; the
    page read "Accepted by , ..." and listed a blank among the people paged."""
    ann, bo = user(app, "ann", role="ADMIN"), user(app, "bo")
    policy = app.post("/api/escalation-policies", {"name": "ops", "escalationRules": [
        {"escalationTimeout": 10, "users": [{"id": ann}, {"id": bo}]}]})
    app.put("/api/alert-sources/1", {"escalationPolicy": {"id": policy.json()["id"]}})
    incident_id = app.event(summary="db down", alertKey="db1").json()["incidentId"]
    app.advance("PT0S")
    page = f"/ui/incidents/{incident_id}"
    bos_client = login(app, "bo")
    assert submit(bos_client, page, f"{page}/accept", {}).status_code == 200
    # Refused while the incident bo accepted is open: it would wait for nobody.
    refused = app.client.delete(f"/api/users/{bo}?force=true", headers=app.auth())
    assert (refused.status_code, refused.json()["code"]) == (409, "IN_USE"), refused.text
    assert refused.json()["message"] == (f"user \"bo\" accepted incidents still open: #{incident_id}; resolve"
                                         " them, or escalate them to someone else, first; nothing changed")
    assert app.put(f"/api/incidents/{incident_id}/resolve").status_code == 200
    assert app.client.delete(f"/api/users/{bo}?force=true", headers=app.auth()).status_code == 204
    # The API's form (docs/API.md, "Conventions"): the id kept, the name empty.
    served = app.get(f"/api/incidents/{incident_id}").json()
    assert served["acceptedBy"] == {"id": bo, "username": ""}
    assert {"id": bo, "username": ""} in [r["user"] for r in served["responders"]]
    shown = login(app, "ann").get(page).text
    assert f"by deleted user #{bo}," in shown
    assert f"<dt>Paged</dt><dd>ann, deleted user #{bo} (accepted)</dd>" in shown
    assert "by ," not in shown and "<td></td>" not in shown


def test_the_list_filters_by_status_and_source_and_serves_its_rows_alone(app: InProcessDaemon) -> None:
    user(app, "ann")
    first = app.event(summary="first", alertKey="k1").json()["incidentId"]
    second = app.event(summary="second", alertKey="k2").json()["incidentId"]
    app.put(f"/api/incidents/{first}/resolve")
    client = login(app, "ann")
    open_list = client.get("/ui/incidents").text
    assert f"incident-{second}" in open_list and f"incident-{first}" not in open_list
    resolved = client.get("/ui/incidents?status=RESOLVED").text
    assert f"incident-{first}" in resolved and f"incident-{second}" not in resolved
    assert f"incident-{second}" not in client.get("/ui/incidents?source=999").text
    rows = client.get("/ui/incidents/rows")
    assert rows.text.lstrip().startswith("<tr") and f"incident-{second}" in rows.text
    assert client.get("/ui/incidents/99999").status_code == 404
    assert client.get("/ui/incidents/x").status_code == 404


def test_links_and_images_of_an_alert_are_only_followed_over_http(app: InProcessDaemon) -> None:
    user(app, "ann")
    incident_id = app.event(summary="x", alertKey="x", links=[
        {"href": "javascript:alert(1)", "text": "click"}, {"href": "https://ok.example/a"}],
        images=[{"src": "javascript:alert(2)"}, {"src": "https://img.example/g.png", "href": "data:x"}],
    ).json()["incidentId"]
    page = login(app, "ann").get(f"/ui/incidents/{incident_id}").text
    assert 'href="javascript:' not in page and 'src="javascript:' not in page and 'href="data:' not in page
    assert 'href="https://ok.example/a"' in page and 'src="https://img.example/g.png"' in page


def test_failed_logins_are_not_kept_once_their_window_has_passed() -> None:
    """Names tried once each, from ever new addresses, are never looked at again: they must not
    be kept for ever (memory would grow with every name a password sprayer tries)."""
    limiter = LoginLimiter()
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    per_round = 6_000
    held = []
    gc.collect()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        for spray in range(4):
            now = start + spray * (FAILED_LOGIN_WINDOW + timedelta(minutes=1))
            for n in range(per_round):
                limiter.attempt([f"user:name-{spray}-{n}", f"address:10.{spray}.{n // 256}.{n % 256}"], now)
            gc.collect()
            held.append(tracemalloc.get_traced_memory()[0] - base)
    finally:
        tracemalloc.stop()
    # Kept: the last spray and at most the one before it, not all four.
    assert held[3] < 2.5 * held[0], held
    for _ in range(FAILED_LOGINS_ALLOWED):
        assert limiter.attempt(["user:ann", "address:10.9.9.9"], now) is None
    assert limiter.attempt(["user:ann"], now) == now + FAILED_LOGIN_WINDOW
    assert limiter.attempt(["user:name-3-0"], now) is None


def test_logins_sent_together_are_counted_as_they_come() -> None:
    """Checked before the password and counted after it, forty guesses sent at once were each let
    through and checked: about forty guesses a window, not five."""
    limiter = LoginLimiter()
    now = datetime(2026, 1, 5, 9, tzinfo=UTC)
    keys = ["user:ann", "address:10.0.0.1"]
    # Every guess begun before any ends: only the allowed number get to their password check.
    let_through = [limiter.attempt(keys, now) is None for _ in range(40)]
    assert let_through.count(True) == FAILED_LOGINS_ALLOWED
    # A login that succeeds forgets the name's failures, and is not one of the address's.
    other = LoginLimiter()
    assert other.attempt(["user:bo", "address:10.0.0.2"], now) is None
    other.succeeded(["user:bo", "address:10.0.0.2"], now)
    for _ in range(FAILED_LOGINS_ALLOWED):
        assert other.attempt(["user:cy", "address:10.0.0.2"], now) is None
    assert other.attempt(["user:dee", "address:10.0.0.2"], now) is not None


def test_a_long_timeline_shows_how_the_incident_opened_and_how_it_stands(app: InProcessDaemon) -> None:
    """It showed the first 500 entries of the log alone: a flapping incident's comment and resolve,
    after its 500th event, were nowhere on its page, and nothing said more existed."""
    user(app, "ann")
    incident_id = app.event(summary="flapping", alertKey="flap").json()["incidentId"]
    for _ in range(600):
        assert app.event(summary="flapping", alertKey="flap").status_code == 202
    path = f"/api/incidents/{incident_id}"
    assert app.post(f"{path}/comments", {"content": "muting the check"}).status_code == 201
    assert app.put(f"{path}/resolve").status_code == 200
    total = len([e for start in range(0, 700, 100) for e in app.get(
        f"{path}/log-entries", params={"start-index": start, "max-results": 100}).json()])
    timeline = login(app, "ann").get(f"/ui/incidents/{incident_id}").text.split("<h2>Timeline</h2>")[1]
    kinds = re.findall(r'<span class="kind">([^<]+)</span>', timeline)
    assert len(kinds) == 500 and kinds[0] == "Incident Created" and kinds[-2:] == ["Comment", "Resolved"]
    assert "muting the check" in timeline
    assert (f"{total - 500} more entries, not shown here (the API lists them all:"
            f" <code>GET /api/incidents/{incident_id}/log-entries</code>)") in timeline
