"""Two responders answering one page at once: one accept wins, and the other is told whose it is,
whichever channel each came by (the incident's actor decides; the reply's own look came first)."""

from __future__ import annotations

from typing import Any

import pytest

from ilertd.app import replies as replies_module
from ilertd.domain.incidents import Actor
from tests.paging import Paging
from tests.test_replies import incident, log, phone_of, sms_reply


def erin_lands_first(monkeypatch: pytest.MonkeyPatch, erin: int) -> None:
    """The next reply's accept reaches the incident's actor just after erin's: both looked at the
    incident while it was PENDING."""
    act = replies_module.act_on_incident

    def after_erin(ctx: Any, incident_id: int, action: str, actor: Actor, *rest: Any) -> Any:
        monkeypatch.setattr(replies_module, "act_on_incident", act)
        act(ctx, incident_id, "accept", Actor(erin, "erin", "SMS"))
        return act(ctx, incident_id, action, actor, *rest)

    monkeypatch.setattr(replies_module, "act_on_incident", after_erin)


def test_the_accept_that_lands_second_is_told_who_accepted(
        app_paging: Paging, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both were answered "Incident #N accepted.": the one whose accept changed nothing believed
    the incident theirs."""
    dave = app_paging.user("dave", [("SMS", 0, "HIGH_PRIORITY")])
    erin = app_paging.user("erin", [("SMS", 0, "HIGH_PRIORITY")])
    app_paging.policy([(30, [dave, erin])])
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    erin_lands_first(monkeypatch, erin)
    assert sms_reply(app_paging, phone_of(app_paging, dave), "1a") == (
        f"ilertd: Incident #{incident_id} is already accepted by erin.")
    assert incident(app_paging, incident_id)["acceptedBy"]["id"] == erin
    (accepted,) = log(app_paging, incident_id, "ACCEPTED")
    assert accepted["user"]["id"] == erin


def test_the_api_accept_of_an_accepted_incident_is_still_200_unchanged(app_paging: Paging) -> None:
    dave = app_paging.user("dave", [("SMS", 0, "HIGH_PRIORITY")])
    app_paging.policy([(30, [dave])])
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    answer = sms_reply(app_paging, phone_of(app_paging, dave), "1a")
    assert answer == f"ilertd: Incident #{incident_id} accepted."
    again = app_paging.daemon.put(f"/api/incidents/{incident_id}/accept")
    assert again.status_code == 200 and again.json()["acceptedBy"]["id"] == dave
    assert len(log(app_paging, incident_id, "ACCEPTED")) == 1
