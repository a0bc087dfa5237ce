"""kill -9 between a write's COMMIT and the incident moves it owes: the next start finishes them."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import httpx2 as httpx

from tests.conditions import wait_for as wait_until
from tests.daemon import DaemonProcess
from tests.test_durability import escalate_default_source

INCIDENTS = 200


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    """`tests.conditions.wait_for` at 2 ms and for 30 s: the kill must land between a COMMIT and
    the moves that follow it."""
    return wait_until(condition, what, timeout=30.0, poll=0.002)


def store_value(daemon: DaemonProcess, sql: str, *params: Any) -> Any:
    """The first column of the first row, as a new process reads the SQLite file now."""
    with contextlib.closing(sqlite3.connect(daemon.data_dir / "ilertd.db", timeout=30)) as db:
        return db.execute(sql, params).fetchone()[0]


def kill_once_committed(daemon: DaemonProcess, method: str, path: str, body: Any,
                        committed: Callable[[], bool]) -> None:
    """Send the request and kill -9 the daemon as soon as its write is committed, while it
    still moves what the write owes its incidents."""
    with httpx.Client(base_url=daemon.url, timeout=60) as client:
        request = threading.Thread(target=lambda: _send(client, method, path, body, daemon.auth()))
        request.start()
        wait_for(committed, f"the COMMIT of {method} {path}")
        daemon.kill()
        request.join()


def _send(client: httpx.Client, method: str, path: str, body: Any, headers: dict[str, str]) -> None:
    # The daemon dies under it: the caller looks at the store.
    with contextlib.suppress(httpx.HTTPError):
        client.request(method, path, json=body, headers=headers)


def test_kill_9_while_a_deleted_window_releases_its_holds_releases_the_rest_at_the_next_start(
        make_daemon: Callable[..., DaemonProcess]) -> None:
    daemon = make_daemon().start()
    escalate_default_source(daemon, [5])
    window = daemon.post("/api/maintenance-windows", {
        "summary": "db upgrade", "start": "2026-01-05T09:00:00Z", "end": "2026-01-05T13:00:00Z",
        "alertSources": [{"id": 1}]})
    assert window.status_code == 201, window.text
    for i in range(INCIDENTS):
        assert daemon.event(summary=f"h{i}", alertKey=f"h{i}").status_code == 202
    held = "SELECT COUNT(*) FROM incident WHERE escalation_level = -1"
    assert store_value(daemon, held) == INCIDENTS

    kill_once_committed(daemon, "DELETE", f"/api/maintenance-windows/{window.json()['id']}", None,
                        lambda: store_value(daemon, "SELECT COUNT(*) FROM maintenance_window") == 0)
    # The crash came while the holds were being released: some still wait for 13:00.
    assert store_value(daemon, held) > 0

    daemon.start()
    wait_for(lambda: store_value(daemon, held) == 0, "the holds released at the start")
    daemon.advance("PT0S")
    paged = "SELECT COUNT(DISTINCT incident_id) FROM notification WHERE kind = 'ALERT'"
    wait_for(lambda: store_value(daemon, paged) == INCIDENTS, "every incident paged")
    # Each paged once, at 09:00: released once, before the crash or at the start.
    assert store_value(daemon, "SELECT COUNT(*) FROM notification WHERE kind = 'ALERT'") == INCIDENTS
    incidents = daemon.get("/api/incidents", params={"max-results": 100}).json()
    assert {(i["held"], i["escalationLevel"], i["nextEscalationAt"]) for i in incidents} == {
        (False, 0, "2026-01-05T09:05:00.000Z")}
    daemon.stop()


def test_kill_9_while_a_policy_edit_moves_its_incidents_moves_the_rest_once_at_the_next_start(
        make_daemon: Callable[..., DaemonProcess]) -> None:
    daemon = make_daemon().start()
    people = {}
    for name in ("alice", "bob", "carol"):
        user = daemon.post("/api/users", {"username": name, "email": f"{name}@example.com"})
        assert user.status_code == 201, user.text
        people[name] = user.json()["id"]

    def levels(*names: str) -> dict[str, Any]:
        return {"name": "ops", "escalationRules": [
            {"escalationTimeout": 5, "users": [{"id": people[name]}]} for name in names]}

    policy = daemon.post("/api/escalation-policies", levels("alice", "bob", "carol")).json()["id"]
    assert daemon.put("/api/alert-sources/1", {"escalationPolicy": {"id": policy}}).status_code == 200
    for i in range(INCIDENTS):
        assert daemon.event(summary=f"h{i}", alertKey=f"h{i}").status_code == 202

    def paged(name: str) -> int:
        return store_value(daemon, "SELECT COUNT(DISTINCT incident_id) FROM notification"
                                   " WHERE kind = 'ALERT' AND user_id = ?", people[name])

    def edited() -> bool:
        rules = store_value(daemon, "SELECT rules FROM escalation_policy WHERE id = ?", policy)
        return rules.count("id") == 2

    # Level 0 (alice) removed: each incident goes on at once at bob's level, now level 0.
    kill_once_committed(daemon, "PUT", f"/api/escalation-policies/{policy}", levels("bob", "carol"), edited)
    # The crash came while the incidents were being moved: some had not paged bob yet.
    assert paged("bob") < INCIDENTS

    daemon.start()
    # The client retries the edit it had no answer for: the policy is so already.
    assert daemon.put(f"/api/escalation-policies/{policy}", levels("bob", "carol")).status_code == 200
    wait_for(lambda: paged("bob") == INCIDENTS, "bob paged for every incident")
    daemon.advance("PT5M")
    wait_for(lambda: paged("carol") == INCIDENTS, "carol paged for every incident")
    # Each moved once: alice, bob and carol each paged once for each incident, none twice.
    pages = "SELECT COUNT(*) FROM notification WHERE kind = 'ALERT' AND user_id = ?"
    assert [store_value(daemon, pages, people[name]) for name in ("alice", "bob", "carol")] == [
        INCIDENTS] * 3
    removed = "SELECT COUNT(*) FROM log_entry WHERE text LIKE '%level 0 was removed%'"
    assert store_value(daemon, removed) == INCIDENTS
    incidents = daemon.get("/api/incidents", params={"max-results": 100}).json()
    assert {(i["escalationLevel"], i["nextEscalationAt"]) for i in incidents} == {
        (1, "2026-01-05T09:10:00.000Z")}
    daemon.stop()
