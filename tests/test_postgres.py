"""The same daemon on PostgreSQL: events, dedup, paging and accept, when a server is provided.

`.ci/run` starts a throw-away PostgreSQL cluster and sets ILERTD_TEST_POSTGRES_URL; elsewhere
these tests need that variable (any empty database the user may create tables in).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

import pytest

from tests.daemon import DaemonProcess

POSTGRES_URL = os.environ.get("ILERTD_TEST_POSTGRES_URL", "")

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs ILERTD_TEST_POSTGRES_URL (see .ci/run)")


def test_a_daemon_on_postgresql_dedups_pages_and_refuses_a_second_serve(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    psycopg2 = pytest.importorskip("psycopg2")
    with psycopg2.connect(POSTGRES_URL) as connection, connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    daemon = make_daemon(env={"ILERTD_DATABASE_URL": POSTGRES_URL}).start()
    user = daemon.post("/api/users", {"username": "pg", "email": "pg@example.com"}).json()
    policy = daemon.post("/api/escalation-policies", {
        "name": "p", "escalationRules": [{"escalationTimeout": 5, "users": [{"id": user["id"]}]}],
    }).json()
    daemon.put("/api/alert-sources/1", {"escalationPolicy": {"id": policy["id"]}})
    first = daemon.event(summary="down", alertKey="Disk").json()
    again = daemon.event(summary="down", alertKey="disk ").json()
    assert first["responseCode"] == "NEW_INCIDENT_CREATED"
    assert again["incidentId"] == first["incidentId"]
    daemon.advance("PT0S")
    pages = daemon.get(f"/api/incidents/{first['incidentId']}/notifications").json()
    assert [(p["user"]["username"], p["status"]) for p in pages] == [("pg", "SUCCESS")]
    assert daemon.put(f"/api/incidents/{first['incidentId']}/accept").json()["status"] == "ACCEPTED"
    second = make_daemon("second", env={"ILERTD_DATABASE_URL": POSTGRES_URL})
    result = subprocess.run(second.command(), cwd=daemon.directory, env=second.environment(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "in use by another ilertd" in result.stderr
    assert daemon.stop() == 0
    daemon.start()
    assert daemon.event(summary="down", alertKey="DISK").json()["incidentId"] == first["incidentId"]
