"""Schedules in paging, end to end: levels page whoever is on call, and shift reminders arrive on time."""

from __future__ import annotations

import sqlite3
from typing import Any

from tests.paging import Paging

# The manual clock starts on Monday 2026-01-05 at 09:00Z (10:00 in Berlin).


def schedule(paging: Paging, users: list[int], rotation: str = "P1D",
             starts_on: str = "2026-01-05T10:00") -> int:
    created = paging.daemon.post("/api/schedules", {
        "name": "primary", "type": "RECURRING", "timezone": "Europe/Berlin",
        "scheduleLayers": [{"name": "days", "users": [{"id": u} for u in users], "rotation": rotation,
                            "startsOn": starts_on}],
    })
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def schedule_policy(paging: Paging, levels: list[dict[str, Any]]) -> int:
    created = paging.daemon.post("/api/escalation-policies", {"name": "ops", "escalationRules": levels})
    assert created.status_code == 201, created.text
    attached = paging.daemon.put("/api/alert-sources/1", {"escalationPolicy": {"id": created.json()["id"]}})
    assert attached.status_code == 200
    return int(created.json()["id"])


def test_a_level_targeting_a_schedule_pages_whoever_is_on_call_then(paging: Paging) -> None:
    ann, ben = paging.user("ann"), paging.user("ben")
    schedule_id = schedule(paging, [ann, ben])
    schedule_policy(paging, [{"escalationTimeout": 30, "schedules": [{"id": schedule_id}]}])
    first = paging.alert("db1")
    paging.daemon.advance("PT0S")
    assert len(paging.mails_to("ann@example.com")) == 1
    assert paging.mails_to("ben@example.com") == []
    assert [r["user"]["username"] for r in paging.notifications(first)] == ["ann"]
    paging.daemon.put(f"/api/incidents/{first}/resolve")
    # 08:59:59Z on Tuesday ann is still on call; at 09:00Z ben takes over.
    paging.daemon.advance("PT23H59M59S")
    second = paging.alert("db2")
    paging.daemon.advance("PT0S")
    assert len(paging.mails_to("ann@example.com")) == 2
    paging.daemon.put(f"/api/incidents/{second}/resolve")
    paging.daemon.advance("PT1S")
    third = paging.alert("db3")
    paging.daemon.advance("PT0S")
    assert [r["user"]["username"] for r in paging.notifications(third)] == ["ben"]
    assert len(paging.mails_to("ben@example.com")) == 1
    # The schedule's actor logged the hand-off when it happened.
    assert (f"schedule {schedule_id}: user {ben} on call until 2026-01-07T09:00:00+00:00 "
            f"(hand-off from user {ann})") in paging.daemon.log()


def test_an_incident_escalating_across_a_hand_off_pages_the_incoming_user(paging: Paging) -> None:
    ann, ben, cat = paging.user("ann"), paging.user("ben"), paging.user("cat")
    schedule_id = schedule(paging, [ann, ben], rotation="PT1H")
    schedule_policy(paging, [
        {"escalationTimeout": 30, "users": [{"id": cat}]},
        {"escalationTimeout": 30, "schedules": [{"id": schedule_id}]},
        {"escalationTimeout": 30, "schedules": [{"id": schedule_id}]},
    ])
    incident_id = paging.alert()
    paging.daemon.advance("PT30M")  # 09:30Z: level 1, ann's hour
    paging.daemon.advance("PT30M")  # 10:00Z: level 2, ben's hour
    rows = paging.notifications(incident_id)
    assert [(r["user"]["username"], r["dueAt"]) for r in rows] == [
        ("cat", "2026-01-05T09:00:00.000Z"),
        ("ann", "2026-01-05T09:30:00.000Z"),
        ("ben", "2026-01-05T10:00:00.000Z"),
    ]


def test_a_schedule_with_nobody_on_call_makes_its_level_escalate_at_once(paging: Paging) -> None:
    ann, cat = paging.user("ann"), paging.user("cat")
    # ann's rotation begins tomorrow: today the schedule is empty.
    schedule_id = schedule(paging, [ann], starts_on="2026-01-06T10:00")
    schedule_policy(paging, [
        {"escalationTimeout": 30, "schedules": [{"id": schedule_id}]},
        {"escalationTimeout": 30, "users": [{"id": cat}]},
    ])
    incident_id = paging.alert()
    paging.daemon.advance("PT0S")
    assert len(paging.mails_to("cat@example.com")) == 1
    assert paging.mails_to("ann@example.com") == []
    assert "NOBODY_ON_CALL" in paging.daemon.log_types(incident_id)
    assert paging.daemon.get(f"/api/incidents/{incident_id}").json()["escalationLevel"] == 1


def duty(paging: Paging, user_id: int, method: str, target: str, before_min: int) -> None:
    contact = paging.daemon.post(f"/api/users/{user_id}/contacts", {"method": method, "target": target})
    assert contact.status_code == 201, contact.text
    rule = paging.daemon.post(f"/api/users/{user_id}/notification-preferences/duties",
                              {"method": method, "contact": {"id": contact.json()["id"]},
                               "beforeMin": before_min})
    assert rule.status_code == 201, rule.text


def pushes(paging: Paging) -> list[dict[str, Any]]:
    """ntfy messages to the topic ben-duty (apprise posts them to the server's root)."""
    return [r.json() for r in paging.http.to("/") if not r.path.startswith("/sms/")
            and r.json().get("topic") == "ben-duty"]


def test_a_shift_start_reminder_arrives_before_min_ahead_on_a_real_channel(paging: Paging) -> None:
    ann, ben = paging.user("ann"), paging.user("ben")
    duty(paging, ben, "EMAIL", "ben.duty@example.com", 60)
    duty(paging, ben, "SMS", "+4915100099999", 15)
    duty(paging, ben, "PUSH", "ben-duty", 0)
    schedule(paging, [ann, ben])
    # ben's first shift begins on Tuesday at 09:00Z: e-mail at 08:00Z, SMS at 08:45Z.
    paging.daemon.advance("PT22H59M59S")
    assert paging.mails_to("ben.duty@example.com") == []
    paging.daemon.advance("PT1S")
    mails = paging.mails_to("ben.duty@example.com")
    assert len(mails) == 1
    assert "primary" in mails[0]["Subject"] and "Tue 2026-01-06 10:00 CET" in mails[0]["Subject"]
    assert paging.http.to("/sms/") == []
    paging.daemon.advance("PT44M59S")
    assert paging.http.to("/sms/") == []
    paging.daemon.advance("PT1S")
    sms = paging.http.to("/sms/")
    assert len(sms) == 1 and sms[0].path == "/sms/+4915100099999"
    assert "on call for primary" in sms[0].json()["message"]
    # beforeMin 0: at the hand-off itself, 09:00Z.
    paging.daemon.advance("PT14M59S")
    assert pushes(paging) == []
    paging.daemon.advance("PT1S")
    assert len(pushes(paging)) == 1 and "on call for primary" in pushes(paging)[0]["message"]
    # A restart plans the reminders again; what was sent is not sent twice, and the next
    # reminder (Thursday's shift) still comes.
    paging.daemon.stop()
    paging.daemon.start()
    paging.daemon.advance("PT0S")
    assert len(paging.mails_to("ben.duty@example.com")) == 1
    paging.daemon.advance("PT48H")
    assert len(paging.mails_to("ben.duty@example.com")) == 2
    assert len(paging.http.to("/sms/")) == 2
    assert len(pushes(paging)) == 2


def test_a_reminder_due_while_the_daemon_was_down_is_sent_once_at_start(paging: Paging) -> None:
    ann, ben = paging.user("ann"), paging.user("ben")
    duty(paging, ben, "EMAIL", "ben.duty@example.com", 60)
    schedule(paging, [ann, ben])
    paging.daemon.advance("PT22H30M")  # 07:30Z
    paging.daemon.stop()
    # Down from 07:30Z to 08:40Z: the reminder's moment (08:00Z) passed, ben's shift has not begun.
    (paging.daemon.data_dir / "manual-clock").write_text("2026-01-06T08:40:00Z")
    paging.daemon.start()
    assert paging.daemon.now() == "2026-01-06T08:40:00.000Z"
    assert len(paging.mails_to("ben.duty@example.com")) == 1
    paging.daemon.advance("PT1H")
    assert len(paging.mails_to("ben.duty@example.com")) == 1


def test_paging_follows_a_hand_off_moved_by_the_spring_change(paging: Paging) -> None:
    """America/Chicago, 2026-03-08: the 02:30 hand-off does not exist and happens at 03:00 CDT."""
    ann, ben = paging.user("ann"), paging.user("ben")
    # Two months ahead by a restart: moving the clock that far would run every 30-s sweep.
    paging.daemon.stop()
    (paging.daemon.data_dir / "manual-clock").write_text("2026-03-07T12:00:00Z")
    paging.daemon.start()
    created = paging.daemon.post("/api/schedules", {
        "name": "chicago", "type": "RECURRING", "timezone": "America/Chicago",
        "scheduleLayers": [{"name": "days", "users": [{"id": ann}, {"id": ben}], "rotation": "P1D",
                            "startsOn": "2026-03-01T02:30"}],
    })
    assert created.status_code == 201, created.text
    schedule_id = created.json()["id"]
    schedule_policy(paging, [{"escalationTimeout": 30, "schedules": [{"id": schedule_id}]}])
    # Hand-off 7 (to ben) would be 02:30 CST = 08:30Z; 02:30 does not exist, so 03:00 CDT = 08:00Z.
    paging.daemon.post("/api/_clock", {"set": "2026-03-08T07:59:59Z"})
    first = paging.alert("before")
    paging.daemon.advance("PT0S")
    assert [r["user"]["username"] for r in paging.notifications(first)] == ["ann"]
    paging.daemon.put(f"/api/incidents/{first}/resolve")
    paging.daemon.advance("PT1S")
    second = paging.alert("after")
    paging.daemon.advance("PT0S")
    assert [r["user"]["username"] for r in paging.notifications(second)] == ["ben"]
    shift = paging.daemon.get(f"/api/schedules/{schedule_id}/user-on-call").json()
    # ben's day is 23 real hours: to 02:30 CDT on the 9th, 07:30Z.
    assert (shift["start"], shift["end"]) == ("2026-03-08T08:00:00.000Z", "2026-03-09T07:30:00.000Z")
    handed = f"schedule {schedule_id}: user {ben} on call until 2026-03-09T07:30:00+00:00"
    assert handed in paging.daemon.log()


def test_a_schedule_that_cannot_be_read_counts_as_nobody_and_paging_goes_on(paging: Paging) -> None:
    ann, cat = paging.user("ann"), paging.user("cat")
    schedule_id = schedule(paging, [ann])
    schedule_policy(paging, [
        {"escalationTimeout": 30, "schedules": [{"id": schedule_id}]},
        {"escalationTimeout": 30, "users": [{"id": cat}]},
    ])
    paging.daemon.stop()
    # A definition no version of ilertd would write (say, damaged by hand).
    with sqlite3.connect(paging.daemon.data_dir / "ilertd.db") as db:
        db.execute("UPDATE schedule_version SET definition = ?", ('{"scheduleLayers": [{"rotation": 5}]}',))
    paging.daemon.start()
    assert paging.daemon.client.get("/healthz").status_code == 200
    incident_id = paging.alert()
    paging.daemon.advance("PT0S")
    assert len(paging.mails_to("cat@example.com")) == 1
    assert "NOBODY_ON_CALL" in paging.daemon.log_types(incident_id)
    assert f"schedule {schedule_id} cannot be read" in paging.daemon.log()


def test_a_shift_reminder_the_gateway_refused_is_retried_with_back_off(paging: Paging) -> None:
    ann, ben = paging.user("ann"), paging.user("ben")
    duty(paging, ben, "SMS", "+4915100099999", 15)
    schedule(paging, [ann, ben])
    paging.http.failing = True
    paging.daemon.advance("PT23H45M")  # 08:45Z: the gateway answers 503
    assert len(paging.http.to("/sms/")) == 1
    paging.http.failing = False
    paging.daemon.advance("PT29S")
    assert len(paging.http.to("/sms/")) == 1
    paging.daemon.advance("PT1S")  # the first retry, 30 s later
    assert len(paging.http.to("/sms/")) == 2
    paging.daemon.advance("PT1H")
    assert len(paging.http.to("/sms/")) == 2
    assert "shift reminder 1 to +4915100099999 failed (attempt 1)" in paging.daemon.log()
