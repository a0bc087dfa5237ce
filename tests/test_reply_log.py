"""Every answer to a page is in the incident's log: a reply that acted by its change (ACCEPTED,
RESOLVED, ESCALATED), one that changed nothing by a REPLY_RECEIVED entry saying what it was and
what it was answered (the contract's log entry type, which nothing wrote)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.inprocess import InProcessDaemon
from tests.paging import Paging
from tests.test_replies import accept_link, incident, log, phone_of, sms_reply
from tests.test_replies_race import erin_lands_first
from tests.ui_helpers import login, user


def received(paging: Paging, incident_id: int) -> list[tuple[str | None, str | None, str]]:
    return [((entry["user"] or {}).get("username"), entry["channel"], entry["text"])
            for entry in log(paging, incident_id, "REPLY_RECEIVED")]


def test_each_sms_reply_that_changes_nothing_is_logged_with_its_answer(
        app_paging: Paging, monkeypatch: pytest.MonkeyPatch) -> None:
    dave = app_paging.user("dave", [("SMS", 0, "HIGH_PRIORITY")])
    erin = app_paging.user("erin", [("SMS", 0, "HIGH_PRIORITY")])
    app_paging.policy([(30, [dave]), (30, [erin])])
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT1M")
    dave_phone, erin_phone = phone_of(app_paging, dave), phone_of(app_paging, erin)
    assert sms_reply(app_paging, dave_phone, "1e") == f"ilertd: Incident #{incident_id} escalated to level 1."
    app_paging.daemon.advance("PT1M")
    assert received(app_paging, incident_id) == []  # it acted: its ESCALATED entry says so
    sms_reply(app_paging, dave_phone, "1e")  # Twilio's re-send
    erin_lands_first(monkeypatch, erin)
    sms_reply(app_paging, dave_phone, "a")  # the race erin's accept won
    sms_reply(app_paging, dave_phone, "1 A")
    help_text = sms_reply(app_paging, dave_phone, "ok on it")
    assert help_text is not None
    assert received(app_paging, incident_id) == [
        ("dave", "SMS", f'dave texted "1e"; answered: Incident #{incident_id} was already escalated to'
                        " level 1 after this page; nothing changed."),
        ("dave", "SMS", f'dave texted "a"; answered: Incident #{incident_id} is already accepted by erin.'),
        ("dave", "SMS", f'dave texted "1 A"; answered: Incident #{incident_id} is already accepted by erin.'),
        ("dave", "SMS", f'dave texted "ok on it"; answered: {help_text.removeprefix("ilertd: ")}'),
    ]
    assert [e["user"]["username"] for e in log(app_paging, incident_id, "ACCEPTED")] == ["erin"]
    assert incident(app_paging, incident_id)["status"] == "ACCEPTED"
    assert sms_reply(app_paging, erin_phone, "1r") == f"ilertd: Incident #{incident_id} resolved."
    assert len(received(app_paging, incident_id)) == 4


def test_a_link_on_a_resolved_incident_is_logged_and_shown_in_the_timeline(app_paging: Paging) -> None:
    app = app_paging.daemon
    assert isinstance(app, InProcessDaemon)
    gus = app_paging.user("gus")
    app_paging.policy([(30, [gus])])
    incident_id = app_paging.alert()
    app.advance("PT0S")
    path = accept_link(app_paging, "gus@example.com").replace(app.url, "")
    assert app.put(f"/api/incidents/{incident_id}/resolve").status_code == 200
    done = app.client.post(path)
    assert done.status_code == 200 and "already resolved" in done.text
    assert received(app_paging, incident_id) == [
        ("gus", "EMAIL",
         f"gus followed the Accept link; answered: Incident #{incident_id} is already resolved.")]
    user(app, "viewer")
    page: Any = login(app, "viewer").get(f"/ui/incidents/{incident_id}")
    assert page.status_code == 200
    assert "Reply Received" in page.text and "gus followed the Accept link" in page.text
