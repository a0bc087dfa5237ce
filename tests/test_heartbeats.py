"""Heartbeat monitors: silence past the interval opens an incident, the next ping resolves it."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from ilertd.actors.clock import MANUAL_CLOCK_FILE
from ilertd.actors.heartbeat import INTEGRATION, HeartbeatAlerted, HeartbeatChanged
from ilertd.domain.events import Event
from ilertd.domain.timeutil import parse_instant
from ilertd.web.events import Ingestion
from tests.inprocess import InProcessDaemon
from tests.paging import Paging
from tests.store_faults import write_lock_held


def monitor(app: Any, interval_sec: int = 300, source_id: int = 1,
            name: str = "nightly backup") -> dict[str, Any]:
    created = app.post("/api/heartbeat-monitors", {"name": name, "intervalSec": interval_sec,
                                                   "alertSource": {"id": source_id}})
    assert created.status_code == 201, created.text
    return dict(created.json())


def incidents(app: Any) -> list[dict[str, Any]]:
    return list(app.get("/api/incidents").json())


def test_the_timer_starts_at_the_first_ping_and_silence_opens_one_incident_that_pages(
        app_paging: Paging) -> None:
    app = app_paging.daemon
    dave = app_paging.user("dave")
    app_paging.policy([(30, [dave])])
    # A name with a backslash and an apostrophe: shown as entered, not as Python's repr.
    created = monitor(app, name="Veeam job D:\\backups (Bob's)")
    assert (created["status"], created["lastPingAt"]) == ("UNKNOWN", None)
    # Never pinged: no timer runs, however long it stays silent.
    app.advance("PT2H")
    assert incidents(app) == []
    ping = app.client.post(f"/api/v1/heartbeats/{created['integrationKey']}")
    assert ping.status_code == 202, ping.text
    seen = app.get(f"/api/heartbeat-monitors/{created['id']}").json()["lastPingAt"]
    assert seen == "2026-01-05T11:00:00.000Z"
    app.advance("PT4M59S")
    assert incidents(app) == []
    app.advance("PT1S")
    (opened,) = incidents(app)
    assert opened["alertKey"] == f"heartbeat-{created['id']}"
    assert opened["summary"] == ("Heartbeat monitor \"Veeam job D:\\backups (Bob's)\" is overdue:"
                                 " last seen 2026-01-05T11:00:00.000Z")
    assert app.get(f"/api/heartbeat-monitors/{created['id']}").json()["status"] == "OVERDUE"
    (page,) = app_paging.mails_to("dave@example.com")
    assert "Heartbeat monitor \"Veeam job D:\\backups (Bob's)\" is overdue" in page["Subject"]
    # Still silent: no second incident, no second alert.
    app.advance("PT1H")
    assert len(incidents(app)) == 1
    assert app.get(f"/api/incidents/{opened['id']}").json()["eventCount"] == 1
    # The next ping, by GET this time, resolves it and starts the timer again.
    assert app.client.get(f"/api/v1/heartbeats/{created['integrationKey']}").status_code == 202
    app.quiet()
    assert app.get(f"/api/incidents/{opened['id']}").json()["status"] == "RESOLVED"
    assert app.get(f"/api/heartbeat-monitors/{created['id']}").json()["status"] == "OK"
    app.advance("PT5M")
    assert [i["status"] for i in incidents(app)] == ["PENDING", "RESOLVED"]


def test_pings_keep_it_quiet_and_head_answers_without_a_body(app: InProcessDaemon) -> None:
    created = monitor(app, interval_sec=60)
    url = f"/api/v1/heartbeats/{created['integrationKey']}"
    for _ in range(10):
        head = app.client.head(url)
        assert head.status_code == 202 and head.content == b""
        app.advance("PT50S")
    assert incidents(app) == []
    assert app.client.post("/api/v1/heartbeats/not-a-key").status_code == 404


def test_a_ping_with_a_trailing_slash_is_a_ping_not_a_redirect(app: InProcessDaemon) -> None:
    """`curl -fsS URL/` in a cron job exits 0 on a redirect it does not follow: the job pinged
    nothing and its monitor went OVERDUE while it ran."""
    created = monitor(app, interval_sec=60)
    url = f"/api/v1/heartbeats/{created['integrationKey']}/"
    for method in ("GET", "POST", "HEAD"):
        reply = app.client.request(method, url, follow_redirects=False)
        assert reply.status_code == 202, (method, reply.status_code, reply.headers)
        assert app.get(f"/api/heartbeat-monitors/{created['id']}").json()["status"] == "OK"
        app.advance("PT50S")
    assert incidents(app) == []
    assert app.client.get("/api/v1/heartbeats/not-a-key/", follow_redirects=False).status_code == 404


def test_the_timer_survives_a_restart_and_a_deadline_missed_while_down_fires_at_start(
        app: InProcessDaemon) -> None:
    created = monitor(app, interval_sec=600)
    assert app.client.post(f"/api/v1/heartbeats/{created['integrationKey']}").status_code == 202
    app.advance("PT5M")
    app.stop()
    app.start()
    app.advance("PT4M59S")
    assert incidents(app) == []
    app.advance("PT1S")
    assert len(incidents(app)) == 1
    # Overdue when the daemon stops: it is not opened twice at the next start.
    app.stop()
    app.start()
    app.advance("PT1H")
    assert len(incidents(app)) == 1
    # Pinged, then down past the deadline: the missed deadline fires once at start.
    assert app.client.post(f"/api/v1/heartbeats/{created['integrationKey']}").status_code == 202
    app.quiet()
    app.stop()
    # Down for an hour: the manual clock resumes where its file says.
    (app.data_dir / MANUAL_CLOCK_FILE).write_text("2026-01-05T11:10:00.000Z")
    app.start()
    app.advance("PT0S")
    assert [i["status"] for i in incidents(app)] == ["PENDING", "RESOLVED"]


def test_a_new_interval_moves_the_running_deadline(app: InProcessDaemon) -> None:
    created = monitor(app, interval_sec=600)
    assert app.client.post(f"/api/v1/heartbeats/{created['integrationKey']}").status_code == 202
    edited = app.put(f"/api/heartbeat-monitors/{created['id']}", {**created, "intervalSec": 120})
    assert edited.status_code == 200, edited.text
    app.advance("PT2M")
    assert len(incidents(app)) == 1


def test_a_monitor_whose_incident_is_open_is_not_deleted(app: InProcessDaemon) -> None:
    """Its next ping resolves its incident, and none reaches a deleted monitor: deleted, it left
    the incident open, saying "The next ping resolves this incident", for good."""
    created = monitor(app, interval_sec=120)
    assert app.client.post(f"/api/v1/heartbeats/{created['integrationKey']}").status_code == 202
    app.advance("PT2M")
    (opened,) = incidents(app)
    refused = app.delete(f"/api/heartbeat-monitors/{created['id']}")
    assert (refused.status_code, refused.json()["code"]) == (409, "IN_USE"), refused.text
    assert refused.json()["message"] == (f"the monitor's incident is open: {opened['id']}; resolve it first"
                                         " (its next ping would have)")
    assert app.get(f"/api/heartbeat-monitors/{created['id']}").json()["status"] == "OVERDUE"
    assert app.put(f"/api/incidents/{opened['id']}/resolve").status_code == 200
    assert app.delete(f"/api/heartbeat-monitors/{created['id']}").status_code == 204
    assert app.get(f"/api/heartbeat-monitors/{created['id']}").status_code == 404
    assert app.delete(f"/api/heartbeat-monitors/{created['id']}").status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"intervalSec": 60, "alertSource": {"id": 1}}, "name"),
    ({"name": "x", "intervalSec": 5, "alertSource": {"id": 1}}, "intervalSec"),
    ({"name": "x", "intervalSec": "60", "alertSource": {"id": 1}}, "intervalSec"),
    ({"name": "x", "intervalSec": 60}, "alertSource"),
    ({"name": "x", "intervalSec": 60, "alertSource": {"id": 42}}, "alertSource"),
])
def test_a_bad_monitor_is_a_400_naming_the_field_and_nothing_is_stored(
        app: InProcessDaemon, body: dict[str, Any], field: str) -> None:
    reply = app.post("/api/heartbeat-monitors", body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["field"] == field
    assert app.get("/api/heartbeat-monitors").json() == []


def test_the_integration_key_is_read_only(app: InProcessDaemon) -> None:
    created = monitor(app)
    changed = app.put(f"/api/heartbeat-monitors/{created['id']}", {**created, "integrationKey": "mine"})
    assert changed.status_code == 400 and changed.json()["field"] == "integrationKey"


# --- between a stored ALERT and the monitor's mark: what the heartbeat actor does when told the
# ALERT is stored (the message its writer sends), in the two cases no timing reaches on purpose.


def alerted_then(app: InProcessDaemon, created: dict[str, Any]) -> datetime:
    """The monitor pinged, then silent past its interval with its ALERT stored: as the heartbeat
    actor finds it when told so. The instant of the ping that ALERT was about."""
    assert app.client.post(f"/api/v1/heartbeats/{created['integrationKey']}").status_code == 202
    pinged = parse_instant(app.get(f"/api/heartbeat-monitors/{created['id']}").json()["lastPingAt"])
    # Through ingestion as the actor sends it, under the heartbeat integration: a ping resolves
    # only an incident its monitor's ALERT reached, not another way in's alert of the same key.
    assert app.daemon.services is not None
    alert = Event(event_type="ALERT", alert_key=f"heartbeat-{created['id']}", summary="overdue")
    (outcome,) = asyncio.run(Ingestion(app.daemon.services).ingest(
        app.integration_key, [alert], INTEGRATION, {"heartbeatMonitor": created["id"]}))
    assert outcome.error is None and outcome.incident_id is not None, outcome
    return pinged


def test_a_ping_between_the_alert_and_the_mark_resolves_the_incident(app: InProcessDaemon) -> None:
    created = monitor(app, interval_sec=60)
    pinged = alerted_then(app, created)
    app.advance("PT30S")
    assert app.client.post(f"/api/v1/heartbeats/{created['integrationKey']}").status_code == 202
    assert app.daemon.heartbeat_actor is not None
    app.daemon.heartbeat_actor.ask(HeartbeatAlerted(created["id"], pinged))
    app.quiet()
    (only,) = incidents(app)
    assert only["status"] == "RESOLVED"
    assert app.get(f"/api/heartbeat-monitors/{created['id']}").json()["status"] == "OK"


def test_a_mark_the_store_refused_is_tried_again_and_the_alert_joins_its_incident(
        impatient: None, make_app: Callable[..., InProcessDaemon]) -> None:
    app = make_app().start()
    created = monitor(app, interval_sec=60)
    pinged = alerted_then(app, created)
    app.advance("PT10S")
    assert app.daemon.heartbeat_actor is not None
    with write_lock_held(app.data_dir / "ilertd.db"):
        app.daemon.heartbeat_actor.ask(HeartbeatAlerted(created["id"], pinged))
    assert "could not be marked overdue" in app.log() and "tried again in 5 s" in app.log()
    assert app.get(f"/api/heartbeat-monitors/{created['id']}").json()["status"] == "OK"
    app.advance("PT50S")  # its deadline: the ALERT again, to the incident already open, then the mark
    assert app.get(f"/api/heartbeat-monitors/{created['id']}").json()["status"] == "OVERDUE"
    (only,) = incidents(app)
    assert (only["status"], only["eventCount"]) == ("PENDING", 2)


def test_a_resolve_the_store_refused_is_tried_again(
        impatient: None, make_app: Callable[..., InProcessDaemon]) -> None:
    """The ping was stored, then its RESOLVE refused: the incident of a job alive again stayed open,
    escalating, for good (the next ping found the monitor OK and resolved nothing)."""
    app = make_app().start()
    created = monitor(app, interval_sec=60)
    alerted_then(app, created)
    assert app.daemon.heartbeat_actor is not None
    with write_lock_held(app.data_dir / "ilertd.db"):
        app.daemon.heartbeat_actor.ask(HeartbeatChanged(created["id"], recovered=True))
        app.quiet()
    app.advance("PT4S")
    assert [i["status"] for i in incidents(app)] == ["PENDING"]
    app.advance("PT1S")
    assert [i["status"] for i in incidents(app)] == ["RESOLVED"]
    assert "RESOLVE refused" in app.log() and "its RESOLVE tried again in 5 s" in app.log()


def test_a_monitor_alive_at_start_resolves_an_incident_left_open(app: InProcessDaemon) -> None:
    """A RESOLVE lost with the daemon (refused, then stopped before it was tried again)."""
    alive, silent = monitor(app, interval_sec=60), monitor(app, interval_sec=60, name="silent")
    alerted_then(app, alive)
    alerted_then(app, silent)
    app.advance("PT30S")
    assert app.client.post(f"/api/v1/heartbeats/{alive['integrationKey']}").status_code == 202
    app.quiet()
    app.stop()
    # Down for 40 s: the silent one is past its interval at start, still OK (its ALERT was stored,
    # its mark not yet): its ALERT joins the open incident, which stays open.
    (app.data_dir / MANUAL_CLOCK_FILE).write_text("2026-01-05T09:01:10.000Z")
    app.start()
    app.quiet()
    shown = sorted((i["alertKey"], i["status"], i["eventCount"]) for i in incidents(app))
    assert shown == [(f"heartbeat-{alive['id']}", "RESOLVED", 2), (f"heartbeat-{silent['id']}", "PENDING", 2)]


def test_a_ping_resolves_the_incident_where_it_opened_after_the_source_changed(
        app: InProcessDaemon) -> None:
    other = app.post("/api/alert-sources", {"name": "batch jobs", "integrationType": "API"})
    assert other.status_code == 201, other.text
    created = monitor(app, interval_sec=60)
    assert app.client.post(f"/api/v1/heartbeats/{created['integrationKey']}").status_code == 202
    app.advance("PT1M")
    (opened,) = incidents(app)
    moved = app.put(f"/api/heartbeat-monitors/{created['id']}", {"alertSource": {"id": other.json()["id"]}})
    assert moved.status_code == 200, moved.text
    assert app.client.post(f"/api/v1/heartbeats/{created['integrationKey']}").status_code == 202
    app.quiet()
    assert app.get(f"/api/incidents/{opened['id']}").json()["status"] == "RESOLVED"
    # Silent again: the new incident opens on the monitor's source as it is now.
    app.advance("PT1M")
    assert [i["alertSource"]["id"] for i in incidents(app) if i["status"] == "PENDING"] == [
        other.json()["id"]]


def test_a_source_a_monitor_opens_its_incidents_on_is_not_deleted(app: InProcessDaemon) -> None:
    """Deleting such a source took the monitor with it, without a word: its job's pings were then
    404s, and its silence opened nothing."""
    other = app.post("/api/alert-sources", {"name": "backups", "integrationType": "HEARTBEAT"})
    assert other.status_code == 201, other.text
    source_id = other.json()["id"]
    created = monitor(app, source_id=source_id)
    refused = app.delete(f"/api/alert-sources/{source_id}")
    assert (refused.status_code, refused.json()["code"]) == (409, "IN_USE"), refused.text
    assert refused.json()["message"] == ("heartbeat monitors open their incidents on this source: "
                                         "\"nightly backup\"; give them another source first")
    assert app.client.post(f"/api/v1/heartbeats/{created['integrationKey']}").status_code == 202
    moved = app.put(f"/api/heartbeat-monitors/{created['id']}", {"alertSource": {"id": 1}})
    assert moved.status_code == 200, moved.text
    assert app.delete(f"/api/alert-sources/{source_id}").status_code == 204
    assert app.get(f"/api/heartbeat-monitors/{created['id']}").json()["alertSource"] == {"id": 1}
    app.advance("PT5M")
    (opened,) = incidents(app)
    assert opened["alertSource"]["id"] == 1
    assert app.delete("/api/alert-sources/999").status_code == 404


def stored_ping(app: InProcessDaemon, monitor_id: int) -> str:
    """The monitor's last ping as another process reads the store (what a restart after a kill
    -9 would find)."""
    with contextlib.closing(sqlite3.connect(app.data_dir / "ilertd.db")) as reader:
        (last_ping_at,) = reader.execute("SELECT last_ping_at FROM heartbeat_monitor WHERE id = ?",
                                         (monitor_id,)).fetchone()
    return str(last_ping_at)


def test_a_recovering_ping_is_answered_once_its_resolve_and_its_own_time_are_committed(
        app: InProcessDaemon) -> None:
    """The 202 came while the RESOLVE was still on its way to the store."""
    created = monitor(app, interval_sec=60)
    assert app.client.post(f"/api/v1/heartbeats/{created['integrationKey']}").status_code == 202
    app.advance("PT1M")
    (opened,) = incidents(app)
    before = stored_ping(app, created["id"])
    app.advance("PT10M")
    assert app.client.get(f"/api/v1/heartbeats/{created['integrationKey']}").status_code == 202
    # No waiting for quiet: the answer itself says it is done.
    assert app.get(f"/api/incidents/{opened['id']}").json()["status"] == "RESOLVED"
    assert stored_ping(app, created["id"]) > before


def test_a_recovering_ping_whose_resolve_the_store_refused_is_a_503_and_its_retry_resolves(
        impatient: None, make_app: Callable[..., InProcessDaemon]) -> None:
    """The ping was answered 202 though its RESOLVE was refused, and a ping sent again found the
    monitor OK and resolved nothing: the incident of a job alive again escalated on."""
    app = make_app().start()
    created = monitor(app, interval_sec=60)
    assert app.client.post(f"/api/v1/heartbeats/{created['integrationKey']}").status_code == 202
    app.advance("PT1M")
    (opened,) = incidents(app)
    ctx = app.daemon.services.app.heartbeats.ctx
    tell_actors = ctx.heartbeat_changed
    with contextlib.ExitStack() as lock:
        def lock_then_tell(monitor_id: int, recovered: bool) -> Any:
            # Another process takes the write lock between the ping's commit and its RESOLVE.
            lock.enter_context(write_lock_held(app.data_dir / "ilertd.db"))
            return tell_actors(monitor_id, recovered)

        ctx.heartbeat_changed = lock_then_tell
        refused = app.client.post(f"/api/v1/heartbeats/{created['integrationKey']}")
        ctx.heartbeat_changed = tell_actors
    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "STORE_UNAVAILABLE"
    assert app.get(f"/api/incidents/{opened['id']}").json()["status"] == "PENDING"
    # The ping itself is stored: no ALERT for the period it was pinged in.
    assert app.get(f"/api/heartbeat-monitors/{created['id']}").json()["status"] == "OK"
    # The monitor sends it again, before the actor's own retry (5 s later) is due.
    assert app.client.post(f"/api/v1/heartbeats/{created['integrationKey']}").status_code == 202
    assert app.get(f"/api/incidents/{opened['id']}").json()["status"] == "RESOLVED"


def test_a_ping_resolves_only_the_monitors_own_incident_not_a_tools_alert_of_the_same_key(
        app_paging: Paging) -> None:
    """A tool's alert keyed `heartbeat-<id>` on another source was resolved by every healthy ping
    (paging stopped, nobody accepted), and by an overdue monitor's recovery: a ping resolves only
    an incident its monitor's own ALERT opened."""
    app = app_paging.daemon
    dave = app_paging.user("dave")
    app_paging.policy([(30, [dave])])
    other = app.post("/api/alert-sources", {"name": "other tool", "integrationType": "API"})
    assert other.status_code == 201, other.text
    monitor = app.post("/api/heartbeat-monitors", {"name": "backup", "intervalSec": 300,
                                                   "alertSource": {"id": 1}}).json()
    ping = f"/api/v1/heartbeats/{monitor['integrationKey']}"
    assert app.client.post(ping).status_code == 202
    app.advance("PT1M")
    tools = app.event(key=other.json()["integrationKey"], summary="a real problem",
                      alertKey=f"heartbeat-{monitor['id']}")
    assert tools.status_code == 202, tools.text
    tools_incident = tools.json()["incidentId"]
    app.quiet()
    assert app.client.post(ping).status_code == 202
    app.quiet()
    assert app.get(f"/api/incidents/{tools_incident}").json()["status"] == "PENDING"
    # Overdue, then alive again: its own incident resolves, the tool's stays open.
    app.advance("PT6M")
    app.quiet()
    own = [i for i in app.get("/api/incidents?states=PENDING").json()
           if i["id"] != tools_incident and i["alertKey"] == f"heartbeat-{monitor['id']}"]
    assert len(own) == 1, own
    assert app.client.post(ping).status_code == 202
    app.quiet()
    assert app.get(f"/api/incidents/{own[0]['id']}").json()["status"] == "RESOLVED"
    assert app.get(f"/api/incidents/{tools_incident}").json()["status"] == "PENDING"
