"""Incident hosts are supervised: one that dies is replaced, its actors re-activate from the store,
and no timer or queued message is lost with it."""

from __future__ import annotations

import threading
import time
from typing import Any

import pykka
import pytest

from ilertd.actors.host import HostDirectory, IncidentHost
from ilertd.actors.messages import EscalationsDue, HeldCount
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
