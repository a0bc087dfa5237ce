"""The incident log names what a person can act on: which schedule gave which user, why nobody
was reachable, which pages an accept or resolve cancelled."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.conditions import wait_for
from tests.inprocess import InProcessDaemon
from tests.loopback import Request
from tests.paging import Paging


def entries(paging: Paging, incident_id: int, kind: str) -> list[dict[str, Any]]:
    reply = paging.daemon.get(f"/api/incidents/{incident_id}/log-entries", params={"max-results": 100})
    return [e for e in reply.json() if e["logEntryType"] == kind]


def schedule_of(paging: Paging, name: str, users: list[int]) -> int:
    created = paging.daemon.post("/api/schedules", {
        "name": name, "type": "RECURRING", "timezone": "UTC",
        "scheduleLayers": [{"name": "all day", "users": [{"id": u} for u in users], "rotation": "P7D",
                            "startsOn": "2026-01-05T00:00"}]})
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def policy_with(paging: Paging, levels: list[dict[str, Any]]) -> None:
    created = paging.daemon.post("/api/escalation-policies", {"name": "ops", "escalationRules": levels})
    assert created.status_code == 201, created.text
    paging.daemon.put("/api/alert-sources/1", {"escalationPolicy": {"id": created.json()["id"]}})


def test_a_level_says_which_schedule_put_which_user_on_it(app_paging: Paging) -> None:
    ann, bob = app_paging.user("ann"), app_paging.user("bob")
    primary = schedule_of(app_paging, "primary", [bob])
    policy_with(app_paging, [{"escalationTimeout": 10, "users": [{"id": ann}],
                              "schedules": [{"id": primary}]}])
    incident_id = app_paging.alert()
    planned = entries(app_paging, incident_id, "NOTIFICATION_PLANNED")
    (planned,) = [e for e in planned if "reached" in e["text"]]
    assert planned["text"] == "Level 0 of policy ops reached: paging ann, bob (on call in primary)"


def test_nobody_reachable_names_the_level_the_users_and_why(app_paging: Paging) -> None:
    muted = app_paging.user("mia", muted_until="2026-02-01T00:00:00Z")
    silent = app_paging.user("sol", email=False)
    policy_with(app_paging, [{"escalationTimeout": 10, "users": [{"id": muted}, {"id": silent}]}])
    incident_id = app_paging.alert()
    first = entries(app_paging, incident_id, "NOBODY_ON_CALL")[0]["text"]
    assert first.startswith("Nobody reachable at level 0 of policy ops: ")
    assert "mia (muted until 2026-02-01T00:00:00.000Z)" in first
    assert "sol (no alert rule for HIGH priority and no e-mail address)" in first


def test_a_schedule_with_nobody_on_call_is_named(app_paging: Paging) -> None:
    static = app_paging.daemon.post("/api/schedules", {
        "name": "holidays", "type": "STATIC", "timezone": "UTC",
        "shifts": [{"user": {"id": app_paging.user("hal")}, "start": "2026-03-01T00:00:00Z",
                    "end": "2026-03-02T00:00:00Z"}]})
    assert static.status_code == 201, static.text
    policy_with(app_paging, [{"escalationTimeout": 10, "schedules": [{"id": static.json()["id"]}]}])
    incident_id = app_paging.alert()
    first = entries(app_paging, incident_id, "NOBODY_ON_CALL")[0]["text"]
    assert first == "Nobody reachable at level 0 of policy ops: holidays (nobody on call)"


def test_pages_cancelled_by_an_accept_are_logged_as_cancelled(app_paging: Paging) -> None:
    cy = app_paging.user("cy", [("SMS", 0, "HIGH_PRIORITY"), ("SMS", 15, "HIGH_PRIORITY"),
                                ("EMAIL", 30, "HIGH_PRIORITY")])
    app_paging.policy([(60, [cy])])
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    assert app_paging.daemon.put(f"/api/incidents/{incident_id}/accept").status_code == 200
    cancelled = entries(app_paging, incident_id, "NOTIFICATION_CANCELLED")
    assert sorted(e["channel"] for e in cancelled) == ["EMAIL", "SMS"]
    assert all(e["text"].endswith("not sent: the incident was accepted") and e["user"]["id"] == cy
               for e in cancelled)
    assert [n["status"] for n in app_paging.notifications(incident_id)].count("CANCELLED") == 2


@pytest.mark.parametrize("action", ["accept", "resolve"])
def test_a_page_already_with_its_provider_at_an_accept_is_not_logged_as_cancelled(
        app_paging: Paging, action: str) -> None:
    """The accept logged every page not yet stored as sent as cancelled, the one the SMTP server
    had in hand too, and then that page's NOTIFICATION_SENT: the log said a page went out after
    the accept had cancelled it. The page in flight is now said to be already being sent."""
    cy = app_paging.user("cy", [("EMAIL", 0, "HIGH_PRIORITY"), ("SMS", 15, "HIGH_PRIORITY"),
                                ("EMAIL", 30, "HIGH_PRIORITY")])
    app_paging.policy([(60, [cy])])
    daemon = app_paging.daemon
    assert isinstance(daemon, InProcessDaemon)
    app_paging.smtp.hold_after(0)
    try:
        incident_id = app_paging.alert()  # the first e-mail due now: handed out without a clock move
        wait_for(lambda: app_paging.smtp.messages, "the server holding the first page")
        done = daemon.put(f"/api/incidents/{incident_id}/{action}")
        assert done.status_code == 200, done.text
    finally:
        app_paging.smtp.hold_after(None)
    daemon.quiet()  # the held page answered, its outcome stored
    reply = daemon.get(f"/api/incidents/{incident_id}/log-entries", params={"max-results": 100})
    log = [(e["logEntryType"], e["text"], e["channel"]) for e in reply.json()]
    what = "accepted" if action == "accept" else "resolved"
    contacts = {c["method"]: c["target"] for c in daemon.get(f"/api/users/{cy}/contacts").json()}
    mail, phone = contacts["EMAIL"], contacts["SMS"]
    cancelled = [entry for entry in log if entry[0] == "NOTIFICATION_CANCELLED"]
    assert sorted(cancelled) == sorted([
        ("NOTIFICATION_CANCELLED", f"EMAIL to {mail} not sent: the incident was {what}", "EMAIL"),
        ("NOTIFICATION_CANCELLED", f"SMS to {phone} not sent: the incident was {what}", "SMS")])
    in_flight = [entry for entry in log if entry[0] == "NOTIFICATION_IN_FLIGHT"]
    assert in_flight == [("NOTIFICATION_IN_FLIGHT", f"EMAIL to {mail} was already being sent when the"
                          f" incident was {what}: it may still arrive, and is not sent again", "EMAIL")]
    sent = [index for index, entry in enumerate(log) if entry[0] == "NOTIFICATION_SENT"]
    assert [log[index][1].startswith(f"Page by EMAIL to {mail}") for index in sent] == [True]
    assert log.index(in_flight[0]) < sent[0]
    statuses = sorted(row["status"] for row in app_paging.notifications(incident_id))
    assert statuses == ["CANCELLED", "CANCELLED", "SUCCESS"]
    assert len(app_paging.mails_to(mail)) == 1


def dee_told_by_sms(app_paging: Paging, *updates: str) -> None:
    """dee, paged by SMS at once and told of these `updates` there, is the policy's one level."""
    dee = app_paging.user("dee", [("SMS", 0, "HIGH_PRIORITY")])
    contact = app_paging.daemon.get(f"/api/users/{dee}/contacts").json()[0]["id"]
    for kind in updates:
        rule = app_paging.daemon.post(f"/api/users/{dee}/notification-preferences/updates",
                                      {"method": "SMS", "contact": {"id": contact}, "type": kind})
        assert rule.status_code == 201, rule.text
    app_paging.policy([(30, [dee])])


def test_a_status_update_is_logged_as_one_not_as_a_page(app_paging: Paging) -> None:
    dee_told_by_sms(app_paging, "ALERT_ACCEPTED")
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT2M")
    assert app_paging.daemon.put(f"/api/incidents/{incident_id}/accept").status_code == 200
    app_paging.daemon.advance("PT0S")
    texts = [e["text"] for e in entries(app_paging, incident_id, "NOTIFICATION_SENT")]
    assert any(t.startswith("Page by SMS to ") for t in texts)
    assert any(t.startswith("Status update (accepted) by SMS to ") for t in texts), texts


def test_a_summary_counts_its_status_updates_apart_from_its_pages(app_paging: Paging) -> None:
    """Logged "one summary of 2 pages" where the text sent said "2 status updates"."""
    dee_told_by_sms(app_paging, "ALERT_ACCEPTED", "ALERT_RESOLVED")
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT20S")
    # Both updates fall in the throttle window the page opened (60 s): one message carries them.
    assert app_paging.daemon.put(f"/api/incidents/{incident_id}/accept").status_code == 200
    app_paging.daemon.advance("PT1S")
    assert app_paging.daemon.put(f"/api/incidents/{incident_id}/resolve").status_code == 200
    app_paging.daemon.advance("PT1M")
    texts = [e["text"] for e in entries(app_paging, incident_id, "NOTIFICATION_SENT")
             if e["text"].startswith("Status update")]
    assert texts and all(t.endswith(" (one message for 2 status updates of this incident)")
                         or t.endswith(" (one summary of 2 status updates)") for t in texts), texts


def hold_the_first_request(paging: Paging, status: int) -> tuple[threading.Event, threading.Event]:
    """The SMS gateway holds every request until `release` is set, then answers it `status`; `held`
    is set once the first arrived."""
    held, release = threading.Event(), threading.Event()

    def answer(_request: Request) -> tuple[int, dict[str, Any]]:
        held.set()
        release.wait(10)
        return status, {} if status < 400 else {"error": "unavailable"}

    paging.http.answer = answer  # type: ignore[method-assign]
    return held, release


@pytest.mark.parametrize("action", ["accept", "resolve"])
def test_a_page_in_flight_at_an_accept_that_fails_is_not_said_to_be_retried(
        paging_either_store: Paging, action: str) -> None:
    """A page the SMS gateway had in hand at the accept, refused afterwards, was logged as failed
    "; retrying", after the entry saying it would not be sent again, and no retry came. The
    failure now says it is not retried, and why (worded by the store, on either)."""
    app_paging = paging_either_store
    cy = app_paging.user("cy", [("SMS", 0, "HIGH_PRIORITY")])
    app_paging.policy([(60, [cy])])
    daemon = app_paging.daemon
    assert isinstance(daemon, InProcessDaemon)
    held, release = hold_the_first_request(app_paging, 503)
    try:
        incident_id = app_paging.alert()  # the SMS due now: handed out without a clock move
        wait_for(held.is_set, "the gateway holding the page")
        done = daemon.put(f"/api/incidents/{incident_id}/{action}")
        assert done.status_code == 200, done.text
    finally:
        release.set()
    daemon.quiet()
    daemon.advance("PT30M")  # past every retry the failure would have armed
    what = "accepted" if action == "accept" else "resolved"
    phone = daemon.get(f"/api/users/{cy}/contacts").json()[0]["target"]
    failed = [e["text"] for e in entries(app_paging, incident_id, "NOTIFICATION_FAILED")]
    assert len(failed) == 1 and failed[0].startswith(f"SMS to {phone}, attempt 1: "), failed
    assert failed[0].endswith(f"; not retried: the incident was {what}"), failed
    assert [n["status"] for n in app_paging.notifications(incident_id)] == ["CANCELLED"]
    assert len(app_paging.http.to("/sms/")) == 1


def change_while_in_flight(paging: Paging, change: str, status: int
                           ) -> tuple[int, str, list[tuple[str, str]]]:
    """cy's SMS page, held by the gateway, meets `change` (a mute, cy's contact deleted or changed,
    cy deleted); the gateway then answers `status`. The incident, cy's first number and its log."""
    cy = paging.user("cy", [("SMS", 0, "HIGH_PRIORITY")])
    # Someone beside cy on the level, so that cy may be deleted; reachable by no channel.
    paging.policy([(60, [cy, paging.user("dan", email=False)])])
    daemon = paging.daemon
    assert isinstance(daemon, InProcessDaemon)
    contact = daemon.get(f"/api/users/{cy}/contacts").json()[0]
    held, release = hold_the_first_request(paging, status)
    try:
        incident_id = paging.alert()  # the SMS due now: handed out without a clock move
        wait_for(held.is_set, "the gateway holding the page")
        if change == "mute":
            done = daemon.put(f"/api/users/{cy}", {"mutedUntil": "2026-01-05T12:00:00Z"})
        elif change == "contact deleted":
            done = daemon.delete(f"/api/users/{cy}/contacts/{contact['id']}")
        elif change == "contact changed":
            done = daemon.put(f"/api/users/{cy}/contacts/{contact['id']}", {"target": "+4915100000999"})
        else:
            done = daemon.delete(f"/api/users/{cy}?force=true")
        assert done.status_code in (200, 204), done.text
    finally:
        release.set()
    daemon.quiet()
    daemon.advance("PT30M")  # past every retry a failure arms
    reply = daemon.get(f"/api/incidents/{incident_id}/log-entries", params={"max-results": 100})
    return incident_id, contact["target"], [(e["logEntryType"], e["text"]) for e in reply.json()]


CANCELLING = {"mute": "cy was muted until 2026-01-05T12:00:00.000Z",
              "contact deleted": "cy's contact was deleted", "user deleted": "user cy was deleted"}


@pytest.mark.parametrize("change", sorted(CANCELLING))
def test_a_page_in_flight_at_a_mute_or_a_deleted_contact_is_logged_as_in_flight(
        app_paging: Paging, change: str) -> None:
    """A mute, a deleted contact or user left a page its provider had in hand as it was, logging
    nothing of it (the accept logged it in flight): it arrived after the change, and, refused,
    was logged "retrying". It is now cancelled and logged in flight, as the accept does."""
    _, phone, log = change_while_in_flight(app_paging, change, 200)
    in_flight = [entry for entry in log if entry[0] == "NOTIFICATION_IN_FLIGHT"]
    assert in_flight == [("NOTIFICATION_IN_FLIGHT", f"SMS to {phone} was already being sent when"
                          f" {CANCELLING[change]}: it may still arrive, and is not sent again")]
    assert not [entry for entry in log if entry[0] == "NOTIFICATION_CANCELLED"]
    sent = [entry for entry in log if entry[0] == "NOTIFICATION_SENT"]
    assert [text.startswith(f"Page by SMS to {phone}") for _, text in sent] == [True]
    assert log.index(in_flight[0]) < log.index(sent[0])
    assert len(app_paging.http.to("/sms/")) == 1


@pytest.mark.parametrize("change", sorted(CANCELLING))
def test_a_page_in_flight_at_a_mute_or_a_deleted_contact_that_fails_is_not_retried(
        app_paging: Paging, change: str) -> None:
    """Refused after the change, the page in flight was logged "retrying"; it is not retried (it
    was cancelled), and now says so."""
    incident_id, phone, log = change_while_in_flight(app_paging, change, 503)
    failed = [text for kind, text in log if kind == "NOTIFICATION_FAILED"]
    assert len(failed) == 1 and failed[0].startswith(f"SMS to {phone}, attempt 1: "), failed
    assert failed[0].endswith("; not retried: it was cancelled while it was being sent"), failed
    assert [n["status"] for n in app_paging.notifications(incident_id)] == ["CANCELLED"]
    assert len(app_paging.http.to("/sms/")) == 1


def test_a_page_in_flight_at_a_changed_contact_is_logged_and_a_failure_retried_at_the_new_one(
        app_paging: Paging) -> None:
    """A changed contact takes its unsent pages along; the one its provider has stays its own,
    said so on the incident. Refused, it is retried where the contact now points."""
    _, phone, log = change_while_in_flight(app_paging, "contact changed", 503)
    assert ("NOTIFICATION_IN_FLIGHT", f"SMS to {phone} was already being sent when cy's contact was"
            " changed: it may still arrive there") in log
    assert [request.path for request in app_paging.http.to("/sms/")][:2] == [
        f"/sms/{phone}", "/sms/+4915100000999"]
