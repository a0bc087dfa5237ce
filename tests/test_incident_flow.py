"""An incident's course in one process: pages due now go out without moving the clock, responders,
the log's ESCALATED and COMMENT entries."""

from __future__ import annotations

from typing import Any

from tests.inprocess import InProcessDaemon
from tests.paging import Paging


def statuses(paging: Paging, incident_id: int) -> dict[str, str]:
    return {r["user"]["username"]: r["status"] for r in paging.notifications(incident_id)}


def quiet(paging: Paging) -> None:
    """Wait for the work in flight, without touching the clock (which would fire due timers)."""
    daemon = paging.daemon
    assert isinstance(daemon, InProcessDaemon)
    daemon.quiet()


def test_a_level_0_page_with_no_delay_goes_out_without_moving_the_clock(app_paging: Paging) -> None:
    ann = app_paging.user("ann", [("SMS", 0, "HIGH_PRIORITY")])
    app_paging.policy([(10, [ann])])
    incident_id = app_paging.alert()
    quiet(app_paging)
    assert statuses(app_paging, incident_id) == {"ann": "SUCCESS"}
    assert len(app_paging.http.to("/sms/")) == 1


def test_a_page_after_a_manual_escalation_goes_out_without_moving_the_clock(app_paging: Paging) -> None:
    ann = app_paging.user("ann", [("EMAIL", 0, "HIGH_PRIORITY")])
    ben = app_paging.user("ben", [("EMAIL", 0, "HIGH_PRIORITY")])
    app_paging.policy([(10, [ann]), (10, [ben])])
    incident_id = app_paging.alert()
    escalated = app_paging.daemon.put(f"/api/incidents/{incident_id}/escalate")
    assert escalated.status_code == 200, escalated.text
    quiet(app_paging)
    assert statuses(app_paging, incident_id) == {"ann": "SUCCESS", "ben": "SUCCESS"}
    assert len(app_paging.mails_to("ben.pager@example.com")) == 1


def test_a_schedule_levels_page_goes_out_without_moving_the_clock(app_paging: Paging) -> None:
    ann = app_paging.user("ann")
    created = app_paging.daemon.post("/api/schedules", {
        "name": "primary", "type": "RECURRING", "timezone": "UTC",
        "scheduleLayers": [{"name": "all", "users": [{"id": ann}], "rotation": "P1D",
                            "startsOn": "2026-01-01T00:00"}],
    })
    assert created.status_code == 201, created.text
    policy = app_paging.daemon.post("/api/escalation-policies", {
        "name": "ops", "escalationRules": [{"escalationTimeout": 10,
                                           "schedules": [{"id": created.json()["id"]}]}]})
    assert policy.status_code == 201, policy.text
    app_paging.daemon.put("/api/alert-sources/1", {"escalationPolicy": {"id": policy.json()["id"]}})
    incident_id = app_paging.alert()
    quiet(app_paging)
    assert statuses(app_paging, incident_id) == {"ann": "SUCCESS"}
    assert len(app_paging.mails_to("ann@example.com")) == 1


def responders(paging: Paging, incident_id: int) -> list[dict[str, Any]]:
    return list(paging.daemon.get(f"/api/incidents/{incident_id}").json()["responders"])


def test_responders_are_everyone_paged_pending_until_one_accepts(app_paging: Paging) -> None:
    ann = app_paging.user("ann", [("EMAIL", 0, "HIGH_PRIORITY")])
    ben = app_paging.user("ben", [("EMAIL", 5, "HIGH_PRIORITY")])
    cat = app_paging.user("cat", [("EMAIL", 0, "HIGH_PRIORITY")])
    app_paging.policy([(10, [ann, ben]), (10, [cat])])
    incident_id = app_paging.alert()
    # ben's page waits 5 minutes: paged all the same, so a responder from the start.
    assert responders(app_paging, incident_id) == [
        {"user": {"id": ann, "username": "ann"}, "status": "PENDING", "acceptedAt": None},
        {"user": {"id": ben, "username": "ben"}, "status": "PENDING", "acceptedAt": None},
    ]
    app_paging.daemon.advance("PT10M")
    assert [r["user"]["username"] for r in responders(app_paging, incident_id)] == ["ann", "ben", "cat"]
    token = app_paging.daemon.post(f"/api/users/{ben}/tokens", {"name": "t"}).json()["token"]
    assert app_paging.daemon.put(f"/api/incidents/{incident_id}/accept", token=token).status_code == 200
    assert responders(app_paging, incident_id) == [
        {"user": {"id": ann, "username": "ann"}, "status": "PENDING", "acceptedAt": None},
        {"user": {"id": ben, "username": "ben"}, "status": "ACCEPTED",
         "acceptedAt": "2026-01-05T09:10:00.000Z"},
        {"user": {"id": cat, "username": "cat"}, "status": "PENDING", "acceptedAt": None},
    ]
    listed = app_paging.daemon.get("/api/incidents").json()
    assert listed[0]["responders"] == responders(app_paging, incident_id)


def test_an_acceptor_who_was_never_paged_is_listed_first(app: InProcessDaemon) -> None:
    incident_id = app.event(summary="down", alertKey="a").json()["incidentId"]
    assert app.get(f"/api/incidents/{incident_id}").json()["responders"] == []
    app.put(f"/api/incidents/{incident_id}/accept")
    assert app.get(f"/api/incidents/{incident_id}").json()["responders"] == [
        {"user": {"id": 1, "username": "admin"}, "status": "ACCEPTED",
         "acceptedAt": "2026-01-05T09:00:00.000Z"},
    ]


def test_escalated_is_logged_for_a_move_to_a_level_not_for_the_opening(app_paging: Paging) -> None:
    ann = app_paging.user("ann")
    ben = app_paging.user("ben")
    app_paging.policy([(10, [ann]), (10, [ben])])
    incident_id = app_paging.alert()
    assert "ESCALATED" not in app_paging.daemon.log_types(incident_id)
    app_paging.daemon.advance("PT10M")
    assert app_paging.daemon.log_types(incident_id).count("ESCALATED") == 1


def test_a_comment_event_adds_a_comment_log_entry(app: InProcessDaemon) -> None:
    incident_id = app.event(summary="down", alertKey="a").json()["incidentId"]
    reply = app.event(eventType="COMMENT", alertKey="a", summary="restarting the pod")
    assert reply.status_code == 202, reply.text
    assert reply.json()["responseCode"] == "COMMENT_ADDED"
    entries = app.get(f"/api/incidents/{incident_id}/log-entries").json()
    comments = [e for e in entries if e["logEntryType"] == "COMMENT"]
    assert [e["text"] for e in comments] == ["restarting the pod"]
    empty = app.event(eventType="COMMENT", alertKey="a")
    assert empty.status_code == 400
    assert empty.json()["field"] == "comments"
    # A blank comment says nothing: it was an empty COMMENT entry. Left out, it leaves a COMMENT
    # event nothing to say, and an ALERT carrying it is taken all the same.
    blank = app.event(eventType="COMMENT", alertKey="a", comments=[{"content": " \n"}])
    assert (blank.status_code, blank.json()["field"]) == (400, "comments")
    assert app.event(summary="down", alertKey="a", comments=[{"content": ""}]).status_code == 202
    entries = app.get(f"/api/incidents/{incident_id}/log-entries").json()
    assert [e["text"] for e in entries if e["logEntryType"] == "COMMENT"] == ["restarting the pod"]
