"""Tests of test pages and shift reminders not yet sent when their contact changes or goes, or the
user goes: like an incident's pages, they follow a changed number and go nowhere for a deleted
contact or user (a number given up may be someone else's now)."""

from __future__ import annotations

from collections import Counter

from tests.inprocess import InProcessDaemon
from tests.paging import Paging
from tests.test_schedule_paging import duty, schedule

OLD = "+4915100000101"
NEW = "+4915100000102"


def sms_contact(paging: Paging, name: str, number: str) -> tuple[int, int]:
    """A user with an SMS contact at `number` (and no rule): (user id, contact id)."""
    user_id = paging.user(name, email=False)
    contact = paging.daemon.post(f"/api/users/{user_id}/contacts", {"method": "SMS", "target": number})
    assert contact.status_code == 201, contact.text
    return user_id, int(contact.json()["id"])


def two_tests(paging: Paging, user_id: int, contact_id: int) -> int:
    """Two test pages to the contact: the first texted now, the second waiting for the end of the
    throttle window the first opened (a minute); the second's outbox id."""
    first = paging.daemon.post(f"/api/users/{user_id}/contacts/{contact_id}/test")
    assert first.status_code == 202, first.text
    paging.daemon.advance("PT0S")
    second = paging.daemon.post(f"/api/users/{user_id}/contacts/{contact_id}/test")
    assert second.status_code == 202, second.text
    paging.daemon.advance("PT0S")
    return int(second.json()["id"])


def texted(paging: Paging) -> Counter[str]:
    """How many messages the SMS gateway took for each number."""
    return Counter(request.path.removeprefix("/sms/") for request in paging.http.to("/sms/"))


def row_of(notification_id: int) -> tuple[str, str]:
    """(status, target) of an outbox row."""
    from ilertd.store import models as m

    row = m.Notification.get_by_id(notification_id)
    return row.status, row.target


def test_a_waiting_test_page_goes_nowhere_once_its_user_or_contact_is_deleted(app_paging: Paging) -> None:
    ann, ann_phone = sms_contact(app_paging, "ann", OLD)
    bo, bo_phone = sms_contact(app_paging, "bo", NEW)
    ann_test, bo_test = two_tests(app_paging, ann, ann_phone), two_tests(app_paging, bo, bo_phone)
    assert texted(app_paging) == {OLD: 1, NEW: 1}
    assert app_paging.daemon.delete(f"/api/users/{ann}").status_code == 204
    assert app_paging.daemon.delete(f"/api/users/{bo}/contacts/{bo_phone}").status_code == 204
    app_paging.daemon.advance("PT2M")
    assert texted(app_paging) == {OLD: 1, NEW: 1}
    assert row_of(ann_test) == ("CANCELLED", OLD) and row_of(bo_test) == ("CANCELLED", NEW)


def test_a_waiting_test_page_follows_its_contact_to_a_new_number(app_paging: Paging) -> None:
    ann, phone = sms_contact(app_paging, "ann", OLD)
    waiting = two_tests(app_paging, ann, phone)
    changed = app_paging.daemon.put(f"/api/users/{ann}/contacts/{phone}", {"target": NEW})
    assert changed.status_code == 200, changed.text
    app_paging.daemon.advance("PT2M")
    assert texted(app_paging) == {OLD: 1, NEW: 1}
    assert row_of(waiting) == ("SUCCESS", NEW)


def test_a_shift_reminder_being_retried_goes_nowhere_once_its_contact_is_deleted(app_paging: Paging) -> None:
    ann, ben = app_paging.user("ann"), app_paging.user("ben")
    duty(app_paging, ben, "SMS", OLD, 15)
    schedule(app_paging, [ann, ben])
    app_paging.http.failing = True
    app_paging.daemon.advance("PT23H45M")  # 08:45Z on Tuesday: the gateway answers 503
    assert texted(app_paging) == {OLD: 1}
    app_paging.http.failing = False
    (contact,) = app_paging.daemon.get(f"/api/users/{ben}/contacts").json()
    assert app_paging.daemon.delete(f"/api/users/{ben}/contacts/{contact['id']}").status_code == 204
    app_paging.daemon.advance("PT10M")  # past its retries
    assert texted(app_paging) == {OLD: 1}


def test_the_channel_sends_no_test_page_to_a_contact_or_user_gone_meanwhile(app_paging: Paging) -> None:
    """The channel checks a test page's user and contact before it sends it: a change that passed
    the page by (simulated here by writing it beside the app) does not send it to a number given up."""
    from ilertd.store import models as m

    daemon = app_paging.daemon
    assert isinstance(daemon, InProcessDaemon)
    ann, ann_phone = sms_contact(app_paging, "ann", OLD)
    bo, bo_phone = sms_contact(app_paging, "bo", NEW)
    ann_test, bo_test = two_tests(app_paging, ann, ann_phone), two_tests(app_paging, bo, bo_phone)
    m.Contact.delete().where(m.Contact.id == ann_phone).execute()
    m.User.delete().where(m.User.id == bo).execute()
    daemon.daemon.services.app.ctx.people.invalidate()
    daemon.advance("PT2M")
    assert texted(app_paging) == {OLD: 1, NEW: 1}
    assert row_of(ann_test)[0] == row_of(bo_test)[0] == "CANCELLED"
    assert "test page" in daemon.log() and "not sent: the user was deleted" in daemon.log()
