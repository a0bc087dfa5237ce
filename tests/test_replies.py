"""Answering a page on its own channel: SMS codes and phone keys, through the daemon's HTTP routes
with Twilio's signatures, under the manual clock (e-mail and push: test_replies_email.py)."""

from __future__ import annotations

import re
from typing import Any
from xml.etree import ElementTree

import pytest

from ilertd.channels.twilio_voice import twilio_signature
from ilertd.domain.sms_text import gsm7_septets
from tests.inprocess import InProcessDaemon
from tests.paging import Paging

SMS_PATH = "/api/v1/twilio/sms"
SENDER = "+15550001111"
LINK = re.compile(r"https?://\S+/r/[A-Za-z0-9._-]+")


def sms_reply(paging: Paging, phone: str, body: str, token: str | None = None,
              to: str = SENDER, message_sid: str | None = None) -> str | None:
    """Text `body` from `phone` to ilertd as Twilio would; the text of the TwiML's <Message>, if any."""
    form = {"MessageSid": message_sid or f"SM{len(body)}{phone}", "From": phone, "To": to, "Body": body}
    signature = twilio_signature(token or paging.http.twilio_token, paging.daemon.url + SMS_PATH, form)
    reply = paging.daemon.client.post(SMS_PATH, data=form, headers={"X-Twilio-Signature": signature})
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("application/xml")
    message = ElementTree.fromstring(reply.text).find("Message")
    return message.text if message is not None else None


def sms_to(paging: Paging, phone: str) -> list[str]:
    return [r.json()["message"] for r in paging.http.to(f"/sms/{phone}")]


def phone_of(paging: Paging, user_id: int, method: str = "SMS") -> str:
    contacts = paging.daemon.get(f"/api/users/{user_id}/contacts").json()
    return next(c["target"] for c in contacts if c["method"] == method)


def incident(paging: Paging, incident_id: int) -> dict[str, Any]:
    return dict(paging.daemon.get(f"/api/incidents/{incident_id}").json())


def log(paging: Paging, incident_id: int, kind: str) -> list[dict[str, Any]]:
    entries = paging.daemon.get(f"/api/incidents/{incident_id}/log-entries", params={"max-results": 100})
    return [e for e in entries.json() if e["logEntryType"] == kind]


def two_levels_of(paging: Paging) -> tuple[int, int]:
    """dave (SMS, voice and push at once) at level 0 for 30 minutes, then erin (e-mail, SMS)."""
    dave = paging.user("dave", [("SMS", 0, "HIGH_PRIORITY"), ("PUSH", 0, "HIGH_PRIORITY")])
    erin = paging.user("erin", [("SMS", 0, "HIGH_PRIORITY")])
    paging.policy([(30, [dave]), (30, [erin])])
    return dave, erin


@pytest.fixture
def two_levels(app_paging: Paging) -> tuple[int, int]:
    return two_levels_of(app_paging)


def test_accept_by_sms_code_stops_the_next_level(app_paging: Paging, two_levels: tuple[int, int]) -> None:
    dave, erin = two_levels
    incident_id = app_paging.alert(summary="db1 replication lag")
    app_paging.daemon.advance("PT0S")
    phone = phone_of(app_paging, dave)
    (page,) = sms_to(app_paging, phone)
    assert f"#{incident_id}" in page and "Reply 1a accept, 1r resolve, 1e escalate" in page
    assert sms_reply(app_paging, phone, "1a") == f"ilertd: Incident #{incident_id} accepted."
    assert incident(app_paging, incident_id)["status"] == "ACCEPTED"
    (accepted,) = log(app_paging, incident_id, "ACCEPTED")
    assert accepted["channel"] == "SMS" and accepted["user"]["id"] == dave
    app_paging.daemon.advance("PT31M")
    assert sms_to(app_paging, phone_of(app_paging, erin)) == []
    # A second accept changes nothing and says so.
    assert sms_reply(app_paging, phone, "1A") == (
        f"ilertd: Incident #{incident_id} is already accepted by dave.")
    assert len(log(app_paging, incident_id, "ACCEPTED")) == 1


def test_a_reply_through_whatsapp_answers_the_pages_to_its_number(
        app_paging: Paging, two_levels: tuple[int, int]) -> None:
    """Twilio names the channel before the numbers of a WhatsApp message (`whatsapp:+49...`). Pages
    sent through WhatsApp (an SMS channel's `w:` sender) asked for "1a", and the answer was dropped
    as from a number nobody has."""
    dave, erin = two_levels
    incident_id = app_paging.alert(summary="db1 replication lag")
    app_paging.daemon.advance("PT0S")
    phone = phone_of(app_paging, dave)
    (page,) = sms_to(app_paging, phone)
    assert "Reply 1a accept" in page
    answer = sms_reply(app_paging, f"whatsapp:{phone}", "1a", to=f"whatsapp:{SENDER}")
    assert answer == f"ilertd: Incident #{incident_id} accepted."
    (accepted,) = log(app_paging, incident_id, "ACCEPTED")
    assert accepted["channel"] == "SMS" and accepted["user"]["id"] == dave
    app_paging.daemon.advance("PT31M")
    assert sms_to(app_paging, phone_of(app_paging, erin)) == []


def test_codes_are_per_phone_reused_after_resolve_and_a_bare_letter_answers_the_latest(
        app_paging: Paging, two_levels: tuple[int, int]) -> None:
    dave, _erin = two_levels
    phone = phone_of(app_paging, dave)
    first = app_paging.alert("k1", summary="first")
    app_paging.daemon.advance("PT2M")  # past the SMS throttle window: each page its own SMS
    second = app_paging.alert("k2", summary="second")
    app_paging.daemon.advance("PT2M")
    pages = sms_to(app_paging, phone)
    assert "Reply 1a" in pages[0] and "Reply 2a" in pages[1]
    # `c` is `r`; quotes, spaces and case are tolerated.
    assert sms_reply(app_paging, phone, " '1 C' ") == f"ilertd: Incident #{first} resolved."
    # An hour after, the resolved incident's code is free for the next one.
    app_paging.daemon.advance("PT1H")
    third = app_paging.alert("k3", summary="third")
    app_paging.daemon.advance("PT2M")
    assert "Reply 1a" in sms_to(app_paging, phone)[-1]
    assert sms_reply(app_paging, phone, "2a") == f"ilertd: Incident #{second} accepted."
    # A bare letter acts on the latest page to this phone: the third incident.
    assert sms_reply(app_paging, phone, "r") == f"ilertd: Incident #{third} resolved."
    assert sms_reply(app_paging, phone, "1r") == f"ilertd: Incident #{third} is already resolved."
    assert sms_reply(app_paging, phone, "ack 99999") == "ilertd: incident #99999 was not paged to this phone."
    assert sms_reply(app_paging, phone, f"resolve #{second}") == f"ilertd: Incident #{second} resolved."


def test_a_code_resolved_minutes_ago_is_not_given_to_the_next_incident(
        app_paging: Paging, two_levels: tuple[int, int]) -> None:
    """A flapping alert resolved and opened again within minutes: the new incident took code 1,
    and the responder's "1r", meant for the one paged as 1 before, resolved the new one (whose
    escalation then stopped with nobody looking at it)."""
    dave, _erin = two_levels
    phone = phone_of(app_paging, dave)
    first = app_paging.alert("k1", summary="first")
    app_paging.daemon.advance("PT2M")
    assert "Reply 1a" in sms_to(app_paging, phone)[-1]
    app_paging.daemon.event(alertKey="k1", eventType="RESOLVE", summary="first ok")
    again = app_paging.alert("k1", summary="first again")
    app_paging.daemon.advance("PT2M")
    assert again != first and "Reply 2a" in sms_to(app_paging, phone)[-1]
    assert sms_reply(app_paging, phone, "1r") == f"ilertd: Incident #{first} is already resolved."
    assert incident(app_paging, again)["status"] == "PENDING"
    # Its rest is counted from its resolution, however old its last page: accepted and worked on
    # for two hours, then resolved, it still keeps the code from the next incident for an hour.
    assert sms_reply(app_paging, phone, "2a") == f"ilertd: Incident #{again} accepted."
    app_paging.daemon.advance("PT2H")
    app_paging.daemon.event(alertKey="k1", eventType="RESOLVE", summary="first ok")
    third = app_paging.alert("k3", summary="third")
    app_paging.daemon.advance("PT2M")
    assert "Reply 1a" in sms_to(app_paging, phone)[-1]  # code 1 has rested; 2 has not
    assert sms_reply(app_paging, phone, "2r") == f"ilertd: Incident #{again} is already resolved."
    assert incident(app_paging, third)["status"] == "PENDING"


def test_pagerduty_digits_and_ack_by_incident_id(app_paging: Paging, two_levels: tuple[int, int]) -> None:
    dave, _erin = two_levels
    phone = phone_of(app_paging, dave)
    incident_id = app_paging.alert(summary="disk full")
    app_paging.daemon.advance("PT0S")
    assert sms_reply(app_paging, phone, "4") == f"ilertd: Incident #{incident_id} accepted."
    assert sms_reply(app_paging, phone, "6") == f"ilertd: Incident #{incident_id} resolved."
    other = app_paging.alert("k2", summary="cpu hot")
    app_paging.daemon.advance("PT2M")
    assert sms_reply(app_paging, phone, f"Ack {other}") == f"ilertd: Incident #{other} accepted."
    assert incident(app_paging, other)["status"] == "ACCEPTED"


def test_stop_turns_sms_off_and_start_on_again(app_paging: Paging, two_levels: tuple[int, int]) -> None:
    dave, _erin = two_levels
    phone = phone_of(app_paging, dave)
    assert "no more SMS" in (sms_reply(app_paging, phone, "STOP") or "")
    # Nothing is planned to the number: dave is paged by his other rule (push).
    stopped = app_paging.alert("k1")
    app_paging.daemon.advance("PT0S")
    assert sms_to(app_paging, phone) == []
    assert [n["method"] for n in app_paging.notifications(stopped)] == ["PUSH"]
    assert "on again" in (sms_reply(app_paging, phone, "start") or "")
    app_paging.alert("k2")
    app_paging.daemon.advance("PT0S")
    assert len(sms_to(app_paging, phone)) == 1


def test_a_level_whose_only_responder_replied_stop_escalates_at_once(app_paging: Paging) -> None:
    """dave's one way to be paged is SMS, and he replied STOP: his page was planned and refused,
    and the incident waited his level's 30 minutes with nobody paged. He is unreachable now, as a
    muted user is: the level escalates at once; with an account e-mail, that is where he is paged."""
    dave = app_paging.user("dave", [("SMS", 0, "HIGH_PRIORITY")], email=False)
    erin = app_paging.user("erin", [("SMS", 0, "HIGH_PRIORITY")])
    app_paging.policy([(30, [dave]), (30, [erin])])
    phone = phone_of(app_paging, dave)
    assert "no more SMS" in (sms_reply(app_paging, phone, "STOP") or "")
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    assert incident(app_paging, incident_id)["escalationLevel"] == 1
    assert len(sms_to(app_paging, phone_of(app_paging, erin))) == 1
    (nobody,) = log(app_paging, incident_id, "NOBODY_ON_CALL")
    assert nobody["text"] == ("Nobody reachable at level 0 of policy ops: dave (no alert rule for HIGH"
                              f" priority but SMS to {phone} (which replied STOP) and no e-mail address)")
    assert [n["user"]["id"] for n in app_paging.notifications(incident_id)] == [erin]
    # Given an e-mail address, he is paged there instead, and the log says why.
    assert app_paging.daemon.put(f"/api/users/{dave}", {"email": "dave@example.com"}).status_code == 200
    second = app_paging.alert("db2")
    app_paging.daemon.advance("PT0S")
    assert incident(app_paging, second)["escalationLevel"] == 0
    assert len(app_paging.mails_to("dave@example.com")) == 1
    fallback = f"dave has no alert rule for HIGH priority but SMS to {phone} (which replied STOP): e-mail to"
    planned = [e["text"] for e in log(app_paging, second, "NOTIFICATION_PLANNED")]
    assert f"{fallback} dave@example.com" in planned
    # START: paged by SMS again, from the next level reached on.
    assert "on again" in (sms_reply(app_paging, phone, "START") or "")
    third = app_paging.alert("db3")
    app_paging.daemon.advance("PT0S")
    assert [n["method"] for n in app_paging.notifications(third)] == ["SMS"]


def test_help_is_sent_at_most_five_times_in_a_row(app_paging: Paging, two_levels: tuple[int, int]) -> None:
    dave, _erin = two_levels
    phone = phone_of(app_paging, dave)
    answers = [sms_reply(app_paging, phone, "what is this?") for _ in range(7)]
    assert all(a is not None and "reply 1a to accept" in a for a in answers[:5])
    assert answers[5:] == [None, None]
    # An understood reply starts the count again.
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    assert sms_reply(app_paging, phone, "a") == f"ilertd: Incident #{incident_id} accepted."
    assert sms_reply(app_paging, phone, "??") is not None


def test_unknown_numbers_get_nothing_and_unpaged_contacts_change_nothing(
        app_paging: Paging, two_levels: tuple[int, int]) -> None:
    _dave, erin = two_levels
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    assert sms_reply(app_paging, "+4930999999", "1a") is None
    assert sms_reply(app_paging, "+4930999999", f"ack {incident_id}") is None
    # erin has a number ilertd knows, but was not paged for this incident (level 1 is 30 min away).
    erin_phone = phone_of(app_paging, erin)
    assert sms_reply(app_paging, erin_phone, f"ack {incident_id}") == (
        f"ilertd: incident #{incident_id} was not paged to this phone.")
    assert sms_reply(app_paging, erin_phone, "1a") == "ilertd: no incident has code 1 on this phone."
    assert sms_reply(app_paging, erin_phone, "a") == "ilertd: no page to this phone to answer."
    assert incident(app_paging, incident_id)["status"] == "PENDING"
    assert log(app_paging, incident_id, "ACCEPTED") == []


def test_a_reply_with_a_wrong_signature_is_refused(app_paging: Paging, two_levels: tuple[int, int]) -> None:
    dave, _erin = two_levels
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    form = {"MessageSid": "SMx", "From": phone_of(app_paging, dave), "To": SENDER, "Body": "1a"}
    forged = twilio_signature("not-the-token", app_paging.daemon.url + SMS_PATH, form)
    refused = app_paging.daemon.client.post(SMS_PATH, data=form, headers={"X-Twilio-Signature": forged})
    assert refused.status_code == 403
    assert incident(app_paging, incident_id)["status"] == "PENDING"


def test_escalate_by_reply_pages_the_next_level_at_once(app_paging: Paging,
                                                        two_levels: tuple[int, int]) -> None:
    dave, erin = two_levels
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    assert sms_reply(app_paging, phone_of(app_paging, dave), "1e") == (
        f"ilertd: Incident #{incident_id} escalated to level 1.")
    app_paging.daemon.advance("PT0S")
    assert len(sms_to(app_paging, phone_of(app_paging, erin))) == 1
    (escalated,) = [e for e in log(app_paging, incident_id, "ESCALATED") if e["channel"] == "SMS"]
    assert escalated["user"]["id"] == dave
    # From the last level, escalating goes back to level 0.
    assert sms_reply(app_paging, phone_of(app_paging, erin), "1e") == (
        f"ilertd: Incident #{incident_id} escalated to level 0.")


def test_an_sms_page_fits_one_gsm7_segment(app_paging: Paging, two_levels: tuple[int, int]) -> None:
    dave, _erin = two_levels
    summary = "Disk usage on /var above 95% on db-replica-eu-west-1b (sdb1)"
    assert len(summary) == 60
    app_paging.alert(summary=summary)
    app_paging.daemon.advance("PT0S")
    (page,) = sms_to(app_paging, phone_of(app_paging, dave))
    septets = gsm7_septets(page)
    assert septets is not None and septets <= 160, page
    assert summary in page and "default" in page and "1a accept" in page


# --- voice ------------------------------------------------------------------------------------------


def twilio_post(paging: Paging, url: str, form: dict[str, str]) -> Any:
    signature = twilio_signature(paging.http.twilio_token, url, form)
    return paging.daemon.client.post(url.replace(paging.daemon.url, ""), data=form,
                                     headers={"X-Twilio-Signature": signature})


def called(paging: Paging, user: str) -> tuple[int, str]:
    """Page `user` by voice (one level, 30 min); the incident and the TwiML URL of the call."""
    callee = paging.user(user, [("VOICE", 0, "HIGH_PRIORITY")])
    erin = paging.user(f"{user}-next")
    paging.policy([(30, [callee]), (30, [erin])])
    incident_id = paging.alert(summary="payments down")
    paging.daemon.advance("PT0S")
    (call,) = paging.http.to("/2010-04-01/Accounts/ACtest/Calls.json")
    return incident_id, call.form()["Url"]


@pytest.mark.parametrize(("key", "status", "said"), [
    ("4", "ACCEPTED", "accepted"), ("6", "RESOLVED", "resolved"), ("5", "PENDING", "escalated to level 1")])
def test_voice_keys_act_through_the_gather_route(app_paging: Paging, key: str, status: str,
                                                said: str) -> None:
    incident_id, url = called(app_paging, "vic")
    menu = twilio_post(app_paging, url, {"CallSid": "CA1"})
    gather = ElementTree.fromstring(menu.text).find("Gather")
    assert gather is not None and "payments down" in menu.text and "Press 4 to accept" in menu.text
    action = gather.get("action") or ""
    assert action == f"{url}/gather"
    # `*` (or any other key) repeats the menu and changes nothing.
    again = twilio_post(app_paging, action, {"CallSid": "CA1", "Digits": "*"})
    assert ElementTree.fromstring(again.text).find("Gather") is not None
    assert incident(app_paging, incident_id)["status"] == "PENDING"
    answer = twilio_post(app_paging, action, {"CallSid": "CA1", "Digits": key})
    assert said in answer.text and "<Hangup" in answer.text
    assert incident(app_paging, incident_id)["status"] == status
    entry = [e for e in app_paging.daemon.get(f"/api/incidents/{incident_id}/log-entries").json()
             if e["channel"] == "VOICE" and e["user"] is not None]
    assert entry, "the answer is logged with its channel and user"
    if key == "5":
        app_paging.daemon.advance("PT0S")
        assert len(app_paging.mails_to("vic-next@example.com")) == 1
    unsigned = app_paging.daemon.client.post(action.replace(app_paging.daemon.url, ""), data={"Digits": "4"})
    assert unsigned.status_code == 403


def said(twiml: str) -> str:
    return " ".join(e.text or "" for e in ElementTree.fromstring(twiml).iter("Say"))


def test_a_summary_call_reads_each_incident_with_its_own_keys(paging_either_store: Paging) -> None:
    """Two incidents fell inside a callee's 60 s window and went out as one call: it read the
    first and took a key for it only, while the second was marked as sent (`AGGREGATED`), heard
    by nobody. The call now reads them in turn, each with its own menu."""
    app_paging = paging_either_store
    callee = app_paging.user("vic", [("VOICE", 0, "HIGH_PRIORITY")])
    app_paging.policy([(30, [callee]), (30, [app_paging.user("vic-next")])])
    first = app_paging.alert("k1", summary="payments down")
    app_paging.daemon.advance("PT0S")
    second = app_paging.alert("k2", summary="queue stuck")
    third = app_paging.alert("k3", summary="disk full")
    app_paging.daemon.advance("PT2M")
    calls = app_paging.http.to("/2010-04-01/Accounts/ACtest/Calls.json")
    assert len(calls) == 2
    url = calls[1].form()["Url"]
    menu = twilio_post(app_paging, url, {"CallSid": "CA2"})
    assert said(menu.text).startswith(f"This is ilertd, with 2 incidents. 1 of 2: Incident {second}, "
                                      "high priority, from default: queue stuck. Press 4 to accept, 6 to "
                                      "resolve, 5 to escalate, 0 for the next incident, or star")
    # Without a key, the call goes on to the next incident rather than ending.
    redirect = ElementTree.fromstring(menu.text).find("Redirect")
    assert redirect is not None and redirect.text is not None
    silent = twilio_post(app_paging, redirect.text, {"CallSid": "CA2"})
    assert said(silent.text).startswith(f"2 of 2: Incident {third}, high priority, from default: disk full.")
    assert "0 for the next" not in silent.text
    assert ElementTree.fromstring(silent.text).find("Redirect") is None
    # 0 skips an incident; on the last it is the menu again.
    skipped = twilio_post(app_paging, url + "/gather", {"CallSid": "CA3", "Digits": "0"})
    assert said(skipped.text).startswith(f"2 of 2: Incident {third}")
    last = ElementTree.fromstring(skipped.text).find("Gather")
    assert last is not None
    again = twilio_post(app_paging, last.get("action") or "", {"CallSid": "CA3", "Digits": "0"})
    assert said(again.text).startswith(f"2 of 2: Incident {third}")
    # A key acts on the incident just read, then the next is read.
    gather = ElementTree.fromstring(menu.text).find("Gather")
    assert gather is not None
    accepted = twilio_post(app_paging, gather.get("action") or "", {"CallSid": "CA2", "Digits": "4"})
    assert said(accepted.text).startswith(f"Incident #{second} accepted. 2 of 2: Incident {third}")
    assert "<Hangup" not in accepted.text
    gather = ElementTree.fromstring(accepted.text).find("Gather")
    assert gather is not None
    resolved = twilio_post(app_paging, gather.get("action") or "", {"CallSid": "CA2", "Digits": "6"})
    assert said(resolved.text) == f"Incident #{third} resolved. Goodbye." and "<Hangup" in resolved.text
    assert [incident(app_paging, i)["status"] for i in (first, second, third)] == [
        "PENDING", "ACCEPTED", "RESOLVED"]
    # The call is placed with the URL of one of its pages; it reads from the first all the same.
    (third_page,) = app_paging.notifications(third)
    from_another = twilio_post(app_paging, f"{url.rsplit('/', 1)[0]}/{third_page['id']}", {})
    assert said(from_another.text).startswith(f"This is ilertd, with 2 incidents. 1 of 2: Incident {second}")
    # A call of one incident is as it was.
    single = twilio_post(app_paging, calls[0].form()["Url"], {"CallSid": "CA1"})
    assert said(single.text).startswith(f"This is ilertd. Incident {first}, high priority")
    assert "0 for the next" not in single.text


# --- an e-mail page's parts and links (test_replies_email.py reads them too) -------------------------


def parts(mail: Any) -> dict[str, str]:
    return {part.get_content_type(): part.get_payload(decode=True).decode()
            for part in mail.walk() if not part.is_multipart()}


def accept_link(paging: Paging, address: str) -> str:
    text = parts(paging.mails_to(address)[-1])["text/plain"]
    return next(line.split()[-1] for line in text.splitlines() if line.startswith("Accept:"))


# --- against a daemon process -----------------------------------------------------------------------


def test_answers_reach_a_running_daemon_over_http(paging: Paging) -> None:
    """The same answers against `ilertd serve` on a loopback port: an SMS code, then a link."""
    jo = paging.user("jo", [("SMS", 0, "HIGH_PRIORITY"), ("EMAIL", 0, "HIGH_PRIORITY")])
    kim = paging.user("kim")
    paging.policy([(30, [jo]), (30, [kim])])
    first = paging.alert("k1", summary="api latency")
    paging.daemon.advance("PT0S")
    phone = phone_of(paging, jo)
    (page,) = sms_to(paging, phone)
    assert "Reply 1a accept" in page
    assert sms_reply(paging, phone, "1a") == f"ilertd: Incident #{first} accepted."
    paging.daemon.advance("PT31M")
    assert paging.mails_to("kim@example.com") == []
    second = paging.alert("k2", summary="queue stuck")
    paging.daemon.advance("PT0S")
    path = accept_link(paging, "jo.pager@example.com").replace(paging.daemon.url, "")
    assert paging.daemon.client.get(path).status_code == 200
    assert incident(paging, second)["status"] == "PENDING"
    assert paging.daemon.client.post(path).status_code == 200
    assert incident(paging, second)["status"] == "ACCEPTED"


def test_a_test_page_reaches_the_contact_asked_for(app_paging: Paging) -> None:
    lee = app_paging.user("lee", [("SMS", 0, "HIGH_PRIORITY")])
    phone = phone_of(app_paging, lee)
    contacts = app_paging.daemon.get(f"/api/users/{lee}/contacts").json()
    contact = next(c for c in contacts if c["method"] == "SMS")
    queued = app_paging.daemon.post(f"/api/users/{lee}/contacts/{contact['id']}/test")
    assert queued.status_code == 202 and queued.json()["status"] == "SCHEDULED"
    app_paging.daemon.advance("PT0S")
    (page,) = sms_to(app_paging, phone)
    assert "test notification" in page
    assert app_paging.daemon.post(f"/api/users/{lee}/contacts/99999/test").status_code == 404
    # A number that replied STOP: queued, the test was refused unseen, and the profile said it went.
    assert "no more SMS" in (sms_reply(app_paging, phone, "STOP") or "")
    refused = app_paging.daemon.post(f"/api/users/{lee}/contacts/{contact['id']}/test")
    assert (refused.status_code, refused.json()["code"]) == (409, "CONFLICT"), refused.text
    assert refused.json()["message"] == (f"{phone} replied STOP: no SMS goes to it until it texts START to"
                                         " the number pages come from")
    # The API says so too, as PagerDuty's `blacklisted` does; a call to the number still goes.
    voice = app_paging.daemon.post(f"/api/users/{lee}/contacts", {"method": "VOICE", "target": phone})
    assert voice.json()["stopped"] is False
    listed = {c["method"]: c["stopped"] for c in app_paging.daemon.get(f"/api/users/{lee}/contacts").json()}
    assert listed == {"SMS": True, "VOICE": False}
    one = f"/api/users/{lee}/contacts/{contact['id']}"
    assert app_paging.daemon.get(one).json()["stopped"] is True
    # Read-only: a GET-modify-PUT carries it back, and it changes nothing.
    carried = app_paging.daemon.put(one, {**app_paging.daemon.get(one).json(), "stopped": False})
    assert (carried.status_code, carried.json()["stopped"]) == (200, True), carried.text
    sms_reply(app_paging, phone, "START")
    assert app_paging.daemon.get(one).json()["stopped"] is False


def test_a_test_queued_before_its_number_replied_stop_is_not_texted(app_paging: Paging) -> None:
    """Shift reminders and tests went around the STOP check pages go through: queued behind the
    number's throttle window, a test was texted after the STOP all the same."""
    lee = app_paging.user("lee", [("SMS", 0, "HIGH_PRIORITY")])
    app_paging.policy([(30, [lee])])
    phone = phone_of(app_paging, lee)
    app_paging.alert(summary="db down")
    app_paging.daemon.advance("PT0S")
    assert len(sms_to(app_paging, phone)) == 1
    contacts = app_paging.daemon.get(f"/api/users/{lee}/contacts").json()
    contact = next(c for c in contacts if c["method"] == "SMS")
    queued = app_paging.daemon.post(f"/api/users/{lee}/contacts/{contact['id']}/test")
    assert queued.status_code == 202, queued.text  # waits for the window the page opened
    assert "no more SMS" in (sms_reply(app_paging, phone, "STOP") or "")
    app_paging.daemon.advance("PT2M")
    assert len(sms_to(app_paging, phone)) == 1
    assert isinstance(app_paging.daemon, InProcessDaemon)
    refused = f"test page {queued.json()['id']} to {phone} not sent: the number replied STOP"
    assert refused in app_paging.daemon.log()


def told_of_updates(paging: Paging, method: str, kinds: tuple[str, ...]) -> tuple[int, str]:
    """sam, paged by `method` and told of `kinds` of status updates by it, beside tia on one level
    of an hour: sam's id, and a token of tia's to act with."""
    sam = paging.user("sam", [(method, 0, "HIGH_PRIORITY")])
    tia = paging.user("tia")
    contact = paging.daemon.get(f"/api/users/{sam}/contacts").json()[0]
    for kind in kinds:
        rule = paging.daemon.post(f"/api/users/{sam}/notification-preferences/updates",
                                  {"method": method, "contact": {"id": contact["id"]}, "type": kind})
        assert rule.status_code == 201, rule.text
    paging.policy([(60, [sam, tia])])
    return sam, paging.daemon.post(f"/api/users/{tia}/tokens").json()["token"]


def test_a_status_update_by_phone_says_what_changed_and_offers_no_keys(app_paging: Paging) -> None:
    """A call for a status update read the incident and its keys as a page would, never saying it
    had been accepted: the callee heard a page (and its keys answered "This page no longer
    exists")."""
    _sam, token = told_of_updates(app_paging, "VOICE", ("ALERT_ACCEPTED", "ALERT_RESOLVED"))
    first = app_paging.alert("k1")
    app_paging.daemon.advance("PT2M")
    assert app_paging.daemon.put(f"/api/incidents/{first}/accept", token=token).status_code == 200
    app_paging.daemon.advance("PT0S")
    page, update = app_paging.http.to("/2010-04-01/Accounts/ACtest/Calls.json")
    assert "Press 4" in said(twilio_post(app_paging, page.form()["Url"], {}).text)
    told = twilio_post(app_paging, update.form()["Url"], {})
    assert said(told.text) == f"This is ilertd. Incident {first} accepted. Goodbye."
    assert ElementTree.fromstring(told.text).find("Gather") is None and "<Hangup" in told.text
    # Two updates inside the callee's window (opened by the page of the second) are one call
    # that reads both.
    app_paging.daemon.advance("PT2M")
    second = app_paging.alert("k2")
    app_paging.daemon.advance("PT0S")
    for incident_id in (first, second):
        assert app_paging.daemon.put(f"/api/incidents/{incident_id}/resolve", token=token).status_code == 200
    app_paging.daemon.advance("PT2M")
    both = app_paging.http.to("/2010-04-01/Accounts/ACtest/Calls.json")[-1]
    assert said(twilio_post(app_paging, both.form()["Url"], {}).text) == (
        f"This is ilertd. Incident {first} resolved. Incident {second} resolved. Goodbye.")


def test_a_call_says_what_became_of_its_incident_since_it_was_placed(app_paging: Paging) -> None:
    """A call connects seconds after it is placed: an incident resolved meanwhile (a flapping
    alert) was read out with "Press 4 to accept" at 3 a.m., as if it still wanted someone."""
    callee = app_paging.user("vic", [("VOICE", 0, "HIGH_PRIORITY")])
    app_paging.policy([(30, [callee])])
    first = app_paging.alert("k1", summary="db1 is down")
    app_paging.daemon.advance("PT0S")
    second = app_paging.alert("k2", summary="queue stuck")
    third = app_paging.alert("k3", summary="disk full")
    app_paging.daemon.advance("PT2M")
    single, summary = app_paging.http.to("/2010-04-01/Accounts/ACtest/Calls.json")
    for key in ("k1", "k2"):
        assert app_paging.daemon.event(alertKey=key, eventType="RESOLVE").status_code == 202
    assert app_paging.daemon.put(f"/api/incidents/{third}/accept").status_code == 200
    told = twilio_post(app_paging, single.form()["Url"], {})
    assert said(told.text) == (f"This is ilertd. Incident {first}, high priority, from default: db1 is down. "
                               "It has been resolved since. Goodbye.")
    assert ElementTree.fromstring(told.text).find("Gather") is None and "<Hangup" in told.text
    menu = twilio_post(app_paging, summary.form()["Url"], {})
    assert said(menu.text) == (f"This is ilertd, with 2 incidents. 1 of 2: Incident {second}, high priority, "
                               "from default: queue stuck. It has been resolved since.")
    redirect = ElementTree.fromstring(menu.text).find("Redirect")
    assert ElementTree.fromstring(menu.text).find("Gather") is None and redirect is not None
    then = twilio_post(app_paging, redirect.text or "", {})
    assert said(then.text).startswith(f"2 of 2: Incident {third}, high priority, from default: disk full. "
                                      "It has been accepted since. Press 4 to accept")


def test_a_call_of_pages_reads_the_status_updates_it_carries_after_them(app_paging: Paging) -> None:
    """A page and a status update inside one window went out as one call, which read the page
    only: the update (asked for by phone) was marked sent and never said."""
    _sam, token = told_of_updates(app_paging, "VOICE", ("ALERT_ACCEPTED",))
    first = app_paging.alert("k1")
    app_paging.daemon.advance("PT0S")
    second = app_paging.alert("k2", summary="queue stuck")
    assert app_paging.daemon.put(f"/api/incidents/{first}/accept", token=token).status_code == 200
    app_paging.daemon.advance("PT2M")
    call = app_paging.http.to("/2010-04-01/Accounts/ACtest/Calls.json")[-1]
    menu = twilio_post(app_paging, call.form()["Url"], {})
    assert said(menu.text).startswith(f"This is ilertd. Incident {second}, high priority")
    assert said(menu.text).endswith(f"No key was pressed. Also: Incident {first} accepted. Goodbye.")
    gather = ElementTree.fromstring(menu.text).find("Gather")
    assert gather is not None
    answer = twilio_post(app_paging, gather.get("action") or "", {"Digits": "6"})
    assert said(answer.text) == f"Incident #{second} resolved. Also: Incident {first} accepted. Goodbye."


def test_a_summary_sms_tells_a_status_update_from_a_page(app_paging: Paging) -> None:
    """An update that fell inside the window of an SMS of pages was counted as a page ("2 pages:
    #2=2") and not named: the incident accepted meanwhile was never said to be."""
    sam, token = told_of_updates(app_paging, "SMS", ("ALERT_ACCEPTED",))
    first = app_paging.alert("k1", summary="first down")
    app_paging.daemon.advance("PT0S")
    second = app_paging.alert("k2", summary="second down")
    assert app_paging.daemon.put(f"/api/incidents/{first}/accept", token=token).status_code == 200
    app_paging.daemon.advance("PT2M")
    summary = sms_to(app_paging, phone_of(app_paging, sam))[-1]
    assert summary.startswith(f"ilertd: 1 page, 1 status update: #{second}=2 #{first} accepted\n"), summary


def test_a_call_reads_a_summary_holding_characters_xml_cannot(app_paging: Paging) -> None:
    """A control character in an alert's summary (a tool's `\\u0001`) made the call's TwiML a
    document Twilio cannot parse: the callee heard "an application error has occurred", and the
    page was marked sent."""
    callee = app_paging.user("vic", [("VOICE", 0, "HIGH_PRIORITY")])
    app_paging.policy([(30, [callee])])
    app_paging.alert("k1", summary="disk\u0001full\u000bon db-1 \ufffe")
    app_paging.daemon.advance("PT0S")
    (call,) = app_paging.http.to("/2010-04-01/Accounts/ACtest/Calls.json")
    menu = twilio_post(app_paging, call.form()["Url"], {"CallSid": "CA1"})
    assert "from default: disk full on db-1  . Press 4" in said(menu.text)


def test_a_test_page_to_a_phone_number_calls_it_and_says_so(app_paging: Paging) -> None:
    """A test call was placed without the URL of its TwiML: Twilio was never asked, the row failed
    ("a voice page needs a TwiML URL"), 25 times over a day, as if the phone could not be called;
    and the TwiML had nothing to say of a page without an incident."""
    lee = app_paging.user("lee", [("VOICE", 0, "HIGH_PRIORITY")])
    contact = next(c for c in app_paging.daemon.get(f"/api/users/{lee}/contacts").json()
                   if c["method"] == "VOICE")
    queued = app_paging.daemon.post(f"/api/users/{lee}/contacts/{contact['id']}/test")
    assert queued.status_code == 202
    app_paging.daemon.advance("PT0S")
    (call,) = app_paging.http.to("/2010-04-01/Accounts/ACtest/Calls.json")
    assert (call.form()["To"], call.form()["From"]) == (contact["target"], "+15550001111")
    twiml = twilio_post(app_paging, call.form()["Url"], {"CallSid": "CA9"})
    assert said(twiml.text) == "This is a test call from ilertd. Pages reach you here. Goodbye."
    assert ElementTree.fromstring(twiml.text).find("Gather") is None and "<Hangup" in twiml.text
    assert "test page 1 sent: VOICE" in app_paging.daemon.log()


def test_a_bare_letter_after_a_summary_asks_for_a_code(paging_either_store: Paging) -> None:
    """The latest SMS listed two incidents ("2 pages: #8=2 #9=3"): a bare `a` (or PagerDuty's 4)
    cannot say which one it means, so it changes nothing and asks for a code, where it accepted
    whichever of the two was written last."""
    app_paging = paging_either_store
    dave, _erin = two_levels_of(app_paging)
    phone = phone_of(app_paging, dave)
    first = app_paging.alert("k1", summary="first")
    app_paging.daemon.advance("PT0S")
    second = app_paging.alert("k2", summary="second")  # inside the throttle window: summarised
    third = app_paging.alert("k3", summary="third")
    app_paging.daemon.advance("PT2M")
    summary = sms_to(app_paging, phone)[-1]
    assert f"#{second}=2" in summary and f"#{third}=3" in summary
    for body in ("a", "4", "r", "e"):
        answer = sms_reply(app_paging, phone, body)
        assert answer == (f"ilertd: your last page named 2 incidents: reply with one's code, "
                          f"#{second}={2} or #{third}={3}, e.g. 2{body if body in 'are' else 'a'}."), answer
    assert [incident(app_paging, i)["status"] for i in (first, second, third)] == ["PENDING"] * 3
    assert sms_reply(app_paging, phone, "3a") == f"ilertd: Incident #{third} accepted."
    # A page of one incident after the summary makes a bare letter plain again.
    app_paging.daemon.advance("PT2M")
    fourth = app_paging.alert("k4", summary="fourth")
    app_paging.daemon.advance("PT0S")
    assert sms_reply(app_paging, phone, "a") == f"ilertd: Incident #{fourth} accepted."


def test_a_reply_from_a_number_given_up_since_acts_for_nobody(app_paging: Paging) -> None:
    """alice's page went to a number she then gave up, and bob took: his "1a" accepted the
    incident he was never paged for, and the log said alice accepted it."""
    alice = app_paging.user("alice", [("SMS", 0, "HIGH_PRIORITY")])
    app_paging.policy([(30, [alice])])
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    phone = phone_of(app_paging, alice)
    contact = app_paging.daemon.get(f"/api/users/{alice}/contacts").json()[0]["id"]
    assert app_paging.daemon.put(f"/api/users/{alice}/contacts/{contact}",
                                 {"target": "+4915199999999"}).status_code == 200
    bob = app_paging.user("bob")
    assert app_paging.daemon.post(f"/api/users/{bob}/contacts",
                                  {"method": "SMS", "target": phone}).status_code == 201
    for text in ("1a", f"ack {incident_id}", "a"):
        answer = sms_reply(app_paging, phone, text) or ""
        assert "accepted" not in answer, (text, answer)
    assert sms_reply(app_paging, phone, "1a") == (
        f"ilertd: incident #{incident_id} was not paged to you on this phone; nothing changed.")
    assert incident(app_paging, incident_id)["status"] == "PENDING"
    assert log(app_paging, incident_id, "ACCEPTED") == []
