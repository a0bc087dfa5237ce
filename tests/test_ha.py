"""Two `ilertd serve` processes on one PostgreSQL database: one leads, the other follows (serves
reads, refuses events NOT_LEADER) and takes over when the leader is killed, firing what came due.

`.ci/run` starts a throw-away PostgreSQL cluster and sets ILERTD_TEST_POSTGRES_URL; each test here
creates a database of its own on that server and drops it after.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.daemon import DaemonProcess
from tests.loopback import SmtpServer

POSTGRES_URL = os.environ.get("ILERTD_TEST_POSTGRES_URL", "")
TAKEOVER_SECONDS = 10.0

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs ILERTD_TEST_POSTGRES_URL (see .ci/run)")


@pytest.fixture
def database_url() -> Iterator[str]:
    """A fresh database on the test server, dropped after the test."""
    psycopg2 = pytest.importorskip("psycopg2")
    name = f"ilertd_ha_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(POSTGRES_URL)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield urlunsplit(urlsplit(POSTGRES_URL)._replace(path=f"/{name}"))
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def node_config(directory: Path, database_url: str, smtp: SmtpServer) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "ilertd.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n[channels.email]\nurl = "{smtp.url()}"\n')
    return config


def role(node: DaemonProcess) -> str:
    answer = node.client.get("/healthz")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["role"])


def wait_for_role(node: DaemonProcess, wanted: str, seconds: float) -> float:
    """How long `node` took to answer `wanted` in /healthz; fails after `seconds`."""
    started = time.monotonic()
    while role(node) != wanted:
        assert time.monotonic() - started < seconds, f"not {wanted} after {seconds} s:\n{node.log()}"
        time.sleep(0.1)
    return time.monotonic() - started


def status(node: DaemonProcess) -> subprocess.CompletedProcess[str]:
    assert node.config is not None
    return subprocess.run([sys.executable, "-m", "ilertd", "status", "--config", str(node.config)],
                          cwd=node.directory, env=node.environment(), capture_output=True, text=True,
                          timeout=60)


def node_name(node: DaemonProcess) -> str:
    return f"{os.uname().nodename}:{node.url.rsplit(':', 1)[1]}"


def test_a_follower_takes_over_from_a_killed_leader_and_fires_the_overdue_escalation_once(
    make_daemon: Callable[..., DaemonProcess], database_url: str, smtp: SmtpServer, tmp_path: Path,
) -> None:
    first = make_daemon("a", config=node_config(tmp_path / "a", database_url, smtp)).start()
    second = make_daemon("b", config=node_config(tmp_path / "b", database_url, smtp))
    # The database was bootstrapped by the first node: the second reads the same credentials.
    second.data_dir.mkdir(parents=True)
    shutil.copy(first.data_dir / "first-run.txt", second.data_dir / "first-run.txt")
    second.start()
    wait_for_role(first, "leader", TAKEOVER_SECONDS)
    assert role(second) == "follower"
    assert "ilertd_leader 0.0" in second.client.get("/metrics").text
    assert "ilertd_leader 1.0" in first.client.get("/metrics").text
    listed = status(second)
    assert listed.returncode == 0, listed.stderr
    assert f"leader: {node_name(first)}" in listed.stdout
    assert node_name(second) in listed.stdout and "follower" in listed.stdout

    ann = first.post("/api/users", {"username": "ann", "email": "ann@example.com"}).json()["id"]
    ben = first.post("/api/users", {"username": "ben", "email": "ben@example.com"}).json()["id"]
    policy = first.post("/api/escalation-policies", {
        "name": "two levels", "escalationRules": [{"escalationTimeout": 5, "users": [{"id": ann}]},
                                                  {"escalationTimeout": 5, "users": [{"id": ben}]}],
    }).json()["id"]
    first.put("/api/alert-sources/1", {"escalationPolicy": {"id": policy}})

    refused = second.event(summary="disk full", alertKey="disk")
    assert refused.status_code == 503 and refused.json()["code"] == "NOT_LEADER"
    assert refused.headers["Retry-After"] == "2"
    opened = first.event(summary="disk full", alertKey="disk").json()
    incident = opened["incidentId"]
    first.advance("PT0S")
    pages = first.get(f"/api/incidents/{incident}/notifications").json()
    assert [(p["user"]["username"], p["status"]) for p in pages] == [("ann", "SUCCESS")]
    # The follower reads what the leader wrote.
    listing = second.get("/api/incidents")
    assert listing.status_code == 200 and [i["id"] for i in listing.json()] == [incident]
    refused_accept = second.put(f"/api/incidents/{incident}/accept")
    assert refused_accept.status_code == 503 and refused_accept.json()["code"] == "NOT_LEADER"
    # A write on a follower would leave the leader's caches stale: refused too, nothing stored.
    refused_user = second.post("/api/users", {"username": "cy", "email": "cy@example.com"})
    assert refused_user.status_code == 503 and refused_user.json()["code"] == "NOT_LEADER"
    assert [u["username"] for u in second.get("/api/users").json()] == ["admin", "ann", "ben"]

    # Each process keeps its own manual clock: the follower's is past level one's deadline (09:05),
    # as if the leader died and nobody led for ten minutes.
    second.advance("PT10M")
    first.kill()
    took = wait_for_role(second, "leader", TAKEOVER_SECONDS)
    assert "supervisor: 1 open incidents; 1 deadlines and 0 pages re-armed" in second.log()
    second.advance("PT0S")
    pages = second.get(f"/api/incidents/{incident}/notifications").json()
    assert sorted((p["user"]["username"], p["status"]) for p in pages) == [
        ("ann", "SUCCESS"), ("ben", "SUCCESS")], second.log()
    assert [m["To"] for m in smtp.messages] == ["ann@example.com", "ben@example.com"]
    assert took < TAKEOVER_SECONDS
    assert "ilertd_leader 1.0" in second.client.get("/metrics").text
    assert second.event(summary="disk full", alertKey="disk").json()["incidentId"] == incident

    # The killed node comes back as a follower and pages nobody again.
    first.start()
    assert role(first) == "follower"
    listed = status(first)
    assert f"leader: {node_name(second)}" in listed.stdout, listed.stdout
    assert node_name(first) in listed.stdout
    second.advance("PT0S")
    time.sleep(1.5)
    assert len(smtp.messages) == 2
    assert second.stop() == 0
    # A clean stop frees the lock at once: the restarted node leads.
    wait_for_role(first, "leader", TAKEOVER_SECONDS)
    first.stop()
