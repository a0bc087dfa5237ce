"""Pages to a user's account e-mail, planned for want of a usable alert rule (the fallback): they
follow the account address, not a contact that happens to share it."""

from __future__ import annotations

from typing import Any

from tests.paging import Paging


def low_contact(p: Paging, user_id: int, target: str) -> int:
    """An EMAIL contact only a LOW rule uses: a HIGH incident pages the account address instead."""
    return p.contact_and_rule(user_id, "EMAIL", target, "LOW_PRIORITY")


def texts(p: Paging, incident_id: int, kind: str) -> list[str]:
    entries: list[dict[str, Any]] = p.daemon.get(f"/api/incidents/{incident_id}/log-entries",
                                                 params={"max-results": 100}).json()
    return [e["text"] for e in entries if e["logEntryType"] == kind]


def test_a_contact_of_the_account_address_deleted_or_changed_leaves_its_fallback_pages(
        app_paging: Paging) -> None:
    """The fallback page was cancelled ("ann's contact was deleted") or taken to the contact's new
    address, though the account address had not changed: the page was missed."""
    p = app_paging
    ann = p.user("ann")
    contact = low_contact(p, ann, "ann@example.com")
    p.policy([(60, [ann])])
    p.alert("k1")
    p.daemon.advance("PT5S")
    # Held by the e-mail throttle window (10 s) while the contact goes.
    throttled = p.alert("k2")
    p.daemon.advance("PT2S")
    assert p.daemon.delete(f"/api/users/{ann}/contacts/{contact}").status_code == 204
    p.daemon.advance("PT1M")
    assert [n["status"] for n in p.notifications(throttled)] == ["SUCCESS"]
    # Retrying through a mail outage while a contact of that address changes.
    other = low_contact(p, ann, "ann@example.com")
    p.smtp.stop()
    retrying = p.alert("k3")
    p.daemon.advance("PT40S")
    changed = p.daemon.put(f"/api/users/{ann}/contacts/{other}", {"target": "ann.low@example.com"})
    assert changed.status_code == 200
    p.smtp.start()
    p.daemon.advance("PT10M")
    assert [(n["target"], n["status"]) for n in p.notifications(retrying)] == [("ann@example.com", "SUCCESS")]
    assert not p.mails_to("ann.low@example.com")


def test_the_account_e_mail_changed_takes_its_fallback_pages_along(app_paging: Paging) -> None:
    """A fallback page being retried was cancelled at its retry ("ann's contact was deleted", though
    none was) when the account address was corrected; one waiting stayed at the old address."""
    p = app_paging
    ann = p.user("ann")
    low_contact(p, ann, "ann.low@example.com")
    p.policy([(60, [ann])])
    p.smtp.inbox.refused.add("ann@example.com")
    retrying = p.alert("k1")
    p.daemon.advance("PT10S")
    waiting = p.alert("k2")
    assert p.daemon.put(f"/api/users/{ann}", {"email": "ann@new.example"}).status_code == 200
    p.daemon.advance("PT10M")
    for incident_id in (retrying, waiting):
        assert [(n["target"], n["status"]) for n in p.notifications(incident_id)] == [
            ("ann@new.example", "SUCCESS")]
    assert len(p.mails_to("ann@new.example")) >= 1 and not p.mails_to("ann.low@example.com")
    # Moved as the address changed ("EMAIL due at ... goes to"), or, when it was being sent then,
    # at its retry ("EMAIL retried at").
    for incident_id in (retrying, waiting):
        assert texts(p, incident_id, "NOTIFICATION_PLANNED")[-1].endswith(
            " ann@new.example, not ann@example.com: ann's account e-mail was changed")


def test_the_account_e_mail_removed_cancels_its_fallback_pages(app_paging: Paging) -> None:
    p = app_paging
    ann = p.user("ann")
    p.policy([(60, [ann])])
    p.alert("k1")
    p.daemon.advance("PT2S")
    waiting = p.alert("k2")
    assert p.daemon.put(f"/api/users/{ann}", {"email": ""}).status_code == 200
    p.daemon.advance("PT1M")
    assert [n["status"] for n in p.notifications(waiting)] == ["CANCELLED"]
    assert texts(p, waiting, "NOTIFICATION_CANCELLED") == [
        "EMAIL to ann@example.com not sent: ann's account e-mail was removed"]
