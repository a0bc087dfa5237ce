"""Tests of a user's pages not yet sent when their contact changes or goes, or the user goes: the
pages follow a changed number, and go nowhere for a deleted contact or user."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import paging_with
from tests.inprocess import InProcessDaemon
from tests.paging import Paging

ANN_OLD = "+4915100000101"
ANN_NEW = "+4915100000102"
TEAM_PHONE = "+4915100000199"


@pytest.fixture(params=["sqlite", "postgresql"])
def on_either_store(request: pytest.FixtureRequest, tmp_path: Path,
                    make_app: Callable[..., InProcessDaemon]) -> Iterator[Paging]:
    """`app_paging` on each store in turn: on PostgreSQL the pages are read FOR UPDATE."""
    env = {}
    if request.param == "postgresql":
        env["ILERTD_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    with paging_with(tmp_path, lambda config: make_app(config=config, env=env).start()) as ready:
        yield ready


def sms_user(paging: Paging, name: str, number: str, delays: tuple[int, ...] = (0, 5)) -> tuple[int, int]:
    """A user paged by SMS at `number` after each of `delays` minutes: (user id, contact id)."""
    user_id = paging.user(name, email=False)
    contact = paging.daemon.post(f"/api/users/{user_id}/contacts", {"method": "SMS", "target": number})
    assert contact.status_code == 201, contact.text
    rules = f"/api/users/{user_id}/notification-preferences/alerts"
    for delay in delays:
        rule = paging.daemon.post(rules, {"method": "SMS", "contact": {"id": contact.json()["id"]},
                                          "delayMin": delay, "type": "HIGH_PRIORITY"})
        assert rule.status_code == 201, rule.text
    return user_id, int(contact.json()["id"])


def ann_and_the_team_phone_paged(paging: Paging, other: str) -> tuple[int, int, int, int]:
    """ann (ANN_OLD) and `other` (TEAM_PHONE), each paged at 09:00 and 09:05 for an incident
    opened now: (ann, her contact, other, the incident)."""
    ann, ann_phone = sms_user(paging, "ann", ANN_OLD)
    other_id, _ = sms_user(paging, other, TEAM_PHONE)
    paging.policy([(30, [ann, other_id])])
    return ann, ann_phone, other_id, paging.alert()


def pages(paging: Paging, incident_id: int) -> list[tuple[str, str, str, str]]:
    """(user, target, due time, status) of each page, in order."""
    return sorted((n["user"]["username"], n["target"], n["dueAt"][11:16], n["status"])
                  for n in paging.notifications(incident_id))


def sms_sent(paging: Paging) -> Counter[str]:
    """How many messages the SMS gateway took for each number."""
    return Counter(request.path.removeprefix("/sms/") for request in paging.http.to("/sms/"))


def texts(paging: Paging, incident_id: int, entry_type: str) -> list[str]:
    entries: list[dict[str, Any]] = paging.daemon.get(f"/api/incidents/{incident_id}/log-entries").json()
    return [e["text"] for e in entries if e["logEntryType"] == entry_type]


def test_a_changed_number_takes_the_pages_not_yet_sent_and_a_shared_phone_keeps_the_others(
        on_either_store: Paging) -> None:
    """ann gives up her number at 09:02: her 09:05 page goes to the new one, not to whoever has the
    old one now; ben's pages to the team phone (ann's new number is not his) stay where they were."""
    paging = on_either_store
    ann, ann_phone, _, incident_id = ann_and_the_team_phone_paged(paging, "ben")
    paging.daemon.advance("PT2M")
    changed = paging.daemon.put(f"/api/users/{ann}/contacts/{ann_phone}", {"target": ANN_NEW})
    assert changed.status_code == 200, changed.text
    paging.daemon.advance("PT3M")
    assert pages(paging, incident_id) == [
        ("ann", ANN_OLD, "09:00", "SUCCESS"), ("ann", ANN_NEW, "09:05", "SUCCESS"),
        ("ben", TEAM_PHONE, "09:00", "SUCCESS"), ("ben", TEAM_PHONE, "09:05", "SUCCESS")]
    assert sms_sent(paging) == {ANN_OLD: 1, ANN_NEW: 1, TEAM_PHONE: 2}
    assert texts(paging, incident_id, "NOTIFICATION_PLANNED")[-1] == (
        f"SMS due at 2026-01-05T09:05:00.000Z goes to {ANN_NEW}, not {ANN_OLD}: ann's contact was changed")


def test_no_page_still_due_goes_to_a_deleted_contact_or_a_deleted_user(on_either_store: Paging) -> None:
    paging = on_either_store
    ann, ann_phone, cat, incident_id = ann_and_the_team_phone_paged(paging, "cat")
    paging.daemon.advance("PT1M")
    assert paging.daemon.delete(f"/api/users/{ann}/contacts/{ann_phone}").status_code == 204
    assert paging.daemon.delete(f"/api/users/{cat}?force=true").status_code == 204
    paging.daemon.advance("PT10M")
    assert pages(paging, incident_id) == [
        ("", TEAM_PHONE, "09:00", "SUCCESS"), ("", TEAM_PHONE, "09:05", "CANCELLED"),
        ("ann", ANN_OLD, "09:00", "SUCCESS"), ("ann", ANN_OLD, "09:05", "CANCELLED")]
    assert sms_sent(paging) == {ANN_OLD: 1, TEAM_PHONE: 1}
    assert texts(paging, incident_id, "NOTIFICATION_CANCELLED") == [
        f"SMS to {ANN_OLD} not sent: ann's contact was deleted",
        f"SMS to {TEAM_PHONE} not sent: user cat was deleted"]


def test_a_contact_the_user_still_has_twice_keeps_its_pages(app_paging: Paging) -> None:
    """Two contacts of one number, as an older store may hold (the API refuses a second since): the
    pages to it are still wanted when one of them goes or changes (a page's row does not say which
    contact planned it)."""
    from ilertd.store import models as m

    ann, _ = sms_user(app_paging, "ann", ANN_OLD)
    second = m.Contact.create(user=ann, method="SMS", target=ANN_OLD).id
    app_paging.policy([(30, [ann])])
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT1M")
    changed = app_paging.daemon.put(f"/api/users/{ann}/contacts/{second}", {"target": ANN_NEW})
    assert changed.status_code == 200, changed.text
    assert app_paging.daemon.delete(f"/api/users/{ann}/contacts/{second}").status_code == 204
    app_paging.daemon.advance("PT4M")
    assert pages(app_paging, incident_id) == [("ann", ANN_OLD, "09:00", "SUCCESS"),
                                              ("ann", ANN_OLD, "09:05", "SUCCESS")]
    assert texts(app_paging, incident_id, "NOTIFICATION_CANCELLED") == []


def test_a_user_who_mutes_themselves_gets_no_page_due_before_the_mute_ends(app_paging: Paging) -> None:
    """ann is paged at 09:00 and planned for 09:05 and 09:25; at 09:01 she mutes herself until
    09:20: the 09:05 page is cancelled, the 09:25 one still goes out."""
    ann, _ = sms_user(app_paging, "ann", ANN_OLD, delays=(0, 5, 25))
    app_paging.policy([(30, [ann])])
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT1M")
    muted = app_paging.daemon.put(f"/api/users/{ann}", {"mutedUntil": "2026-01-05T09:20:00Z"})
    assert muted.status_code == 200, muted.text
    app_paging.daemon.advance("PT25M")
    assert pages(app_paging, incident_id) == [
        ("ann", ANN_OLD, "09:00", "SUCCESS"), ("ann", ANN_OLD, "09:05", "CANCELLED"),
        ("ann", ANN_OLD, "09:25", "SUCCESS")]
    assert sms_sent(app_paging) == {ANN_OLD: 2}
    assert texts(app_paging, incident_id, "NOTIFICATION_CANCELLED") == [
        f"SMS to {ANN_OLD} not sent: ann is muted until 2026-01-05T09:20:00.000Z"]
