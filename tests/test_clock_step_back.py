"""A wall clock stepped back (NTP stepping a clock that ran ahead, a VM resumed): what was stamped
before the step is later than now, and must neither hold pages back nor pass for the latest.

The manual clock never goes back: a step is a restart on its file set earlier."""

from __future__ import annotations

from datetime import timedelta

from ilertd.actors.clock import MANUAL_CLOCK_FILE
from ilertd.domain.notification_plan import THROTTLE_WINDOW
from ilertd.domain.timeutil import format_instant
from ilertd.store import models as m
from ilertd.store.outbox import last_sent
from tests.inprocess import InProcessDaemon
from tests.paging import Paging
from tests.test_paging import texted_once
from tests.test_replies import called, incident, phone_of, sms_reply, sms_to, twilio_post


def step_back(app: InProcessDaemon, step: timedelta) -> None:
    """Stop, set the clock `step` back, start: what a clock stepped back under the daemon gives."""
    stepped = app.daemon.clock.now() - step
    app.stop()
    (app.data_dir / MANUAL_CLOCK_FILE).write_text(format_instant(stepped) or "")
    app.start()
    assert app.daemon.clock.now() == stepped


def test_a_contact_paged_before_a_step_back_waits_one_throttle_window_not_the_step(
        app_paging: Paging) -> None:
    """Tia was texted, then the clock stepped back an hour: a new incident's first SMS to her
    waited for the old send's window an hour away, its level passing her by."""
    phone = texted_once(app_paging)
    app = app_paging.daemon
    assert isinstance(app, InProcessDaemon)
    step_back(app, timedelta(hours=1))
    second = app_paging.alert("second")
    app.advance("PT59S")
    assert len(app_paging.http.to(f"/sms/{phone}")) == 1
    app.advance("PT1S")
    assert len(app_paging.http.to(f"/sms/{phone}")) == 2
    assert [p["status"] for p in app_paging.notifications(second)] == ["SUCCESS"]


def test_a_send_stamped_after_now_is_read_back_as_made_now(app: InProcessDaemon) -> None:
    """The throttle's reload at a start: a send stamped later than now counts from now."""
    now = app.daemon.clock.now()
    for row_id, target, sent_at in ((900_001, "+4915100000001", now + timedelta(hours=1)),
                                    (900_002, "+4915100000002", now - timedelta(seconds=20))):
        m.Notification.create(id=row_id, user_id=1, kind="ALERT", method="SMS", target=target, due_at=sent_at,
                              sent_at=sent_at, status="SUCCESS", attempts=1, created_at=sent_at)
    assert last_sent(now, {"SMS": THROTTLE_WINDOW["SMS"]}) == {
        "SMS": {"+4915100000001": now, "+4915100000002": now - timedelta(seconds=20)}}



def texted_across_a_step_back(app_paging: Paging) -> tuple[int, int, str]:
    """ann texted #1, the wall clock stepped back an hour, then texted #2: (#1, #2, her phone)."""
    ann = app_paging.user("ann", [("SMS", 0, "HIGH_PRIORITY")], email=False)
    app_paging.policy([(30, [ann])])
    first = app_paging.alert("first")
    app_paging.daemon.advance("PT0S")
    phone = phone_of(app_paging, ann)
    app = app_paging.daemon
    assert isinstance(app, InProcessDaemon)
    step_back(app, timedelta(hours=1))
    second = app_paging.alert("second")
    app.advance("PT1M")
    assert len(sms_to(app_paging, phone)) == 2
    return first, second, phone

def test_a_bare_letter_after_a_step_back_answers_the_page_just_received(app_paging: Paging) -> None:
    """Ann was texted #1, the clock stepped back an hour, then she was texted #2 and replied "A":
    #1, stamped later, was taken for her latest page and accepted, #2 escalating on."""
    first, second, phone = texted_across_a_step_back(app_paging)
    assert sms_reply(app_paging, phone, "A") == f"ilertd: Incident #{second} accepted."
    assert incident(app_paging, first)["status"] == "PENDING"


def test_a_texted_escalation_sent_twice_after_a_step_back_escalates_once(app_paging: Paging) -> None:
    """The page an escalation answers is the latest sent, not the latest stamped: with a page
    from before a step back taken for it, the same "1e" texted twice escalated twice."""
    ann = app_paging.user("ann", [("SMS", 0, "HIGH_PRIORITY")], email=False)
    bob = app_paging.user("bob", [("SMS", 0, "HIGH_PRIORITY")], email=False)
    app_paging.policy([(30, [ann]), (30, [bob])])
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    phone = phone_of(app_paging, ann)
    app = app_paging.daemon
    assert isinstance(app, InProcessDaemon)
    step_back(app, timedelta(hours=1))
    # Level 0 again, by hand: ann's new page leaves after her throttle window.
    assert app.put(f"/api/incidents/{incident_id}/escalate", {"level": 0}).status_code == 200
    app.advance("PT1M")
    assert len(sms_to(app_paging, phone)) == 2
    app.advance("PT5S")
    assert sms_reply(app_paging, phone, "1e", message_sid="SMfirst") == (
        f"ilertd: Incident #{incident_id} escalated to level 1.")
    app.advance("PT0S")
    assert sms_reply(app_paging, phone, "1e", message_sid="SMsecond") == (
        f"ilertd: Incident #{incident_id} was already escalated to level 1 after this page; nothing changed.")
    assert incident(app_paging, incident_id)["escalationLevel"] == 1


def test_a_texted_escalation_sent_twice_after_a_step_back_escalates_once_for_a_page_before_it(
        app_paging: Paging) -> None:
    """Ann was texted, the clock stepped back an hour, and her "1e" came twice: the escalation,
    stamped before her page, passed for one the page had not seen, and the second "1e" moved the
    incident a level further (cy paged, whom nobody asked for)."""
    ann, bob, cy = (app_paging.user(name, [("SMS", 0, "HIGH_PRIORITY")], email=False)
                    for name in ("ann", "bob", "cy"))
    app_paging.policy([(30, [ann]), (30, [bob]), (30, [cy])])
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    phone = phone_of(app_paging, ann)
    app = app_paging.daemon
    assert isinstance(app, InProcessDaemon)
    step_back(app, timedelta(hours=1))
    assert sms_reply(app_paging, phone, "1e", message_sid="SMfirst") == (
        f"ilertd: Incident #{incident_id} escalated to level 1.")
    app.advance("PT0S")
    assert len(sms_to(app_paging, phone_of(app_paging, bob))) == 1
    assert sms_reply(app_paging, phone, "1e", message_sid="SMsecond") == (
        f"ilertd: Incident #{incident_id} was already escalated to level 1 after this page; nothing changed.")
    app.advance("PT0S")
    assert incident(app_paging, incident_id)["escalationLevel"] == 1
    assert sms_to(app_paging, phone_of(app_paging, cy)) == []


def test_a_key_pressed_twice_on_a_call_placed_before_a_step_back_escalates_once(app_paging: Paging) -> None:
    """Vic was called, the clock stepped back an hour, and she pressed 5 twice: the second press
    wrapped the incident back to level 0 (the escalation's stamp came before the call's)."""
    incident_id, url = called(app_paging, "vic")
    app = app_paging.daemon
    assert isinstance(app, InProcessDaemon)
    step_back(app, timedelta(hours=1))
    gather = f"{url}/gather"
    first = twilio_post(app_paging, gather, {"CallSid": "CA1", "Digits": "5"})
    assert f"Incident #{incident_id} escalated to level 1." in first.text
    app.advance("PT0S")
    again = twilio_post(app_paging, gather, {"CallSid": "CA1", "Digits": "5"})
    assert "was already escalated to level 1 after this page; nothing changed." in again.text
    app.advance("PT0S")
    assert incident(app_paging, incident_id)["escalationLevel"] == 1


def test_the_help_text_after_a_step_back_names_the_code_of_the_page_just_received(
        app_paging: Paging) -> None:
    """Ann was texted #1 (code 1), the clock stepped back an hour, then she was texted #2 (code 2):
    her help text's example was code 1, stamped later, not the page she had just read."""
    _first, second, phone = texted_across_a_step_back(app_paging)
    assert f"#{second}" in sms_to(app_paging, phone)[-1] and "Reply 2a" in sms_to(app_paging, phone)[-1]
    helped = sms_reply(app_paging, phone, "what?")
    assert helped is not None and "reply 2a to accept" in helped, helped
