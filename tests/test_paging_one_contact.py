"""Pages of one incident due together at one contact (a team phone two users share, a user's two
rules for one address) go out as that incident's page, with its reply code and actions, not as a
summary of pages."""

from __future__ import annotations

from ilertd.domain.timeutil import parse_instant
from tests.inprocess import InProcessDaemon
from tests.paging import Paging


def sms_contact_and_rule(paging: Paging, user_id: int, phone: str) -> None:
    paging.contact_and_rule(user_id, "SMS", phone)


def test_a_team_phone_two_users_share_gets_the_incidents_own_page_once(app_paging: Paging) -> None:
    ann, ben = app_paging.user("ann"), app_paging.user("ben")
    for user_id in (ann, ben):
        sms_contact_and_rule(app_paging, user_id, "+4915100000042")
    app_paging.policy([(60, [ann, ben])])
    incident_id = app_paging.alert(summary="checkout down")
    app_paging.daemon.advance("PT0S")
    (sms,) = app_paging.http.to("/sms/")
    text = sms.json()["message"]
    # The incident's own SMS: its id, summary and reply code, not "ilertd: 2 pages: ...".
    assert text.startswith(f"ilertd #{incident_id} HIGH: checkout down"), text
    assert "pages" not in text and "Reply 1a" in text, text
    rows = app_paging.notifications(incident_id)
    assert [(r["user"]["username"], r["status"]) for r in rows] == [("ann", "SUCCESS"), ("ben", "SUCCESS")]
    sent = [e["text"] for e in app_paging.daemon.get(f"/api/incidents/{incident_id}/log-entries").json()
            if e["logEntryType"] == "NOTIFICATION_SENT"]
    assert sent == ["Page by SMS to +4915100000042 via sms (one message for 2 pages of this incident)"] * 2


def test_two_rules_for_one_address_send_one_e_mail_with_the_incidents_actions(app_paging: Paging) -> None:
    # Two contacts of one address, as an older store may hold (identical rules of one contact,
    # and a second contact of one address, are refused since).
    from ilertd.store import models as m

    cleo = app_paging.user("cleo", [("EMAIL", 0, "HIGH_PRIORITY")])
    second_contact = m.Contact.create(user=cleo, method="EMAIL", target="cleo.pager@example.com")
    rule = app_paging.daemon.post(f"/api/users/{cleo}/notification-preferences/alerts",
                                  {"method": "EMAIL", "contact": {"id": second_contact.id},
                                   "type": "HIGH_PRIORITY"})
    assert rule.status_code == 201, rule.text
    app_paging.policy([(60, [cleo])])
    incident_id = app_paging.alert(summary="queue stuck")
    app_paging.daemon.advance("PT0S")
    (mail,) = app_paging.mails_to("cleo.pager@example.com")
    assert mail["Subject"] == f"[ilertd] #{incident_id} HIGH: queue stuck"
    assert [r["status"] for r in app_paging.notifications(incident_id)] == ["SUCCESS", "SUCCESS"]
    # Pages of two incidents at once are still one summary.
    second = app_paging.alert(key="db2", summary="db2 down")
    third = app_paging.alert(key="db3", summary="db3 down")
    app_paging.daemon.advance("PT1M")
    summary = app_paging.mails_to("cleo.pager@example.com")[-1]
    assert summary["Subject"] == "[ilertd] 4 pages for 2 incidents"
    assert {r["status"] for i in (second, third) for r in app_paging.notifications(i)} == {"AGGREGATED"}


def test_a_test_page_due_with_a_page_goes_on_its_own_and_the_page_goes_out(app_paging: Paging) -> None:
    """A test page (of no incident) due with a page at one contact was folded into its summary,
    whose words had no incident for it (KeyError): the batch failed with its rows marked as being
    sent, and two restarts later the page ended ERROR "in flight twice", never sent."""
    ann = app_paging.user("ann", [("SMS", 0, "HIGH_PRIORITY")])
    app_paging.policy([(600, [ann])])
    app_paging.alert("k1")  # 09:00 texted: ann's window is open until 09:01
    app_paging.daemon.advance("PT5S")
    contacts = app_paging.daemon.get(f"/api/users/{ann}/contacts").json()
    contact = next(c for c in contacts if c["method"] == "SMS")
    assert app_paging.daemon.post(f"/api/users/{ann}/contacts/{contact['id']}/test").status_code == 202
    app_paging.daemon.advance("PT5S")
    second = app_paging.alert("k2")  # both wait for 09:01
    app_paging.daemon.advance("PT60S")
    app_paging.daemon.advance("PT2M")
    assert isinstance(app_paging.daemon, InProcessDaemon)
    assert "KeyError" not in app_paging.daemon.log()
    assert [row["status"] for row in app_paging.notifications(second)] == ["SUCCESS"]
    texts = [r.json()["message"] for r in app_paging.http.to("/sms/")]
    assert len(texts) == 3 and any("test notification" in text for text in texts), texts
    assert not any("test notification" in text and "k2" in text for text in texts)


def test_a_retry_goes_where_its_page_would_go_now(app_paging: Paging) -> None:
    """A change made while a page was being sent passed it by (it follows only pages not yet sent):
    when the provider then refused it, its retry went to the number given up, to a deleted
    contact, or to a user muted meanwhile. Simulated here by writing the change beside the app."""
    from ilertd.store import models as m

    daemon = app_paging.daemon
    assert isinstance(daemon, InProcessDaemon)
    people = daemon.daemon.services.app.ctx.people
    users = [app_paging.user(name, [("SMS", 0, "HIGH_PRIORITY")]) for name in ("ann", "bob", "cat")]
    app_paging.policy([(600, users)])
    old = {u: app_paging.target(name, "SMS") for u, name in zip(users, ("ann", "bob", "cat"), strict=True)}
    app_paging.http.failing = True
    incident_id = app_paging.alert()
    daemon.advance("PT0S")
    assert {row["status"] for row in app_paging.notifications(incident_id)} == {"SCHEDULED"}
    app_paging.http.failing = False
    ann, bob, cat = users
    m.Contact.update(target="+4915199999999").where(m.Contact.user == ann).execute()
    m.Contact.delete().where(m.Contact.user == bob).execute()
    m.User.update(muted_until=parse_instant("2026-01-05T12:00:00Z")).where(m.User.id == cat).execute()
    people.invalidate()
    daemon.advance("PT1M")
    texted = [r.path for r in app_paging.http.to("/sms/")]
    assert texted.count("/sms/+4915199999999") == 1
    assert f"/sms/{old[bob]}" not in texted[3:] and f"/sms/{old[cat]}" not in texted[3:]
    rows = {row["user"]["username"]: row for row in app_paging.notifications(incident_id)}
    assert (rows["ann"]["status"], rows["ann"]["target"]) == ("SUCCESS", "+4915199999999")
    assert rows["bob"]["status"] == rows["cat"]["status"] == "CANCELLED"
    cancelled = " ".join(e["text"] for e in daemon.get(f"/api/incidents/{incident_id}/log-entries").json()
                         if e["logEntryType"] == "NOTIFICATION_CANCELLED")
    assert "bob's contact was deleted" in cancelled and "cat is muted until" in cancelled
