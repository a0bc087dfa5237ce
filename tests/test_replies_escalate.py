"""A reply's escalation answers one page: the same reply delivered twice (Twilio's re-send, a
mail server's, a button pressed twice) or one that its level's timeout overtook moves the
incident once, not a level further each time, on every channel a reply comes by."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest

from ilertd.domain.link_tokens import LinkError, read_link, sign_link
from ilertd.domain.pages_in_flight import idempotency_key, page_reference, pages_replied_to
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


def refused_as_already_escalated(paging: Paging, incident_id: int, path: str, next_level: str) -> None:
    """The escalate button at `path` pressed once more: told the incident is already at level 1,
    which stays, and `next_level`'s address gets nothing."""
    again = paging.daemon.client.post(path)
    assert again.status_code == 200
    assert f"Incident #{incident_id} was already escalated to level 1 after this page" in again.text
    paging.daemon.advance("PT0S")
    assert incident(paging, incident_id)["escalationLevel"] == 1
    assert paging.mails_to(next_level) == []


def test_an_escalate_button_pressed_twice_moves_the_incident_once(app_paging: Paging) -> None:
    dave, _erin, _fay = three_levels(app_paging, "EMAIL")
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    path = escalate_link(app_paging, "dave.pager@example.com")
    app_paging.daemon.advance("PT2M")
    first = app_paging.daemon.client.post(path)
    assert first.status_code == 200 and f"Incident #{incident_id} escalated to level 1." in first.text
    refused_as_already_escalated(app_paging, incident_id, path, "fay.pager@example.com")
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


def on_two_levels(paging: Paging, method: str) -> tuple[int, int, int]:
    """ann on level 0, ann and bob on level 1, cat on level 2, 30 minutes each: ann's "not me"
    pages ann again."""
    ann, bob, cat = (paging.user(name, [(method, 0, "HIGH_PRIORITY")]) for name in ("ann", "bob", "cat"))
    paging.policy([(30, [ann]), (30, [ann, bob]), (30, [cat])])
    return ann, bob, cat


def test_an_sms_escalation_sent_again_by_twilio_answers_its_page_not_the_one_it_brought(
        app_paging: Paging) -> None:
    """ann is on the next level too: Twilio's re-send of her "1e" was taken as the answer to the
    level-1 page her first "1e" brought her, and paged level 2 nobody asked for."""
    ann, bob, cat = on_two_levels(app_paging, "SMS")
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT1M")
    phone = phone_of(app_paging, ann)
    assert sms_reply(app_paging, phone, "1e", message_sid="SMfirst") == (
        f"ilertd: Incident #{incident_id} escalated to level 1.")
    app_paging.daemon.advance("PT1M")
    assert len(sms_to(app_paging, phone)) == 2 and len(sms_to(app_paging, phone_of(app_paging, bob))) == 1
    assert sms_reply(app_paging, phone, "1e", message_sid="SMfirst") == (
        f"ilertd: Incident #{incident_id} was already escalated to level 1 after this page; nothing changed.")
    app_paging.daemon.advance("PT0S")
    assert incident(app_paging, incident_id)["escalationLevel"] == 1
    assert sms_to(app_paging, phone_of(app_paging, cat)) == []
    # A new text (its own MessageSid) answers the level-1 page ann got: "not me" again.
    assert sms_reply(app_paging, phone, "1e", message_sid="SMsecond") == (
        f"ilertd: Incident #{incident_id} escalated to level 2.")
    app_paging.daemon.advance("PT0S")
    assert len(sms_to(app_paging, phone_of(app_paging, cat))) == 1


def test_an_old_escalate_button_pressed_again_answers_its_own_page(app_paging: Paging) -> None:
    """The button of ann's level-0 mail, pressed again after her escalation paged her for level 1,
    escalated to level 2: it was judged by the level-1 mail."""
    on_two_levels(app_paging, "EMAIL")
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT1M")
    old = escalate_link(app_paging, "ann.pager@example.com")
    first = app_paging.daemon.client.post(old)
    assert first.status_code == 200 and f"Incident #{incident_id} escalated to level 1." in first.text
    app_paging.daemon.advance("PT1M")
    assert len(app_paging.mails_to("ann.pager@example.com")) == 2
    refused_as_already_escalated(app_paging, incident_id, old, "cat.pager@example.com")
    # The level-1 mail's own button is ann's "not me" to that page.
    newer = app_paging.daemon.client.post(escalate_link(app_paging, "ann.pager@example.com"))
    assert f"Incident #{incident_id} escalated to level 2." in newer.text


def test_a_link_names_its_page_and_one_signed_before_that_still_acts() -> None:
    now = datetime(2026, 1, 5, 9, tzinfo=UTC)
    expires = now + timedelta(hours=24)
    named = sign_link("k", 12, 7, "escalate", "EMAIL", expires, 345)
    assert read_link("k", named, now).page_id == 345
    with pytest.raises(LinkError):
        read_link("k", named.replace(".p345.", ".p346."), now)
    older = sign_link("k", 12, 7, "escalate", "EMAIL", expires)
    assert read_link("k", older, now).page_id is None
    assert pages_replied_to("<x@y> <ilertd-n9.abc@z> <ilertd-n345." + "0" * 12 + "@mail.example>", "k") == []
    tag = idempotency_key(page_reference(345), "k")
    assert pages_replied_to(f"<other@example.com>\n <{tag}@mail.example>", "k") == [345]


def test_an_sms_escalation_twice_to_a_page_waiting_for_its_retry_moves_the_incident_once(
        app_paging: Paging) -> None:
    """A page its provider refused (or took and answered too late) waits for its retry: it may
    have reached the phone, and a reply to it is judged against it, not let through unjudged."""
    dave, _erin, fay = three_levels(app_paging)
    app_paging.http.failing = True
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    [page] = [p for p in app_paging.notifications(incident_id) if p["user"]["id"] == dave]
    assert (page["status"], page["attempts"]) == ("SCHEDULED", 1), page
    app_paging.http.failing = False
    phone = phone_of(app_paging, dave)
    assert sms_reply(app_paging, phone, "1e", message_sid="SMfirst") == (
        f"ilertd: Incident #{incident_id} escalated to level 1.")
    app_paging.daemon.advance("PT0S")
    assert sms_reply(app_paging, phone, "1e", message_sid="SMsecond") == (
        f"ilertd: Incident #{incident_id} was already escalated to level 1 after this page; nothing changed.")
    app_paging.daemon.advance("PT0S")
    assert incident(app_paging, incident_id)["escalationLevel"] == 1
    assert sms_to(app_paging, phone_of(app_paging, fay)) == []
    assert len(log(app_paging, incident_id, "ESCALATED")) == 1


def test_the_help_text_names_the_code_of_the_page_received_not_one_its_provider_refused(
        app_paging: Paging) -> None:
    """ann got #1's text (code 1); #2's was refused by the provider and waits for its retry. Her
    help text's example is code 1, the page a bare letter answers, not 2, which never arrived."""
    dave, _erin, _fay = three_levels(app_paging)
    first = app_paging.alert("disk full on db-1")
    app_paging.daemon.advance("PT0S")
    app_paging.daemon.advance("PT2M")
    app_paging.http.failing = True
    second = app_paging.alert("disk full on db-2")
    app_paging.daemon.advance("PT0S")
    assert [p["status"] for p in app_paging.notifications(second)] == ["SCHEDULED"]
    phone = phone_of(app_paging, dave)
    helped = sms_reply(app_paging, phone, "help", message_sid="SMhelp")
    assert helped is not None and "reply 1a to accept" in helped, helped
    assert sms_reply(app_paging, phone, "a", message_sid="SMa") == f"ilertd: Incident #{first} accepted."


def test_an_sms_escalation_twice_to_a_page_sent_again_between_the_two_moves_the_incident_once(
        app_paging: Paging) -> None:
    """The page may have reached dave at its first hand-out: his "1e" escalates; the page's retry
    then goes out (a new place in the send order) and his second "1e" still answers that page."""
    dave, erin, fay = three_levels(app_paging)
    app_paging.http.failing = True
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    app_paging.http.failing = False
    phone = phone_of(app_paging, dave)
    assert sms_reply(app_paging, phone, "1e", message_sid="SMfirst") == (
        f"ilertd: Incident #{incident_id} escalated to level 1.")
    app_paging.daemon.advance("PT0S")
    app_paging.daemon.advance("PT1M")
    [page] = [p for p in app_paging.notifications(incident_id) if p["user"]["id"] == dave]
    assert (page["status"], page["attempts"]) == ("SUCCESS", 2), page
    assert sms_reply(app_paging, phone, "1e", message_sid="SMsecond") == (
        f"ilertd: Incident #{incident_id} was already escalated to level 1 after this page; nothing changed.")
    app_paging.daemon.advance("PT0S")
    assert incident(app_paging, incident_id)["escalationLevel"] == 1
    assert len(sms_to(app_paging, phone_of(app_paging, erin))) == 1
    assert sms_to(app_paging, phone_of(app_paging, fay)) == []
