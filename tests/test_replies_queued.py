"""A reply a follower queued is judged as of when it came in (the send order's mark it was stored
with): its escalation answers the page sent by then, and a page that was being sent when its sender
stopped may be the one a bare letter means. In process, the mark set as the leader's relay sets it
(two real nodes: test_ha_replies.py)."""

from __future__ import annotations

from ilertd.app.sent_when_received import served_as_received
from ilertd.store import models as m
from tests.inprocess import InProcessDaemon
from tests.paging import Paging
from tests.test_replies import incident, phone_of, sms_to


def texted(paging: Paging, phone: str, body: str, last_sent_seq: int) -> str | None:
    """The answer to `body` from `phone` as the relay serves a text queued when the last message
    sent had `last_sent_seq`."""
    assert isinstance(paging.daemon, InProcessDaemon) and paging.daemon.daemon.services is not None
    with served_as_received(last_sent_seq):
        return paging.daemon.daemon.services.app.replies.sms(phone, body)


def sent_seq_of(paging: Paging, incident_id: int, target: str) -> int:
    """The `sent_seq` of the latest page of the incident to `target`."""
    sent = [r["id"] for r in paging.notifications(incident_id)
            if r["target"] == target and r["status"] == "SUCCESS"]
    return max(int(m.Notification.get_by_id(row_id).sent_seq) for row_id in sent)


def test_a_queued_escalation_answers_the_page_sent_when_it_came_in(app_paging: Paging) -> None:
    """dave texted "1e" on the 09:00 page; while the text waited for a leader the incident went to
    erin at 09:05 and, the policy repeating, back to dave at 09:10. Judged against the 09:10 page,
    the escalation went through: erin paged a second time, a level nobody had asked for."""
    dave = app_paging.user("dave", [("SMS", 0, "HIGH_PRIORITY")])
    erin = app_paging.user("erin", [("SMS", 0, "HIGH_PRIORITY")])
    app_paging.policy([(5, [dave]), (5, [erin])], repeating=True, frequency=3)
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    phone = phone_of(app_paging, dave)
    when_texted = sent_seq_of(app_paging, incident_id, phone)
    app_paging.daemon.advance("PT10M")
    assert len(sms_to(app_paging, phone)) == 2 and len(sms_to(app_paging, phone_of(app_paging, erin))) == 1
    assert texted(app_paging, phone, "1e", when_texted) == (
        f"ilertd: Incident #{incident_id} was already escalated to level 0 after this page; nothing changed.")
    app_paging.daemon.advance("PT0S")
    assert len(sms_to(app_paging, phone_of(app_paging, erin))) == 1
    assert incident(app_paging, incident_id)["escalationLevel"] == 0


def test_a_queued_bare_letter_asks_for_a_code_when_a_page_was_in_flight_as_it_came_in(
        app_paging: Paging) -> None:
    """The page of the second incident was being handed to the provider when its leader was
    killed, and sent again after the text came in: it may have arrived first and be the one dave
    answers, or not. Which he means cannot be told; nothing changes and he is asked for a code."""
    dave = app_paging.user("dave", [("SMS", 0, "HIGH_PRIORITY")])
    app_paging.policy([(30, [dave])])
    phone = phone_of(app_paging, dave)
    first = app_paging.alert("k1")
    app_paging.daemon.advance("PT2M")  # past the SMS throttle window: each page its own SMS
    when_texted = sent_seq_of(app_paging, first, phone)
    second = app_paging.alert("k2")
    app_paging.daemon.advance("PT2M")
    (paged_first, paged_second) = sms_to(app_paging, phone)
    assert "Reply 1a" in paged_first and "Reply 2a" in paged_second
    # A page sent after the text came in, and no more: the bare letter answers the page before it.
    assert texted(app_paging, phone, "a", when_texted) == f"ilertd: Incident #{first} accepted."
    (page,) = [r["id"] for r in app_paging.notifications(second) if r["target"] == phone]
    m.Notification.update(resent=True).where(m.Notification.id == page).execute()
    assert texted(app_paging, phone, "r", when_texted) == (
        f"ilertd: your last page named 2 incidents: reply with one's code, #{first}=1 or #{second}=2,"
        " e.g. 1r.")
    assert (incident(app_paging, first)["status"], incident(app_paging, second)["status"]) == (
        "ACCEPTED", "PENDING")


def test_a_queued_escalation_answers_a_page_in_flight_when_it_came_in(app_paging: Paging) -> None:
    """The 09:10 page to dave was being handed to the provider when its leader was killed (re-armed
    since, not yet sent again): numbered as it was handed out, before the text came in, it is the
    page dave's "1e" answers. Judged against his 09:00 page instead, the level that paged since
    refused the escalation, and erin was not paged."""
    dave = app_paging.user("dave", [("SMS", 0, "HIGH_PRIORITY")])
    erin = app_paging.user("erin", [("SMS", 0, "HIGH_PRIORITY")])
    app_paging.policy([(5, [dave]), (5, [erin])], repeating=True, frequency=3)
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT10M")
    phone = phone_of(app_paging, dave)
    assert len(sms_to(app_paging, phone)) == 2 and len(sms_to(app_paging, phone_of(app_paging, erin))) == 1
    in_flight = sent_seq_of(app_paging, incident_id, phone)
    # As the next leader finds it: SCHEDULED again, `resent`, keeping the number it was handed out with.
    m.Notification.update(status="SCHEDULED", sent_at=None, sending_since=None, resent=True).where(
        m.Notification.sent_seq == in_flight).execute()
    assert texted(app_paging, phone, "1e", in_flight) == (
        f"ilertd: Incident #{incident_id} escalated to level 1.")
    assert incident(app_paging, incident_id)["escalationLevel"] == 1
