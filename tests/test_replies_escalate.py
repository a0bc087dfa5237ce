"""A reply's escalation answers one page: the same reply delivered twice (Twilio's re-send, a
mail server's, a button pressed twice) or one that its level's timeout overtook moves the
incident once, not a level further each time, on every channel a reply comes by."""

from __future__ import annotations

from xml.etree import ElementTree

from tests.paging import Paging
from tests.test_replies import called, incident, log, parts, phone_of, sms_reply, sms_to, twilio_post


def three_levels(paging: Paging, method: str = "SMS") -> tuple[int, int, int]:
    """dave, erin and fay, one a level, 30 minutes each, each paged by `method` at once."""
    people = tuple(paging.user(name, [(method, 0, "HIGH_PRIORITY")]) for name in ("dave", "erin", "fay"))
    paging.policy([(30, [person]) for person in people])
    return people  # type: ignore[return-value]


def levels_paged(paging: Paging, incident_id: int) -> list[int]:
    return [page["escalationLevel"] for page in paging.notifications(incident_id)]


def test_an_sms_escalation_twilio_sends_twice_moves_the_incident_once(app_paging: Paging) -> None:
    dave, erin, fay = three_levels(app_paging)
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    app_paging.daemon.advance("PT1M")
    assert sms_reply(app_paging, phone_of(app_paging, dave), "1e") == (
        f"ilertd: Incident #{incident_id} escalated to level 1.")
    app_paging.daemon.advance("PT1M")
    # Across a restart (the incident's actor comes back from the store, as after passivation),
    # the same message again: Twilio re-sends a webhook it got no answer to in time.
    app_paging.daemon.stop()
    app_paging.daemon.start()
    assert sms_reply(app_paging, phone_of(app_paging, dave), "1e") == (
        f"ilertd: Incident #{incident_id} was already escalated to level 1 after this page; nothing changed.")
    app_paging.daemon.advance("PT0S")
    assert incident(app_paging, incident_id)["escalationLevel"] == 1
    assert sms_to(app_paging, phone_of(app_paging, fay)) == []
    assert len(log(app_paging, incident_id, "ESCALATED")) == 1
    # erin, paged at level 1 since, says "not me" in turn: that one moves it on.
    assert len(sms_to(app_paging, phone_of(app_paging, erin))) == 1
    assert sms_reply(app_paging, phone_of(app_paging, erin), "1e") == (
        f"ilertd: Incident #{incident_id} escalated to level 2.")
    app_paging.daemon.advance("PT0S")
    assert len(sms_to(app_paging, phone_of(app_paging, fay))) == 1


def test_an_sms_escalation_the_timeout_overtook_leaves_the_next_level_to_answer(app_paging: Paging) -> None:
    dave, erin, fay = three_levels(app_paging)
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    # Level 0's 30 minutes ran out: erin is paged; then dave's "not me" comes in.
    app_paging.daemon.advance("PT31M")
    assert len(sms_to(app_paging, phone_of(app_paging, erin))) == 1
    assert sms_reply(app_paging, phone_of(app_paging, dave), f"escalate {incident_id}") == (
        f"ilertd: Incident #{incident_id} was already escalated to level 1 after this page; nothing changed.")
    app_paging.daemon.advance("PT0S")
    assert incident(app_paging, incident_id)["escalationLevel"] == 1
    assert sms_to(app_paging, phone_of(app_paging, fay)) == []
    assert levels_paged(app_paging, incident_id) == [0, 1]


def escalate_link(paging: Paging, address: str) -> str:
    text = parts(paging.mails_to(address)[-1])["text/plain"]
    link = next(line.split()[-1] for line in text.splitlines() if line.startswith("Escalate:"))
    return link.replace(paging.daemon.url, "")


def test_an_escalate_button_pressed_twice_moves_the_incident_once(app_paging: Paging) -> None:
    dave, _erin, _fay = three_levels(app_paging, "EMAIL")
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    path = escalate_link(app_paging, "dave.pager@example.com")
    app_paging.daemon.advance("PT2M")
    first = app_paging.daemon.client.post(path)
    assert first.status_code == 200 and f"Incident #{incident_id} escalated to level 1." in first.text
    second = app_paging.daemon.client.post(path)
    assert second.status_code == 200
    assert f"Incident #{incident_id} was already escalated to level 1 after this page" in second.text
    app_paging.daemon.advance("PT0S")
    assert incident(app_paging, incident_id)["escalationLevel"] == 1
    assert app_paging.mails_to("fay.pager@example.com") == []
    (escalated,) = log(app_paging, incident_id, "ESCALATED")
    assert escalated["channel"] == "EMAIL" and escalated["user"]["id"] == dave


def test_a_key_pressed_on_a_call_the_timeout_overtook_moves_nothing(app_paging: Paging) -> None:
    incident_id, url = called(app_paging, "vic")
    app_paging.daemon.advance("PT31M")
    assert len(app_paging.mails_to("vic-next@example.com")) == 1
    menu = twilio_post(app_paging, url, {"CallSid": "CA1"})
    gather = ElementTree.fromstring(menu.text).find("Gather")
    assert gather is not None
    answer = twilio_post(app_paging, gather.get("action") or "", {"CallSid": "CA1", "Digits": "5"})
    assert "was already escalated to level 1 after this page; nothing changed." in answer.text
    assert "<Hangup" in answer.text
    app_paging.daemon.advance("PT0S")
    assert incident(app_paging, incident_id)["escalationLevel"] == 1
    # The wrap to level 0 (vic again) never came.
    assert levels_paged(app_paging, incident_id) == [0, 1]



def test_an_escalation_that_leaves_nobody_to_page_says_no_level(app_paging: Paging) -> None:
    """The answer named the level below 0 that marks an incident waiting for someone: "escalated
    to level -2"."""
    dave = app_paging.user("dave", [("SMS", 0, "HIGH_PRIORITY")])
    erin = app_paging.user("erin", muted_until="2026-01-06T00:00:00Z")
    app_paging.policy([(30, [dave]), (30, [erin])], repeating=True, frequency=1)
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT1M")
    muted = app_paging.daemon.put(f"/api/users/{dave}", {"mutedUntil": "2026-01-06T00:00:00Z"})
    assert muted.status_code == 200, muted.text
    answer = sms_reply(app_paging, phone_of(app_paging, dave), "1e")
    assert answer == f"ilertd: Incident #{incident_id} escalated."
    assert "NOBODY_ON_CALL" in app_paging.daemon.log_types(incident_id)


def test_not_me_with_the_next_level_muted_pages_level_0_again_not_nobody(app_paging: Paging) -> None:
    """bob, the last level, was muted: alice's "not me" ended the escalation for good (nobody
    paged, nothing due, bob never paged once his mute ended). Manual escalation wraps to level 0,
    as it does from the last level, and level 0's timeout runs again."""
    alice = app_paging.user("alice", [("SMS", 0, "HIGH_PRIORITY")])
    bob = app_paging.user("bob", muted_until="2026-01-05T10:00:00Z")
    app_paging.policy([(10, [alice]), (10, [bob])])
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT1M")
    phone = phone_of(app_paging, alice)
    assert sms_reply(app_paging, phone, "1e") == f"ilertd: Incident #{incident_id} escalated to level 0."
    # (A re-send of the reply is refused while the page it answers is the latest: see
    # test_domain_incidents_escalate; here the new page may already have gone out, which a
    # reply may answer.)
    app_paging.daemon.advance("PT0S")
    assert len(sms_to(app_paging, phone)) == 2
    (escalated,) = log(app_paging, incident_id, "ESCALATED")
    assert escalated["user"]["username"] == "alice" and escalated["channel"] == "SMS"
    assert incident(app_paging, incident_id)["nextEscalationAt"] == "2026-01-05T09:11:00.000Z"
