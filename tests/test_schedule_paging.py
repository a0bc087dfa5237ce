"""Schedules in paging, end to end (the daemon in process, restarted in place where a test restarts
it): levels page whoever is on call, and shift reminders arrive on time."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg2
import pytest

from ilertd.store.committer import WRITE_RETRY
from tests.inprocess import InProcessDaemon
from tests.paging import Paging
from tests.store_faults import write_lock_held
from tests.ui_helpers import login
from tests.ui_helpers import user as ui_user

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


def test_a_level_targeting_a_schedule_pages_whoever_is_on_call_then(app_paging: Paging) -> None:
    ann, ben = app_paging.user("ann"), app_paging.user("ben")
    schedule_id = schedule(app_paging, [ann, ben])
    schedule_policy(app_paging, [{"escalationTimeout": 30, "schedules": [{"id": schedule_id}]}])
    first = app_paging.alert("db1")
    app_paging.daemon.advance("PT0S")
    assert len(app_paging.mails_to("ann@example.com")) == 1
    assert app_paging.mails_to("ben@example.com") == []
    assert [r["user"]["username"] for r in app_paging.notifications(first)] == ["ann"]
    app_paging.daemon.put(f"/api/incidents/{first}/resolve")
    # 08:59:59Z on Tuesday ann is still on call; at 09:00Z ben takes over.
    app_paging.daemon.advance("PT23H59M59S")
    second = app_paging.alert("db2")
    app_paging.daemon.advance("PT0S")
    assert len(app_paging.mails_to("ann@example.com")) == 2
    app_paging.daemon.put(f"/api/incidents/{second}/resolve")
    app_paging.daemon.advance("PT1S")
    third = app_paging.alert("db3")
    app_paging.daemon.advance("PT0S")
    assert [r["user"]["username"] for r in app_paging.notifications(third)] == ["ben"]
    assert len(app_paging.mails_to("ben@example.com")) == 1
    # The schedule's actor logged the hand-off when it happened.
    assert (f"schedule {schedule_id}: user {ben} on call until 2026-01-07T09:00:00.000Z "
            f"(hand-off from user {ann})") in app_paging.daemon.log()


def test_an_incident_escalating_across_a_hand_off_pages_the_incoming_user(app_paging: Paging) -> None:
    ann, ben, cat = app_paging.user("ann"), app_paging.user("ben"), app_paging.user("cat")
    schedule_id = schedule(app_paging, [ann, ben], rotation="PT1H")
    schedule_policy(app_paging, [
        {"escalationTimeout": 30, "users": [{"id": cat}]},
        {"escalationTimeout": 30, "schedules": [{"id": schedule_id}]},
        {"escalationTimeout": 30, "schedules": [{"id": schedule_id}]},
    ])
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT30M")  # 09:30Z: level 1, ann's hour
    app_paging.daemon.advance("PT30M")  # 10:00Z: level 2, ben's hour
    rows = app_paging.notifications(incident_id)
    assert [(r["user"]["username"], r["dueAt"]) for r in rows] == [
        ("cat", "2026-01-05T09:00:00.000Z"),
        ("ann", "2026-01-05T09:30:00.000Z"),
        ("ben", "2026-01-05T10:00:00.000Z"),
    ]


def test_a_schedule_with_nobody_on_call_makes_its_level_escalate_at_once(app_paging: Paging) -> None:
    ann, cat = app_paging.user("ann"), app_paging.user("cat")
    # ann's rotation begins tomorrow: today the schedule is empty.
    schedule_id = schedule(app_paging, [ann], starts_on="2026-01-06T10:00")
    schedule_policy(app_paging, [
        {"escalationTimeout": 30, "schedules": [{"id": schedule_id}]},
        {"escalationTimeout": 30, "users": [{"id": cat}]},
    ])
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    assert len(app_paging.mails_to("cat@example.com")) == 1
    assert app_paging.mails_to("ann@example.com") == []
    assert "NOBODY_ON_CALL" in app_paging.daemon.log_types(incident_id)
    assert app_paging.daemon.get(f"/api/incidents/{incident_id}").json()["escalationLevel"] == 1


def test_an_incident_opened_while_nobody_is_on_call_pages_whoever_comes_on_call(app_paging: Paging) -> None:
    """Opened in a gap of the only schedule (its layer runs 12:00 to 18:00 Berlin time): logged,
    nobody paged; at 12:00 the incoming user is paged. It used to wait for ever, paging nobody."""
    ann = app_paging.user("ann")
    created = app_paging.daemon.post("/api/schedules", {
        "name": "afternoons", "type": "RECURRING", "timezone": "Europe/Berlin",
        "scheduleLayers": [{"users": [{"id": ann}], "rotation": "P1D", "startsOn": "2026-01-05T00:00",
                            "restrictions": [{"from": {"dayOfWeek": "MONDAY", "time": "12:00"},
                                              "to": {"dayOfWeek": "MONDAY", "time": "18:00"}}]}]})
    assert created.status_code == 201, created.text
    schedule_policy(app_paging, [{"escalationTimeout": 30, "schedules": [{"id": created.json()["id"]}]}])
    incident_id = app_paging.alert("db1")  # 10:00 in Berlin
    app_paging.daemon.advance("PT1H59M")
    assert app_paging.mails_to("ann@example.com") == []
    assert app_paging.daemon.get(f"/api/incidents/{incident_id}").json()["nextEscalationAt"] == (
        "2026-01-05T11:00:00.000Z")
    # The web UI says what it waits for, not a quiet time.
    ui_user(app_paging.daemon, "viewer")
    page = login(app_paging.daemon, "viewer").get(f"/ui/incidents/{incident_id}").text
    assert "nobody reachable yet" in page and "level 0 tried again at" in page
    assert "quiet time" not in page
    app_paging.daemon.advance("PT1M")  # 11:00Z, 12:00 in Berlin: ann comes on call
    (page,) = app_paging.notifications(incident_id)
    assert (page["user"]["username"], page["status"], page["dueAt"]) == (
        "ann", "SUCCESS", "2026-01-05T11:00:00.000Z")
    assert len(app_paging.mails_to("ann@example.com")) == 1
    texts = [e["text"] for e in app_paging.daemon.get(f"/api/incidents/{incident_id}/log-entries").json()]
    assert any(t.startswith("Nobody reachable in policy ops: nobody is paged;") for t in texts), texts
    assert ("Someone is reachable now: level 0 of policy ops reached: paging ann (on call in afternoons)"
            in texts)


def test_someone_put_on_call_by_an_override_is_paged_at_once_for_a_waiting_incident(
        app_paging: Paging) -> None:
    """The schedule is empty until tomorrow; at 09:07 an operator puts ben on call by an override:
    he is paged then, not at the next look (09:15), nor when the rotation begins."""
    ann, ben = app_paging.user("ann"), app_paging.user("ben")
    schedule_id = schedule(app_paging, [ann], starts_on="2026-01-06T10:00")
    schedule_policy(app_paging, [{"escalationTimeout": 30, "schedules": [{"id": schedule_id}]}])
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT7M")
    assert app_paging.daemon.get(f"/api/incidents/{incident_id}").json()["held"] is True
    override = app_paging.daemon.put(f"/api/schedules/{schedule_id}/overrides", {
        "user": {"id": ben}, "start": "2026-01-05T09:07:00Z", "end": "2026-01-05T18:00:00Z"})
    assert override.status_code == 201, override.text
    app_paging.daemon.advance("PT0S")
    assert [(n["user"]["username"], n["dueAt"]) for n in app_paging.notifications(incident_id)] == [
        ("ben", "2026-01-05T09:07:00.000Z")]
    assert len(app_paging.mails_to("ben@example.com")) == 1


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


def test_a_shift_start_reminder_arrives_before_min_ahead_on_a_real_channel(app_paging: Paging) -> None:
    ann, ben = app_paging.user("ann"), app_paging.user("ben")
    duty(app_paging, ben, "EMAIL", "ben.duty@example.com", 60)
    duty(app_paging, ben, "SMS", "+4915100099999", 15)
    duty(app_paging, ben, "PUSH", "ben-duty", 0)
    schedule(app_paging, [ann, ben])
    # ben's first shift begins on Tuesday at 09:00Z: e-mail at 08:00Z, SMS at 08:45Z.
    app_paging.daemon.advance("PT22H59M59S")
    assert app_paging.mails_to("ben.duty@example.com") == []
    app_paging.daemon.advance("PT1S")
    mails = app_paging.mails_to("ben.duty@example.com")
    assert len(mails) == 1
    assert "primary" in mails[0]["Subject"] and "Tue 2026-01-06 10:00 CET" in mails[0]["Subject"]
    assert app_paging.http.to("/sms/") == []
    app_paging.daemon.advance("PT44M59S")
    assert app_paging.http.to("/sms/") == []
    app_paging.daemon.advance("PT1S")
    sms = app_paging.http.to("/sms/")
    assert len(sms) == 1 and sms[0].path == "/sms/+4915100099999"
    assert "on call for primary" in sms[0].json()["message"]
    # beforeMin 0: at the hand-off itself, 09:00Z.
    app_paging.daemon.advance("PT14M59S")
    assert pushes(app_paging) == []
    app_paging.daemon.advance("PT1S")
    assert len(pushes(app_paging)) == 1 and "on call for primary" in pushes(app_paging)[0]["message"]
    # A restart plans the reminders again; what was sent is not sent twice, and the next
    # reminder (Thursday's shift) still comes.
    app_paging.daemon.stop()
    app_paging.daemon.start()
    app_paging.daemon.advance("PT0S")
    assert len(app_paging.mails_to("ben.duty@example.com")) == 1
    app_paging.daemon.advance("PT48H")
    assert len(app_paging.mails_to("ben.duty@example.com")) == 2
    assert len(app_paging.http.to("/sms/")) == 2
    assert len(pushes(app_paging)) == 2


def test_a_shift_reminder_is_not_texted_to_a_number_that_replied_stop(app_paging: Paging) -> None:
    """A reminder to such a number was planned and refused when it fell due, an ERROR row among
    ben's pages; paging skips the number, and so do reminders, until it texts START."""
    from tests.test_replies import sms_reply

    ann, ben = app_paging.user("ann"), app_paging.user("ben")
    duty(app_paging, ben, "SMS", "+4915100099999", 15)
    schedule(app_paging, [ann, ben])
    assert "no more SMS" in (sms_reply(app_paging, "+4915100099999", "STOP") or "")
    app_paging.daemon.advance("PT25H")  # past ben's first shift start, Tuesday 09:00Z
    assert app_paging.http.to("/sms/") == []
    assert "the number replied STOP" not in app_paging.daemon.log()
    assert "on again" in (sms_reply(app_paging, "+4915100099999", "START") or "")
    app_paging.daemon.advance("PT48H")  # Thursday's shift: reminded by SMS again
    sms = app_paging.http.to("/sms/")
    assert len(sms) == 1 and "on call for primary" in sms[0].json()["message"]
    assert "Thu 2026-01-08" in sms[0].json()["message"]


def test_a_reminder_due_while_the_daemon_was_down_is_sent_once_at_start(app_paging: Paging) -> None:
    ann, ben = app_paging.user("ann"), app_paging.user("ben")
    duty(app_paging, ben, "EMAIL", "ben.duty@example.com", 60)
    schedule(app_paging, [ann, ben])
    app_paging.daemon.advance("PT22H30M")  # 07:30Z
    app_paging.daemon.stop()
    # Down from 07:30Z to 08:40Z: the reminder's moment (08:00Z) passed, ben's shift has not begun.
    (app_paging.daemon.data_dir / "manual-clock").write_text("2026-01-06T08:40:00Z")
    app_paging.daemon.start()
    assert app_paging.daemon.now() == "2026-01-06T08:40:00.000Z"
    assert len(app_paging.mails_to("ben.duty@example.com")) == 1
    app_paging.daemon.advance("PT1H")
    assert len(app_paging.mails_to("ben.duty@example.com")) == 1


def test_paging_follows_a_hand_off_moved_by_the_spring_change(app_paging: Paging) -> None:
    """America/Chicago, 2026-03-08: the 02:30 hand-off does not exist and happens at 03:00 CDT."""
    ann, ben = app_paging.user("ann"), app_paging.user("ben")
    # Two months ahead by a restart: moving the clock that far would run every 30-s sweep.
    app_paging.daemon.stop()
    (app_paging.daemon.data_dir / "manual-clock").write_text("2026-03-07T12:00:00Z")
    app_paging.daemon.start()
    created = app_paging.daemon.post("/api/schedules", {
        "name": "chicago", "type": "RECURRING", "timezone": "America/Chicago",
        "scheduleLayers": [{"name": "days", "users": [{"id": ann}, {"id": ben}], "rotation": "P1D",
                            "startsOn": "2026-03-01T02:30"}],
    })
    assert created.status_code == 201, created.text
    schedule_id = created.json()["id"]
    schedule_policy(app_paging, [{"escalationTimeout": 30, "schedules": [{"id": schedule_id}]}])
    # Hand-off 7 (to ben) would be 02:30 CST = 08:30Z; 02:30 does not exist, so 03:00 CDT = 08:00Z.
    app_paging.daemon.post("/api/_clock", {"set": "2026-03-08T07:59:59Z"})
    first = app_paging.alert("before")
    app_paging.daemon.advance("PT0S")
    assert [r["user"]["username"] for r in app_paging.notifications(first)] == ["ann"]
    app_paging.daemon.put(f"/api/incidents/{first}/resolve")
    app_paging.daemon.advance("PT1S")
    second = app_paging.alert("after")
    app_paging.daemon.advance("PT0S")
    assert [r["user"]["username"] for r in app_paging.notifications(second)] == ["ben"]
    shift = app_paging.daemon.get(f"/api/schedules/{schedule_id}/user-on-call").json()
    # ben's day is 23 real hours: to 02:30 CDT on the 9th, 07:30Z.
    assert (shift["start"], shift["end"]) == ("2026-03-08T08:00:00.000Z", "2026-03-09T07:30:00.000Z")
    handed = f"schedule {schedule_id}: user {ben} on call until 2026-03-09T07:30:00.000Z"
    assert handed in app_paging.daemon.log()


def test_a_schedule_that_cannot_be_read_counts_as_nobody_and_paging_goes_on(app_paging: Paging) -> None:
    ann, cat = app_paging.user("ann"), app_paging.user("cat")
    schedule_id = schedule(app_paging, [ann])
    schedule_policy(app_paging, [
        {"escalationTimeout": 30, "schedules": [{"id": schedule_id}]},
        {"escalationTimeout": 30, "users": [{"id": cat}]},
    ])
    app_paging.daemon.stop()
    # A definition no version of ilertd would write (say, damaged by hand).
    with sqlite3.connect(app_paging.daemon.data_dir / "ilertd.db") as db:
        db.execute("UPDATE schedule_version SET definition = ?", ('{"scheduleLayers": [{"rotation": 5}]}',))
    app_paging.daemon.start()
    assert app_paging.daemon.client.get("/healthz").status_code == 200
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    assert len(app_paging.mails_to("cat@example.com")) == 1
    assert "NOBODY_ON_CALL" in app_paging.daemon.log_types(incident_id)
    assert f"schedule {schedule_id} cannot be read" in app_paging.daemon.log()


def test_a_shift_reminder_the_gateway_refused_is_retried_with_back_off(app_paging: Paging) -> None:
    ann, ben = app_paging.user("ann"), app_paging.user("ben")
    duty(app_paging, ben, "SMS", "+4915100099999", 15)
    schedule(app_paging, [ann, ben])
    app_paging.http.failing = True
    app_paging.daemon.advance("PT23H45M")  # 08:45Z: the gateway answers 503
    assert len(app_paging.http.to("/sms/")) == 1
    app_paging.http.failing = False
    app_paging.daemon.advance("PT29S")
    assert len(app_paging.http.to("/sms/")) == 1
    app_paging.daemon.advance("PT1S")  # the first retry, 30 s later
    assert len(app_paging.http.to("/sms/")) == 2
    app_paging.daemon.advance("PT1H")
    assert len(app_paging.http.to("/sms/")) == 2
    assert "shift reminder 1 to +4915100099999 failed (attempt 1)" in app_paging.daemon.log()


def test_a_shift_reminder_the_store_refused_arrives_once_it_takes_writes(
        impatient: None, app_paging: Paging) -> None:
    """The reminder's timer had fired and its row was refused: the schedule actor logged the
    failure and the reminder was never sent."""
    ann, ben = app_paging.user("ann"), app_paging.user("ben")
    duty(app_paging, ben, "EMAIL", "ben.duty@example.com", 60)
    schedule(app_paging, [ann, ben])
    app = app_paging.daemon
    assert isinstance(app, InProcessDaemon)
    app.advance("PT22H59M59S")
    with write_lock_held(app.data_dir / "ilertd.db"):
        app.advance("PT1S")
    assert app_paging.mails_to("ben.duty@example.com") == []
    app.advance(f"PT{int(WRITE_RETRY.total_seconds())}S")
    (mail,) = app_paging.mails_to("ben.duty@example.com")
    assert "primary" in mail["Subject"]
    assert "tried again in 5 s" in app.log()
    # Its next one still comes, once.
    app.advance("PT48H")
    assert len(app_paging.mails_to("ben.duty@example.com")) == 2


def test_a_schedule_whose_look_ahead_failed_looks_again(app_paging: Paging, monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """A tick whose read of the duty rules raised (a database gone a moment) planned nothing for
    its hour: the next tick was armed already, but plans on from its own instant, so a reminder
    due within the failed hour was never sent. (One whose read of the schedule raised, before
    the next tick is armed, left the schedule with no timer at all.)"""
    from ilertd.actors import schedule as schedule_actor

    ann, ben = app_paging.user("ann"), app_paging.user("ben")
    duty(app_paging, ben, "EMAIL", "ben.duty@example.com", 30)
    schedule(app_paging, [ann, ben])
    app = app_paging.daemon
    app.advance("PT22H30M")
    reads = schedule_actor.duty_rules
    failures: list[Any] = []

    def fails_once(user_ids: Any) -> Any:
        if not failures:
            failures.append(user_ids)
            raise psycopg2.OperationalError("server closed the connection unexpectedly")
        return reads(user_ids)

    monkeypatch.setattr(schedule_actor, "duty_rules", fails_once)
    # The tick at 08:00 fails; the reminder due at 08:30 is planned by its retry 5 s later.
    app.advance("PT59M59S")
    assert failures and app_paging.mails_to("ben.duty@example.com") == []
    app.advance("PT1S")
    (mail,) = app_paging.mails_to("ben.duty@example.com")
    assert "primary" in mail["Subject"]


def test_a_schedule_look_that_fails_for_another_reason_is_not_tried_over_and_over(
        app_paging: Paging, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the store's failures pass; a fault of the code would fail every 5 s for ever."""
    from ilertd.actors import schedule as schedule_actor

    ann, ben = app_paging.user("ann"), app_paging.user("ben")
    duty(app_paging, ben, "EMAIL", "ben.duty@example.com", 30)
    schedule(app_paging, [ann, ben])
    app_paging.daemon.advance("PT0S")  # the schedule's first look is over before the fault comes
    calls: list[Any] = []

    def faulty(user_ids: Any) -> Any:
        calls.append(user_ids)
        raise ValueError("a fault of the code")

    monkeypatch.setattr(schedule_actor, "duty_rules", faulty)
    app_paging.daemon.advance("PT1H")
    assert len(calls) == 1 and "tried again" not in app_paging.daemon.log()
    assert "ScheduleHost failed on ScheduleTick" in app_paging.daemon.log()


def test_shift_reminders_come_for_a_schedule_stamped_by_a_clock_ahead_of_the_daemons(
        app_paging: Paging) -> None:
    """A schedule created by `ilertd provision` beside a daemon on the manual clock (the command
    stamps the real clock), or on a node whose clock runs ahead: it pages its on-call user at
    once, and its reminders were all dropped as "before the schedule began"."""
    ann, ben = app_paging.user("ann"), app_paging.user("ben")
    duty(app_paging, ben, "EMAIL", "ben.duty@example.com", 60)
    schedule_id = schedule(app_paging, [ann, ben])
    app_paging.daemon.stop()
    with sqlite3.connect(app_paging.daemon.data_dir / "ilertd.db") as db:
        db.execute("UPDATE schedule SET created_at = ? WHERE id = ?",
                   ("2026-02-01T00:00:00.000Z", schedule_id))
    app_paging.daemon.start()
    # ben's first shift begins on Tuesday at 09:00Z: his e-mail at 08:00Z.
    app_paging.daemon.advance("PT23H")
    mails = app_paging.mails_to("ben.duty@example.com")
    assert len(mails) == 1 and "primary" in mails[0]["Subject"]
