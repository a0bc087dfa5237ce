"""`retention.resolved_incident_days`: a resolved incident is deleted, with its events, log and pages,
once it was resolved longer ago than that (checked hourly on the daemon's clock); an incident still
PENDING or ACCEPTED is kept however old; 0 (the default) keeps every incident."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from ilertd.app import retention
from tests.conftest import paging_with
from tests.inprocess import InProcessDaemon
from tests.test_replies import accept_link, phone_of, sms_reply, sms_to

KEPT_A_DAY = {"ILERTD_RETENTION_RESOLVED_INCIDENT_DAYS": "1"}


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store of the test's daemon: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'kept' / 'ilertd.db'}"


def rows_of(url: str, incident_id: int) -> dict[str, int]:
    """How many rows of each table that hangs off an incident name this one."""
    tables = ("event", "log_entry", "notification")
    if url.startswith("sqlite"):
        with sqlite3.connect(url.split("///", 1)[1]) as connection:
            return {table: connection.execute(f"SELECT count(*) FROM {table} WHERE incident_id = ?",
                                              (incident_id,)).fetchone()[0] for table in tables}
    import psycopg2

    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            counts = {}
            for table in tables:
                cursor.execute(f"SELECT count(*) FROM {table} WHERE incident_id = %s", (incident_id,))
                counts[table] = cursor.fetchone()[0]
            return counts
    finally:
        connection.close()


def opened(app: InProcessDaemon, key: str) -> int:
    reply = app.event(alertKey=key, summary=f"{key} is down")
    assert reply.status_code == 202, reply.text
    return int(app.get("/api/incidents?max-results=1").json()[0]["id"])


def test_resolved_incidents_go_after_the_days_kept_and_open_ones_stay(
        make_app: Callable[..., InProcessDaemon], store_url: str) -> None:
    # A day kept: the manual clock fires every timer on its way (a sweep each 30 s), so weeks of
    # it would take minutes.
    app = make_app(env={**KEPT_A_DAY, "ILERTD_DATABASE_URL": store_url}).start()
    # The admin, the default source's policy, paged by e-mail: the incident has pages.
    contact = app.post("/api/users/1/contacts", {"method": "EMAIL", "target": "admin@example.com"})
    assert contact.status_code == 201, contact.text
    rule = app.post("/api/users/1/notification-preferences/alerts",
                    {"method": "EMAIL", "contact": {"id": contact.json()["id"]}, "type": "HIGH_PRIORITY"})
    assert rule.status_code == 201, rule.text
    policy = app.post("/api/escalation-policies", {"name": "ops", "escalationRules": [
        {"escalationTimeout": 30, "users": [{"id": 1}]}]})
    assert policy.status_code == 201, policy.text
    attached = app.put("/api/alert-sources/1", {"escalationPolicy": {"id": policy.json()["id"]}})
    assert attached.status_code == 200, attached.text
    old = opened(app, "disk")
    assert app.post(f"/api/incidents/{old}/comments", {"content": "looking at the disk"}).status_code == 201
    assert app.put(f"/api/incidents/{old}/resolve").status_code == 200
    pending = opened(app, "cpu")
    accepted = opened(app, "memory")
    assert app.put(f"/api/incidents/{accepted}/accept").status_code == 200
    assert all(rows_of(store_url, old)[table] > 0 for table in ("event", "log_entry", "notification"))

    app.advance("PT12H")
    recent = opened(app, "network")
    assert app.put(f"/api/incidents/{recent}/resolve").status_code == 200
    # Hour 23: the oldest was resolved 23 hours ago, within the day kept.
    app.advance("PT11H")
    assert app.get(f"/api/incidents/{old}").status_code == 200

    # Hour 25: resolved over a day ago, it is gone with everything of its own; the others stay.
    app.advance("PT2H")
    assert app.get(f"/api/incidents/{old}").status_code == 404
    assert rows_of(store_url, old) == {"event": 0, "log_entry": 0, "notification": 0}
    for kept, status in ((pending, "PENDING"), (accepted, "ACCEPTED"), (recent, "RESOLVED")):
        assert app.get(f"/api/incidents/{kept}").json()["status"] == status
    assert "retention: deleted 1 incident(s) resolved before" in app.log()

    # Its alert key opens a new incident, with an id never used before.
    again = opened(app, "disk")
    assert again > recent

    # A day on, incidents still open are kept however old; the newer resolved one goes.
    app.advance("P1D")
    assert {app.get(f"/api/incidents/{i}").status_code for i in (pending, accepted, again)} == {200}
    assert app.get(f"/api/incidents/{recent}").status_code == 404

    # Across a restart: the check runs at start, then hourly again.
    assert app.put(f"/api/incidents/{again}/resolve").status_code == 200
    app.stop()
    app.start()
    app.advance("P1DT1H")
    assert app.get(f"/api/incidents/{again}").status_code == 404


def test_by_default_every_incident_is_kept(app: InProcessDaemon) -> None:
    incident = opened(app, "disk")
    assert app.put(f"/api/incidents/{incident}/resolve").status_code == 200
    app.advance("P2D")
    assert app.get(f"/api/incidents/{incident}").json()["status"] == "RESOLVED"


def test_many_go_in_several_units_of_the_writer(
        make_app: Callable[..., InProcessDaemon], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retention, "BATCH", 2)
    app = make_app(env=KEPT_A_DAY).start()
    resolved = [opened(app, f"host-{i}") for i in range(5)]
    for incident in resolved:
        assert app.put(f"/api/incidents/{incident}/resolve").status_code == 200
    app.advance("P1DT1H")
    assert {app.get(f"/api/incidents/{i}").status_code for i in resolved} == {404}
    assert "retention: deleted 5 incident(s)" in app.log()


def test_a_deleted_incidents_sms_code_and_link_say_it_is_gone(
        make_app: Callable[..., InProcessDaemon], tmp_path: Path) -> None:
    """A page read after its incident was deleted: the reply code answers nothing (its row went
    with the incident), the link says the incident no longer exists, and nothing is written.
    (Links outlive the day kept here: by default a link expires after a day, and says so.)"""
    env = {**KEPT_A_DAY, "ILERTD_SECURITY_LINK_TTL": str(10 * 86400)}
    with paging_with(tmp_path, lambda config: make_app(config=config, env=env).start()) as paging:
        jo = paging.user("jo", [("SMS", 0, "HIGH_PRIORITY"), ("EMAIL", 0, "HIGH_PRIORITY")])
        paging.policy([(30, [jo])])
        incident_id = paging.alert("k1", summary="api latency")
        paging.daemon.advance("PT0S")
        phone = phone_of(paging, jo)
        (page,) = sms_to(paging, phone)
        assert "Reply 1a accept" in page
        link = accept_link(paging, "jo.pager@example.com").replace(paging.daemon.url, "")
        assert paging.daemon.put(f"/api/incidents/{incident_id}/resolve").status_code == 200
        paging.daemon.advance("P1DT1H")
        assert paging.daemon.get(f"/api/incidents/{incident_id}").status_code == 404

        assert sms_reply(paging, phone, "1a") == "ilertd: no incident has code 1 on this phone."
        assert sms_reply(paging, phone, f"ack {incident_id}") == (
            f"ilertd: incident #{incident_id} was not paged to this phone.")
        answer = paging.daemon.client.post(link)
        assert f"Incident #{incident_id} no longer exists." in answer.text, answer.text
        assert paging.daemon.get(f"/api/incidents/{incident_id}").status_code == 404
        assert "Traceback" not in paging.daemon.log()


def test_the_ids_of_the_newest_incidents_deleted_are_not_given_again_after_a_restart(
        make_app: Callable[..., InProcessDaemon], store_url: str) -> None:
    """The daemon numbers incidents and pages from the largest stored at its start: once the newest
    were past keeping (a quiet store), a restart gave their ids again, and an old link, reply code
    or bookmark of incident #1 named the new #1."""
    app = make_app(env={**KEPT_A_DAY, "ILERTD_DATABASE_URL": store_url}).start()
    contact = app.post("/api/users/1/contacts", {"method": "EMAIL", "target": "admin@example.com"})
    rule = app.post("/api/users/1/notification-preferences/alerts",
                    {"method": "EMAIL", "contact": {"id": contact.json()["id"]}, "type": "HIGH_PRIORITY"})
    assert rule.status_code == 201, rule.text
    policy = app.post("/api/escalation-policies", {"name": "ops", "escalationRules": [
        {"escalationTimeout": 30, "users": [{"id": 1}]}]})
    app.put("/api/alert-sources/1", {"escalationPolicy": {"id": policy.json()["id"]}})
    first = [opened(app, f"disk{i}") for i in range(3)]
    app.advance("PT0S")
    pages = [n["id"] for i in first for n in app.get(f"/api/incidents/{i}/notifications").json()]
    assert pages
    for incident_id in first:
        assert app.put(f"/api/incidents/{incident_id}/resolve").status_code == 200
    app.advance("P1DT2H")
    assert {app.get(f"/api/incidents/{i}").status_code for i in first} == {404}
    app.stop()
    app.start()
    again = opened(app, "disk0")
    app.advance("PT0S")
    assert again > max(first)
    assert min(n["id"] for n in app.get(f"/api/incidents/{again}/notifications").json()) > max(pages)
