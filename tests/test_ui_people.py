"""The web UI's profile and admin pages: each form changes what the API then reads, a refused form
keeps its input and changes nothing, and a USER is refused every admin page and form."""

from __future__ import annotations

import html
import re
from typing import Any

from tests.inprocess import InProcessDaemon
from tests.test_cli_users import on_duty_everywhere
from tests.ui_helpers import browser, login, submit, user

PHONE = "+4915112345678"
_TOKEN = re.compile(r'<pre class="snippet" id="new-token">([^<]+)</pre>')


def contact(app: InProcessDaemon, user_id: int, method: str, target: str) -> int:
    created = app.post(f"/api/users/{user_id}/contacts", {"method": method, "target": target})
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def alert_rules(app: InProcessDaemon, user_id: int) -> list[dict[str, Any]]:
    reply = app.get(f"/api/users/{user_id}/notification-preferences/alerts")
    assert reply.status_code == 200, reply.text
    return list(reply.json())


def test_a_user_adds_a_contact_and_rules_on_their_profile_and_the_api_reads_them(
        app: InProcessDaemon) -> None:
    ann = user(app, "ann")
    client = login(app, "ann")
    page = client.get("/ui/profile")
    assert page.status_code == 200 and "ann@example.com" in page.text
    added = submit(client, "/ui/profile", "/ui/profile/contacts", {"method": "SMS", "target": f" {PHONE} "})
    assert added.status_code == 200 and "Contact added." in added.text
    (sms,) = app.get(f"/api/users/{ann}/contacts").json()
    assert sms["method"] == "SMS" and sms["target"] == PHONE
    rule = submit(client, "/ui/profile", "/ui/profile/rules/alerts",
                  {"type": "HIGH_PRIORITY", "contact": str(sms["id"]), "delayMin": "5"})
    assert rule.status_code == 200
    assert [(r["method"], r["contact"]["id"], r["type"], r["delayMin"]) for r in alert_rules(app, ann)] == [
        ("SMS", sms["id"], "HIGH_PRIORITY", 5)]
    submit(client, "/ui/profile", "/ui/profile/rules/updates",
           {"type": "ALERT_RESOLVED", "contact": str(sms["id"])})
    updates = app.get(f"/api/users/{ann}/notification-preferences/updates").json()
    assert [(u["method"], u["type"]) for u in updates] == [("SMS", "ALERT_RESOLVED")]

    # The page shows them, and offers the contact for a test notification.
    shown = client.get("/ui/profile").text
    assert f'value="{PHONE}"' in shown and "ALERT_RESOLVED" in shown
    assert 'action="/ui/profile/test-notification"' in shown
    assert re.search(rf'<select id="test-contact" name="contact">\s*<option value="{sms["id"]}">', shown)

    # The details form sets what PUT /api/users/{id} sets, the mute read in the user's zone.
    submit(client, "/ui/profile", "/ui/profile/details", {
        "username": "ann", "firstName": "Ann", "lastName": "Lee", "email": "ann@example.org",
        "timezone": "Europe/Berlin", "mutedUntil": ""})
    submit(client, "/ui/profile", "/ui/profile/details", {
        "username": "ann", "firstName": "Ann", "lastName": "Lee", "email": "ann@example.org",
        "timezone": "Europe/Berlin", "mutedUntil": "2026-01-05T22:00"})
    me = app.get(f"/api/users/{ann}").json()
    assert (me["firstName"], me["email"], me["timezone"]) == ("Ann", "ann@example.org", "Europe/Berlin")
    assert me["mutedUntil"] == "2026-01-05T21:00:00.000Z"
    # Trimmed as the form creating a user trims: a pasted address with a blank was refused here.
    pasted = submit(client, "/ui/profile", "/ui/profile/details", {
        "username": "ann", "firstName": " Ann ", "lastName": "Lee", "email": " ann@example.net\n",
        "timezone": "Europe/Berlin", "mutedUntil": "2026-01-05T22:00"})
    assert pasted.status_code == 200, pasted.text
    assert app.get(f"/api/users/{ann}").json()["email"] == "ann@example.net"
    # A mute the field shows as it was is left as it is: read back from the field, it lost its
    # seconds, and in an autumn's repeated hour the hour (paged an hour early).
    for mute in ("2026-01-05T21:30:15.000Z", "2026-10-25T01:30:00.000Z"):  # 02:30 CET, the second one
        assert app.put(f"/api/users/{ann}", {"mutedUntil": mute}).status_code == 200
        page = client.get("/ui/profile").text
        shown = re.search(r'name="mutedUntil" type="datetime-local" value="([^"]*)"', page)
        assert shown is not None
        submit(client, "/ui/profile", "/ui/profile/details", {
            "username": "ann", "firstName": "Annie", "lastName": "Lee", "email": "ann@example.org",
            "timezone": "Europe/Berlin", "mutedUntil": shown.group(1)})
        again = app.get(f"/api/users/{ann}").json()
        assert (again["firstName"], again["mutedUntil"]) == ("Annie", mute)

    # Deleting the contact takes its rules along, as the API does.
    gone = submit(client, "/ui/profile", f"/ui/profile/contacts/{sms['id']}/delete", {})
    assert gone.status_code == 200
    assert app.get(f"/api/users/{ann}/contacts").json() == [] and alert_rules(app, ann) == []


def test_the_profile_shows_a_working_calendar_feed_url(app: InProcessDaemon) -> None:
    user(app, "ann")
    client = login(app, "ann")
    found = re.search(r'<pre class="snippet" id="feed-url">([^<]+)</pre>', client.get("/ui/profile").text)
    assert found is not None
    url = html.unescape(found[1])
    assert url.startswith(f"{app.url}/api/users/") and "shifts.ics?token=" in url
    feed = browser(app).get(url.removeprefix(app.url))
    assert feed.status_code == 200 and feed.text.startswith("BEGIN:VCALENDAR")
    # Its last character changed (to one it is not): a token that is not the feed's.
    forged = url[:-1] + ("1" if url.endswith("0") else "0")
    assert browser(app).get(forged.removeprefix(app.url)).status_code == 401


def test_bad_input_is_shown_again_with_the_error_and_changes_nothing(app: InProcessDaemon) -> None:
    ann = user(app, "ann")
    client = login(app, "ann")
    refused = submit(client, "/ui/profile", "/ui/profile/contacts", {"method": "SMS", "target": "0151 1234"})
    assert refused.status_code == 400
    assert "E.164" in refused.text and 'value="0151 1234"' in refused.text
    assert app.get(f"/api/users/{ann}/contacts").json() == []

    sms = contact(app, ann, "SMS", PHONE)
    bad_delay = submit(client, "/ui/profile", "/ui/profile/rules/alerts",
                       {"type": "LOW_PRIORITY", "contact": str(sms), "delayMin": "soon"})
    assert bad_delay.status_code == 400 and "delayMin must be an integer" in bad_delay.text
    assert 'value="soon"' in bad_delay.text and alert_rules(app, ann) == []

    bad_mute = submit(client, "/ui/profile", "/ui/profile/details", {
        "username": "ann", "email": "ann@example.com", "timezone": "UTC", "mutedUntil": "tonight"})
    assert bad_mute.status_code == 400 and 'value="tonight"' in bad_mute.text
    assert app.get(f"/api/users/{ann}").json()["mutedUntil"] is None

    # Another user's contact cannot be borrowed for a rule.
    bob = user(app, "bob")
    theirs = contact(app, bob, "SMS", "+4917698765432")
    borrowed = submit(client, "/ui/profile", "/ui/profile/rules/alerts",
                      {"type": "HIGH_PRIORITY", "contact": str(theirs), "delayMin": "0"})
    assert borrowed.status_code == 400 and alert_rules(app, ann) == [] and alert_rules(app, bob) == []

    # The same rule twice is refused there as the API refuses it.
    rule = {"type": "HIGH_PRIORITY", "contact": str(sms), "delayMin": "0"}
    assert submit(client, "/ui/profile", "/ui/profile/rules/alerts", rule).status_code == 200
    again = submit(client, "/ui/profile", "/ui/profile/rules/alerts", rule)
    assert again.status_code == 409 and "already has this alert rule" in again.text
    assert len(alert_rules(app, ann)) == 1


def test_a_new_api_token_is_shown_once_works_and_stops_working_when_revoked(app: InProcessDaemon) -> None:
    ann = user(app, "ann")
    client = login(app, "ann")
    created = submit(client, "/ui/profile", "/ui/profile/tokens", {"name": "laptop"})
    assert created.status_code == 200
    found = _TOKEN.search(created.text)
    assert found is not None
    token = html.unescape(found[1])
    bearer = {"Authorization": f"Bearer {token}"}
    current = browser(app).get("/api/users/current", headers=bearer)
    assert current.status_code == 200 and current.json()["id"] == ann

    again = client.get("/ui/profile").text
    assert token not in again and "laptop" in again
    token_id = re.search(r'action="/ui/profile/tokens/(\d+)/revoke"', again)
    assert token_id is not None

    # Another USER cannot revoke it through their own profile: the path names the owner.
    user(app, "bob")
    bob = login(app, "bob")
    assert submit(bob, "/ui/profile", f"/ui/profile/tokens/{token_id[1]}/revoke", {}).status_code == 404
    assert browser(app).get("/api/users/current", headers=bearer).status_code == 200

    revoked = submit(client, "/ui/profile", f"/ui/profile/tokens/{token_id[1]}/revoke", {})
    assert revoked.status_code == 200 and "laptop" not in revoked.text.split("API tokens")[1]
    assert browser(app).get("/api/users/current", headers=bearer).status_code == 401


def test_an_admin_edits_another_users_rule_and_manages_users(app: InProcessDaemon) -> None:
    boss = user(app, "boss", "ADMIN")
    ann = user(app, "ann")
    sms = contact(app, ann, "SMS", PHONE)
    rule = app.post(f"/api/users/{ann}/notification-preferences/alerts",
                    {"method": "SMS", "contact": {"id": sms}, "type": "HIGH_PRIORITY", "delayMin": 0}).json()
    admin = login(app, "boss")
    listing = admin.get("/ui/admin/users")
    assert listing.status_code == 200 and f'href="/ui/admin/users/{ann}"' in listing.text
    page = f"/ui/admin/users/{ann}"
    shown = admin.get(page)
    assert shown.status_code == 200 and f'value="{PHONE}"' in shown.text
    assert f'action="{page}/rules/alerts/{rule["id"]}"' in shown.text

    edited = submit(admin, page, f"{page}/rules/alerts/{rule['id']}",
                    {"type": "HIGH_PRIORITY", "contact": str(sms), "delayMin": "10"})
    assert edited.status_code == 200 and str(edited.url).split("?")[0].endswith(page)
    assert [(r["id"], r["delayMin"]) for r in alert_rules(app, ann)] == [(rule["id"], 10)]
    # A colleague's phone number fixed, and a bad one refused on the same page with nothing changed.
    submit(admin, page, f"{page}/contacts/{sms}", {"target": "+4917698765432"})
    refused = submit(admin, page, f"{page}/contacts/{sms}", {"target": "not a number"})
    assert refused.status_code == 400 and 'value="not a number"' in refused.text
    assert app.get(f"/api/users/{ann}/contacts/{sms}").json()["target"] == "+4917698765432"

    # Create a user, set a role, and delete.
    created = submit(admin, "/ui/admin/users", "/ui/admin/users",
                     {"username": "cy", "email": "cy@example.com", "role": "USER"})
    assert created.status_code == 200
    cy = next(u for u in app.get("/api/users").json() if u["username"] == "cy")
    assert (cy["email"], cy["role"]) == ("cy@example.com", "USER")
    taken = submit(admin, "/ui/admin/users", "/ui/admin/users",
                   {"username": "cy", "email": "", "role": "USER"})
    assert taken.status_code == 409 and "is taken" in taken.text
    forged = submit(admin, "/ui/admin/users", f"/ui/admin/users/{cy['id']}/role", {"role": "ROOT"})
    assert forged.status_code == 400 and "role must be one of" in forged.text
    submit(admin, "/ui/admin/users", f"/ui/admin/users/{cy['id']}/role", {"role": "ADMIN"})
    assert app.get(f"/api/users/{cy['id']}").json()["role"] == "ADMIN"
    deleted = submit(admin, f"/ui/admin/users/{cy['id']}", f"/ui/admin/users/{cy['id']}/delete", {})
    assert deleted.status_code == 200 and "User cy deleted." in deleted.text
    assert app.get(f"/api/users/{cy['id']}").status_code == 404
    assert admin.get(f"/ui/admin/users/{cy['id']}").status_code == 404
    # As the API refuses: an admin cannot delete their own account.
    own = submit(admin, f"/ui/admin/users/{boss}", f"/ui/admin/users/{boss}/delete", {})
    assert own.status_code == 409 and "cannot delete their own account" in own.text
    assert app.get(f"/api/users/{boss}").status_code == 200


def test_a_user_on_duty_is_deleted_from_the_ui_only_when_taken_off_first(app: InProcessDaemon) -> None:
    ids = on_duty_everywhere(app)
    user(app, "boss", "ADMIN")
    admin = login(app, "boss")
    page = f"/ui/admin/users/{ids['ann']}"
    assert 'name="force"' in admin.get(page).text
    refused = submit(admin, page, f"{page}/delete", {})
    assert refused.status_code == 409
    shown = html.unescape(refused.text)
    assert "user \"ann\" is on duty in escalation policy \"ops\" level 0" in shown
    assert 'tick "Take them off" to do it now' in shown
    assert app.get(f"/api/users/{ids['ann']}").status_code == 200
    deleted = submit(admin, page, f"{page}/delete", {"force": "on"})
    assert deleted.status_code == 200 and "User ann deleted." in deleted.text
    policy = app.get(f"/api/escalation-policies/{ids['policy']}").json()
    assert policy["escalationRules"][0]["users"] == [{"id": ids["ben"]}]


def test_a_user_is_refused_every_admin_page_and_form(app: InProcessDaemon) -> None:
    ann = user(app, "ann")
    bob = user(app, "bob")
    sms = contact(app, bob, "SMS", PHONE)
    rule = app.post(f"/api/users/{bob}/notification-preferences/alerts",
                    {"method": "SMS", "contact": {"id": sms}, "type": "HIGH_PRIORITY", "delayMin": 0}).json()
    client = login(app, "ann")
    assert 'href="/ui/admin/users"' not in client.get("/ui/profile").text
    for page in ("/ui/admin", "/ui/admin/users", f"/ui/admin/users/{bob}", f"/ui/admin/users/{ann}",
                 "/ui/admin/maintenance"):
        assert client.get(page).status_code == 403, page
    window = app.post("/api/maintenance-windows", {
        "summary": "db upgrade", "start": "2026-01-05T09:00:00Z", "end": "2026-01-05T11:00:00Z",
        "alertSources": [{"id": 1}]}).json()
    posts: list[tuple[str, dict[str, str]]] = [
        ("/ui/admin/users", {"username": "mallory", "email": "", "role": "ADMIN"}),
        (f"/ui/admin/users/{ann}/role", {"role": "ADMIN"}),
        (f"/ui/admin/users/{bob}/delete", {}),
        (f"/ui/admin/users/{bob}/details", {"email": "mallory@example.com"}),
        (f"/ui/admin/users/{bob}/contacts", {"method": "SMS", "target": "+4917600000000"}),
        (f"/ui/admin/users/{bob}/rules/alerts/{rule['id']}", {"contact": str(sms), "delayMin": "60"}),
        (f"/ui/admin/users/{bob}/tokens", {"name": "stolen"}),
        ("/ui/admin/maintenance", {"summary": "x", "start": "2026-01-05T10:00", "end": "2026-01-05T11:00",
                                   "alertSources": "1"}),
        (f"/ui/admin/maintenance/{window['id']}/end", {}),
        (f"/ui/admin/maintenance/{window['id']}/delete", {}),
    ]
    for action, data in posts:
        reply = submit(client, "/ui/profile", action, data)
        assert reply.status_code == 403 and "Not allowed" in reply.text, action
    users = {u["username"]: u for u in app.get("/api/users").json()}
    assert "mallory" not in users and users["ann"]["role"] == "USER"
    assert users["bob"]["email"] == "bob@example.com"
    assert len(app.get(f"/api/users/{bob}/contacts").json()) == 1
    assert [r["delayMin"] for r in alert_rules(app, bob)] == [0]
    assert app.get("/api/maintenance-windows").json() == [window]


def test_maintenance_windows_are_created_ended_and_deleted_in_the_admins_zone(app: InProcessDaemon) -> None:
    boss = user(app, "boss", "ADMIN")
    app.put(f"/api/users/{boss}", {"timezone": "Europe/Berlin"})
    admin = login(app, "boss")
    page = "/ui/admin/maintenance"
    form = admin.get(page)
    # The form starts as the coming hour, in the admin's zone (the clock is at 09:00 UTC).
    assert form.status_code == 200
    assert 'value="2026-01-05T10:00"' in form.text and 'value="2026-01-05T11:00"' in form.text

    refused = submit(admin, page, page, [("summary", "db upgrade"), ("start", "2026-01-05T12:00"),
                                         ("end", "2026-01-05T11:00"), ("alertSources", "1")])
    assert refused.status_code == 400 and "end must be after start" in refused.text
    assert 'value="db upgrade"' in refused.text and app.get("/api/maintenance-windows").json() == []

    created = submit(admin, page, page, [("summary", "db upgrade"), ("start", "2026-01-05T10:00"),
                                         ("end", "2026-01-05T12:00"), ("alertSources", "1")])
    assert created.status_code == 200 and "db upgrade" in created.text
    (window,) = app.get("/api/maintenance-windows").json()
    assert (window["summary"], window["start"], window["end"], window["alertSources"]) == (
        "db upgrade", "2026-01-05T09:00:00.000Z", "2026-01-05T11:00:00.000Z", [{"id": 1}])

    app.advance("PT30M")
    assert f'action="{page}/{window["id"]}/end"' in admin.get(page).text
    submit(admin, page, f"{page}/{window['id']}/end", {})
    assert app.get(f"/api/maintenance-windows/{window['id']}").json()["end"] == "2026-01-05T09:30:00.000Z"
    submit(admin, page, f"{page}/{window['id']}/delete", {})
    assert app.get("/api/maintenance-windows").json() == []


def test_send_me_a_test_notification_reaches_the_contact(app: InProcessDaemon) -> None:
    """The profile's button queues a test page through the contact's channel (here: the log)."""
    ann = user(app, "ann")
    contact = app.post(f"/api/users/{ann}/contacts", {"method": "SMS", "target": "+4915100000777"}).json()
    client = login(app, "ann")
    sent = submit(client, "/ui/profile", "/ui/profile/test-notification", {"contact": str(contact["id"])})
    assert sent.status_code == 200 and "Test notification sent" in sent.text
    app.advance("PT0S")
    assert "PAGE SMS to +4915100000777: [ilertd] Test notification (SMS)" in app.log()
    other = app.post("/api/users", {"username": "zed"}).json()["id"]
    theirs = app.post(f"/api/users/{other}/contacts", {"method": "SMS", "target": "+4915100000778"}).json()
    refused = submit(client, "/ui/profile", "/ui/profile/test-notification", {"contact": str(theirs["id"])})
    assert refused.status_code == 404
    # The number replied STOP (by SMS, test_replies.py): paging skips it, and the profile says so
    # beside it, and of a test, where nothing showed why no SMS came.
    from datetime import UTC, datetime

    from ilertd.store import models as m

    m.PhoneState.create(phone="+4915100000777", sms_stopped=True, help_in_a_row=0,
                        updated_at=datetime(2026, 1, 5, tzinfo=UTC))
    stop = "This number replied STOP: no SMS goes to it until it texts START to the number pages come from."
    assert stop in client.get("/ui/profile").text
    told = submit(client, "/ui/profile", "/ui/profile/test-notification", {"contact": str(contact["id"])})
    assert "+4915100000777 replied STOP" in html.unescape(told.text)


def test_tokens_are_listed_and_revoked_through_the_api_too(app: InProcessDaemon) -> None:
    ann = user(app, "ann")
    token = app.post(f"/api/users/{ann}/tokens", {"name": "ci"}).json()["token"]
    listed = app.get(f"/api/users/{ann}/tokens").json()
    assert [t["name"] for t in listed] == ["ci"] and "token" not in listed[0]
    assert app.get("/api/users/current", token=token).status_code == 200
    assert app.delete(f"/api/users/{ann}/tokens/{listed[0]['id']}").status_code == 204
    assert app.get("/api/users/current", token=token).status_code == 401
    assert app.delete(f"/api/users/{ann}/tokens/{listed[0]['id']}").status_code == 404
    bob_token = app.post(f"/api/users/{user(app, 'bob')}/tokens", {"name": "b"}).json()["token"]
    assert app.get(f"/api/users/{ann}/tokens", token=bob_token).status_code == 403
