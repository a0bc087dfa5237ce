"""Incident hosts are supervised: one that dies is replaced, its actors re-activate from the store,
and no timer or queued message is lost with it."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pykka
import pytest

from ilertd.actors.host import HostDirectory, IncidentHost
from ilertd.actors.incident import IncidentActor
from ilertd.actors.messages import EscalationsDue, HeldCount, HostBatch, OpenIncident
from tests import integration_helpers as helpers
from tests.inprocess import InProcessDaemon


def hosts(app: InProcessDaemon) -> HostDirectory:
    directory: HostDirectory = app.daemon.supervisor.proxy().hosts.get(timeout=10)
    return directory


def crash(ref: pykka.ActorRef[Any]) -> None:
    """A bug in a host: a message its handler cannot take, outside the per-message safety net."""
    ref.tell(EscalationsDue(box=None))  # type: ignore[arg-type]


def died(ref: pykka.ActorRef[Any], app: InProcessDaemon) -> bool:
    """Whether the host died; then, once the supervisor has replaced it, quiet."""
    stopped = ref.actor_stopped.wait(10)
    app.quiet()
    return stopped and not ref.is_alive()


def escalating_incident(app: InProcessDaemon, key: str = "db1") -> int:
    user = app.post("/api/users", {"username": "ann", "email": "ann@example.com"}).json()["id"]
    policy = app.post("/api/escalation-policies", {"name": "ops", "escalationRules": [
        {"escalationTimeout": 10, "users": [{"id": user}]},
        {"escalationTimeout": 10, "users": [{"id": user}]},
    ]}).json()["id"]
    assert app.put("/api/alert-sources/1", {"escalationPolicy": {"id": policy}}).status_code == 200
    reply = app.event(summary="down", alertKey=key)
    assert reply.status_code == 202, reply.text
    return int(reply.json()["incidentId"])


def test_a_dead_host_is_replaced_and_its_incidents_timer_still_fires(app: InProcessDaemon) -> None:
    incident_id = escalating_incident(app)
    directory = hosts(app)
    index = directory.index(incident_id)
    dead = directory.refs()[index]
    assert dead.ask(HeldCount(), timeout=10) >= 1
    crash(dead)
    assert died(dead, app)
    successor = directory.refs()[index]
    assert successor is not dead and successor.is_alive()
    # The deadline fires in the new host, exactly when due: not a second early.
    app.advance("PT9M59S")
    assert app.get(f"/api/incidents/{incident_id}").json()["escalationLevel"] == 0
    app.advance("PT1S")
    incident = app.get(f"/api/incidents/{incident_id}").json()
    assert incident["escalationLevel"] == 1
    assert incident["nextEscalationAt"] == "2026-01-05T09:20:00.000Z"
    # Its state came back from the store: the same incident takes the next event.
    again = app.event(summary="still down", alertKey="db1").json()
    assert again["incidentId"] == incident_id
    assert again["responseCode"] == "EVENT_ADDED_TO_INCIDENT"
    assert app.get(f"/api/incidents/{incident_id}").json()["eventCount"] == 2


class Hold:
    """A message that keeps a host busy until the test lets go."""


def test_messages_waiting_in_a_dead_hosts_mailbox_reach_its_successor(
    app: InProcessDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident_id = escalating_incident(app)
    directory = hosts(app)
    dead = directory.refs()[directory.index(incident_id)]
    entered, gate = threading.Event(), threading.Event()
    handle = IncidentHost._handle

    def held(self: IncidentHost, message: Any) -> Any:
        if isinstance(message, Hold):
            entered.set()
            gate.wait(30)
            return None
        return handle(self, message)

    monkeypatch.setattr(IncidentHost, "_handle", held)
    dead.tell(Hold())
    assert entered.wait(10)
    crash(dead)
    replies: list[Any] = []
    sender = threading.Thread(target=lambda: replies.append(app.put(f"/api/incidents/{incident_id}/accept")))
    sender.start()
    # The accept waits in the mailbox behind the crash.
    for _ in range(1000):
        if dead.actor_inbox.qsize() >= 2:
            break
        time.sleep(0.005)
    assert dead.actor_inbox.qsize() >= 2
    gate.set()
    sender.join(30)
    assert replies and replies[0].status_code == 200, replies
    assert replies[0].json()["status"] == "ACCEPTED"
    assert died(dead, app)
    assert directory.refs()[directory.index(incident_id)].is_alive()


def firing(*instances: str) -> bytes:
    """An Alertmanager webhook (version 4) of one firing alert per instance, fingerprinted by it."""
    return json.dumps({"version": "4", "status": "firing", "receiver": "ilertd", "alerts": [
        {"status": "firing", "labels": {"alertname": "Down", "instance": name}, "annotations": {},
         "startsAt": "2026-01-05T09:00:00Z", "fingerprint": f"fp-{name}"} for name in instances
    ]}).encode()


def test_a_payloads_events_reach_each_host_as_one_batch_and_a_failed_event_spares_the_rest(
    app: InProcessDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = helpers.new_source(app, "PROMETHEUS", "prometheus")
    directory = hosts(app)
    refs = directory.refs()
    batches: list[HostBatch] = []
    handle, open_incident = IncidentHost._handle, IncidentActor._open

    def seen(self: IncidentHost, message: Any) -> Any:
        if isinstance(message, HostBatch):
            batches.append(message)
        return handle(self, message)

    def failing(self: IncidentActor, message: OpenIncident) -> None:
        if message.alert_key == "fp-b":
            raise RuntimeError("a bug in opening this one incident")
        open_incident(self, message)

    monkeypatch.setattr(IncidentHost, "_handle", seen)
    monkeypatch.setattr(IncidentActor, "_open", failing)
    names = [chr(ord("a") + i) for i in range(2 * directory.count + 1)]
    reply = helpers.post_payload(app, "alertmanager", key, firing(*names), {})
    assert reply.status_code == 500, reply.text
    assert reply.json()["code"] == "INTERNAL_ERROR"
    # One message per host, each holding its share of the payload in the payload's order.
    assert len(batches) == directory.count
    assert sorted(m.alert_key for b in batches for m in b.messages) == [f"fp-{n}" for n in names]
    assert all([m.alert_key for m in b.messages] == sorted(m.alert_key for m in b.messages) for b in batches)
    # The failure cost no host its life and no other alert its incident.
    assert directory.refs() == refs and all(ref.is_alive() for ref in refs)
    opened = {i["alertKey"] for i in app.get("/api/incidents").json()}
    assert opened == {f"fp-{n}" for n in names if n != "b"}
    # A lone event that fails spares its host too.
    lone = app.event(summary="down", alertKey="fp-b")
    assert lone.status_code == 500 and lone.json()["code"] == "INTERNAL_ERROR"
    assert directory.refs() == refs and all(ref.is_alive() for ref in refs)
    # Sent again, the payload opens the one that failed and joins the others.
    monkeypatch.setattr(IncidentActor, "_open", open_incident)
    again = helpers.results(helpers.post_payload(app, "alertmanager", key, firing(*names), {}))
    assert {r["alertKey"]: r["responseCode"] for r in again} == {
        f"fp-{n}": "NEW_INCIDENT_CREATED" if n == "b" else "EVENT_ADDED_TO_INCIDENT" for n in names}
