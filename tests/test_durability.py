"""Crash safety: concurrent events for one key, kill -9 after a burst, deadlines after a restart."""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import signal
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx2 as httpx

from tests.daemon import DaemonProcess

# tgkill(2): a signal to one thread of a process (its number on x86-64 and on arm64).
SYS_TGKILL = {"x86_64": 234, "aarch64": 131}.get(platform.machine(), 234)


def test_200_concurrent_alerts_for_one_key_open_exactly_one_incident(daemon: DaemonProcess) -> None:
    body = {"integrationKey": daemon.integration_key, "eventType": "ALERT", "summary": "storm",
            "alertKey": "same-key"}
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    with httpx.Client(base_url=daemon.url, timeout=30, limits=limits) as client, \
            ThreadPoolExecutor(max_workers=100) as pool:
        replies = list(pool.map(lambda _: client.post("/api/events", json=body), range(200)))
    assert all(r.status_code == 202 for r in replies), {r.status_code for r in replies}
    codes = Counter(r.json()["responseCode"] for r in replies)
    assert codes == {"NEW_INCIDENT_CREATED": 1, "EVENT_ADDED_TO_INCIDENT": 199}
    assert len({r.json()["incidentId"] for r in replies}) == 1
    incidents = daemon.get("/api/incidents").json()
    assert len(incidents) == 1
    assert incidents[0]["eventCount"] == 200


def escalate_default_source(daemon: DaemonProcess, timeouts: list[int]) -> int:
    """A policy paging one user (by e-mail to the log: no channel is configured) on every level."""
    user = daemon.post("/api/users", {"username": "oncall", "email": "oncall@example.com"})
    assert user.status_code == 201, user.text
    policy = daemon.post("/api/escalation-policies", {
        "name": "ops",
        "escalationRules": [
            {"escalationTimeout": t, "users": [{"id": user.json()["id"]}]} for t in timeouts
        ],
    })
    assert policy.status_code == 201, policy.text
    source = daemon.put("/api/alert-sources/1", {"escalationPolicy": {"id": policy.json()["id"]}})
    assert source.status_code == 200, source.text
    return int(policy.json()["id"])


def test_kill_9_after_a_burst_loses_no_accepted_event_and_deadlines_fire_on_time(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon().start()
    escalate_default_source(daemon, [10, 20])
    acknowledged: Counter[int] = Counter()
    keys_by_incident: dict[int, str] = {}
    lock = threading.Lock()
    limits = httpx.Limits(max_connections=64)

    def send(i: int, client: httpx.Client) -> None:
        key = f"host-{i % 40}"
        reply = client.post("/api/events", json={
            "integrationKey": daemon.integration_key, "eventType": "ALERT",
            "summary": f"burst {i}", "alertKey": key,
        })
        if reply.status_code == 202:
            with lock:
                acknowledged[reply.json()["incidentId"]] += 1
                keys_by_incident[reply.json()["incidentId"]] = key

    with httpx.Client(base_url=daemon.url, timeout=30, limits=limits) as client, \
            ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(lambda i: send(i, client), range(600)))
        # A second wave is still in flight when the process dies: what was acknowledged
        # before the kill must all be there, whatever happens to the rest.
        in_flight = [pool.submit(send, 600 + i, client) for i in range(200)]
        daemon.kill()
        for future in in_flight:
            with contextlib.suppress(httpx.HTTPError):
                future.result()

    assert sum(acknowledged.values()) >= 600
    assert len(acknowledged) == 40
    daemon.start()
    incidents = {i["id"]: i for i in daemon.get("/api/incidents", params={"max-results": 100}).json()}
    assert set(incidents) == set(acknowledged)
    for incident_id, count in acknowledged.items():
        incident = incidents[incident_id]
        assert incident["eventCount"] >= count, (incident_id, incident["eventCount"], count)
        assert incident["alertKey"] == keys_by_incident[incident_id]
        assert incident["status"] == "PENDING" and incident["escalationLevel"] == 0
        assert incident["nextEscalationAt"] == "2026-01-05T09:10:00.000Z"
    assert sum(i["eventCount"] for i in incidents.values()) <= 800

    # Every re-armed deadline fires exactly when due: not a second before, then at once.
    daemon.advance("PT9M59S")
    assert all(i["escalationLevel"] == 0 for i in daemon.get("/api/incidents").json())
    daemon.advance("PT1S")
    after = daemon.get("/api/incidents", params={"max-results": 100}).json()
    assert len(after) == 40
    assert all(i["escalationLevel"] == 1 for i in after)
    assert all(i["nextEscalationAt"] == "2026-01-05T09:30:00.000Z" for i in after)
    assert daemon.log_types(after[0]["id"]).count("ESCALATED") == 1
    daemon.stop()


def test_overdue_escalation_fires_once_at_start_after_downtime(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon().start()
    escalate_default_source(daemon, [10, 10, 10])
    incident_id = daemon.event(summary="down", alertKey="a").json()["incidentId"]
    assert daemon.stop() == 0
    # The daemon was down for 45 minutes: three levels' worth of deadlines passed.
    (daemon.data_dir / "manual-clock").write_text("2026-01-05T09:45:00Z")
    daemon.start()
    incident = daemon.get(f"/api/incidents/{incident_id}").json()
    assert incident["escalationLevel"] == 1
    assert incident["nextEscalationAt"] == "2026-01-05T09:55:00.000Z"
    assert daemon.log_types(incident_id).count("ESCALATED") == 1
    daemon.stop()


def test_accept_halts_escalation_and_resolve_is_final(daemon: DaemonProcess) -> None:
    escalate_default_source(daemon, [5, 5])
    incident_id = daemon.event(summary="down", alertKey="x").json()["incidentId"]
    daemon.advance("PT2M")
    accepted = daemon.put(f"/api/incidents/{incident_id}/accept")
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "ACCEPTED"
    assert accepted.json()["nextEscalationAt"] is None
    assert accepted.json()["acceptedBy"] == {"id": 1, "username": "admin"}
    daemon.advance("PT1H")
    incident = daemon.get(f"/api/incidents/{incident_id}").json()
    assert incident["escalationLevel"] == 0 and incident["status"] == "ACCEPTED"
    again = daemon.put(f"/api/incidents/{incident_id}/accept")
    assert again.status_code == 200 and again.json() == incident
    assert daemon.put(f"/api/incidents/{incident_id}/resolve").json()["status"] == "RESOLVED"
    assert daemon.put(f"/api/incidents/{incident_id}/accept").status_code == 409


def test_graceful_stop_then_restart_keeps_everything(make_daemon: Callable[..., DaemonProcess]) -> None:
    daemon = make_daemon().start()
    opened = daemon.event(summary="down", alertKey="k").json()
    comment = daemon.post(f"/api/incidents/{opened['incidentId']}/comments", {"content": "on it"})
    assert comment.status_code == 201 and comment.json()["content"] == "on it"
    now = daemon.advance("PT5M")
    assert daemon.stop() == 0
    daemon.start()
    assert daemon.now() == now
    assert daemon.event(summary="again", alertKey="K").json()["incidentId"] == opened["incidentId"]
    assert "COMMENT" in daemon.log_types(opened["incidentId"])
    daemon.stop()


def test_sigterm_during_a_burst_commits_everything_it_acknowledged(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon().start()
    acknowledged: Counter[int] = Counter()
    lock = threading.Lock()

    def send(i: int, client: httpx.Client) -> None:
        try:
            reply = client.post("/api/events", json={
                "integrationKey": daemon.integration_key, "eventType": "ALERT",
                "summary": f"wave {i}", "alertKey": f"svc-{i % 10}",
            })
        except httpx.HTTPError:
            return
        if reply.status_code == 202:
            with lock:
                acknowledged[reply.json()["incidentId"]] += 1

    with httpx.Client(base_url=daemon.url, timeout=30) as client, \
            ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(send, i, client) for i in range(400)]
        futures[100].result()
        daemon.terminate()
        for future in futures:
            future.result()
    assert daemon.wait() == 0
    assert sum(acknowledged.values()) >= 101
    daemon.start()
    incidents = {i["id"]: i for i in daemon.get("/api/incidents").json()}
    for incident_id, count in acknowledged.items():
        assert incidents[incident_id]["eventCount"] >= count
    daemon.stop()


def test_a_sigterm_the_kernel_gives_to_another_thread_still_stops_the_daemon(
        make_daemon: Callable[..., DaemonProcess]) -> None:
    """A signal for a process goes to any of its threads; Python runs the handler in the main
    thread, and only once that thread runs again. The main thread waited for the stop without a
    timeout, so a SIGTERM taken by another thread (as on a loaded CI machine) was not acted on
    until systemd's SIGKILL."""
    daemon = make_daemon().start()
    assert daemon.process is not None
    pid = daemon.process.pid
    others = [int(tid) for tid in os.listdir(f"/proc/{pid}/task") if int(tid) != pid]
    assert others, "the daemon runs threads"
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.syscall(SYS_TGKILL, pid, others[0], signal.SIGTERM) == 0, ctypes.get_errno()
    assert daemon.process.wait(10) == 0
    assert "received SIGTERM" in daemon.log() and "ilertd stopping" in daemon.log()
