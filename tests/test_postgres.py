"""The same daemon on PostgreSQL (in this process; the second serve, a follower, is a real one): events,
dedup, paging and accept, when a server is provided.

`.ci/run` starts a throw-away PostgreSQL cluster and sets ILERTD_TEST_POSTGRES_URL; elsewhere
these tests need that variable (a server where its user may create databases): each test creates
a database of its own there and drops it after.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from ilertd.app import schedule_fields
from ilertd.app.auth import OPERATOR
from ilertd.app.context import Context
from ilertd.app.people import People
from ilertd.errors import ApiError, StoreUnavailable
from ilertd.store import models as m
from ilertd.store.db import migrate, open_database, write_transaction
from tests.daemon import DaemonProcess
from tests.inprocess import InProcessDaemon

POSTGRES_URL = os.environ.get("ILERTD_TEST_POSTGRES_URL", "")

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs ILERTD_TEST_POSTGRES_URL (see .ci/run)")


@pytest.fixture
def daemon(postgres_url: str, make_app: Callable[..., InProcessDaemon]) -> InProcessDaemon:
    """A daemon (in this process) on a PostgreSQL database of its own."""
    return make_app(env={"ILERTD_DATABASE_URL": postgres_url}).start()


def test_a_daemon_on_postgresql_dedups_pages_and_a_second_serve_follows(
    daemon: InProcessDaemon, make_daemon: Callable[..., DaemonProcess], postgres_url: str,
) -> None:
    user = daemon.post("/api/users", {"username": "pg", "email": "pg@example.com"}).json()
    backup = daemon.post("/api/users", {"username": "pg2", "email": "pg2@example.com"}).json()
    policy = daemon.post("/api/escalation-policies", {
        "name": "p", "escalationRules": [{"escalationTimeout": 5, "users": [{"id": user["id"]}]},
                                         {"escalationTimeout": 5, "users": [{"id": backup["id"]}]}],
    }).json()
    daemon.put("/api/alert-sources/1", {"escalationPolicy": {"id": policy["id"]}})
    first = daemon.event(summary="down", alertKey="Disk").json()
    again = daemon.event(summary="down", alertKey="disk ").json()
    assert first["responseCode"] == "NEW_INCIDENT_CREATED"
    assert again["incidentId"] == first["incidentId"]
    daemon.advance("PT0S")
    pages = daemon.get(f"/api/incidents/{first['incidentId']}/notifications").json()
    assert [(p["user"]["username"], p["status"]) for p in pages] == [("pg", "SUCCESS")]
    # The timed escalation goes the batched way: incidents, policies and people read by id lists.
    daemon.advance("PT5M")
    pages = daemon.get(f"/api/incidents/{first['incidentId']}/notifications").json()
    assert sorted((p["user"]["username"], p["status"]) for p in pages) == [
        ("pg", "SUCCESS"), ("pg2", "SUCCESS"),
    ]
    assert daemon.put(f"/api/incidents/{first['incidentId']}/accept").json()["status"] == "ACCEPTED"
    # A second `ilertd serve` (a real process) on the same database follows: it serves reads and
    # hands events to the leader, whose answer it returns (tests/test_ha.py has the takeover).
    second = make_daemon("second", env={"ILERTD_DATABASE_URL": postgres_url})
    second.data_dir.mkdir(parents=True)
    shutil.copy(daemon.data_dir / "first-run.txt", second.data_dir / "first-run.txt")
    second.start()
    assert second.client.get("/healthz").json() == {"status": "ok", "role": "follower"}
    handed = second.event(summary="down", alertKey="disk")
    assert handed.status_code == 202, handed.text
    assert handed.json()["incidentId"] == first["incidentId"]
    assert handed.json()["responseCode"] == "EVENT_ADDED_TO_INCIDENT"
    assert second.get(f"/api/incidents/{first['incidentId']}").json()["status"] == "ACCEPTED"
    second.stop()
    assert daemon.stop() == 0
    daemon.start()
    assert daemon.event(summary="down", alertKey="DISK").json()["incidentId"] == first["incidentId"]


def test_schedules_on_postgresql_page_the_on_call_user_and_keep_their_past(daemon: InProcessDaemon) -> None:
    ann = daemon.post("/api/users", {"username": "ann", "email": "ann@example.com"}).json()["id"]
    ben = daemon.post("/api/users", {"username": "ben", "email": "ben@example.com"}).json()["id"]
    layer = {"name": "days", "users": [{"id": ann}, {"id": ben}], "rotation": "P1D",
             "startsOn": "2026-01-05T10:00"}
    body = {"name": "primary", "type": "RECURRING", "timezone": "Europe/Berlin", "scheduleLayers": [layer]}
    schedule = daemon.post("/api/schedules", body)
    assert schedule.status_code == 201, schedule.text
    schedule_id = schedule.json()["id"]
    policy = daemon.post("/api/escalation-policies", {
        "name": "p", "escalationRules": [{"escalationTimeout": 5, "schedules": [{"id": schedule_id}]}],
    }).json()
    daemon.put("/api/alert-sources/1", {"escalationPolicy": {"id": policy["id"]}})
    override = daemon.put(f"/api/schedules/{schedule_id}/overrides",
                          {"user": {"id": ben}, "start": "2026-01-05T12:00Z", "end": "2026-01-05T13:00Z"})
    assert override.status_code == 201, override.text
    daemon.advance("PT3H30M")  # 12:30Z, inside ben's override
    incident = daemon.event(summary="down", alertKey="db").json()["incidentId"]
    daemon.advance("PT0S")
    pages = daemon.get(f"/api/incidents/{incident}/notifications").json()
    assert [p["user"]["username"] for p in pages] == ["ben"]
    only_ben = {**body, "scheduleLayers": [{**layer, "users": [{"id": ben}]}]}
    edited = daemon.put(f"/api/schedules/{schedule_id}", only_ben)
    assert edited.status_code == 200, edited.text
    shifts = daemon.get(f"/api/schedules/{schedule_id}/shifts",
                        params={"from": "2026-01-05T09:00Z", "until": "2026-01-05T14:00Z"}).json()
    assert [(s["user"]["username"], s["start"], s["end"]) for s in shifts] == [
        ("ann", "2026-01-05T09:00:00.000Z", "2026-01-05T12:00:00.000Z"),
        ("ben", "2026-01-05T12:00:00.000Z", "2026-01-05T14:00:00.000Z"),
    ]
    assert daemon.stop() == 0


def test_two_admins_making_each_other_users_at_once_leave_one_admin(postgres_url: str) -> None:
    """The check that keeps an ADMIN reads the ADMINs' rows locked: the second change waits for the
    first to commit, then sees itself the only ADMIN (read unlocked, both saw the other still ADMIN
    and both went through, leaving none)."""
    db = open_database(postgres_url)
    try:
        migrate(db)
        ann = m.User.create(username="ann", role="ADMIN", created_at=NOW).id
        ben = m.User.create(username="ben", role="ADMIN", created_at=NOW).id
        people = People(Context(db=db, now=lambda: NOW))
        first_checked, outcomes = threading.Event(), {}

        def first() -> None:
            with write_transaction(db):
                people.update_user(OPERATOR, ann, {"role": "USER"})
                first_checked.set()
                # The second change starts meanwhile and must wait for this COMMIT.
                time.sleep(0.3)
            outcomes["first"] = "ok"

        def second() -> None:
            first_checked.wait(10)
            try:
                people.update_user(OPERATOR, ben, {"role": "USER"})
                outcomes["second"] = "ok"
            except ApiError as error:
                outcomes["second"] = error.code

        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert outcomes == {"first": "ok", "second": "CONFLICT"}
        assert [u.role for u in m.User.select().order_by(m.User.id)] == ["USER", "ADMIN"]
    finally:
        db.close()


def _race(db: object, first: Callable[[], object], second: Callable[[], object]) -> dict[str, str]:
    """Run `first` in a transaction held open 0.3 s after it returns; meanwhile `second` (in a
    thread of its own, as two nodes or two requests would). Each one's outcome: "ok" or the
    refusal's code."""
    first_done, outcomes = threading.Event(), {}

    def run(name: str, write: Callable[[], object]) -> None:
        try:
            write()
            outcomes[name] = "ok"
        except ApiError as error:
            outcomes[name] = error.code

    def hold() -> None:
        with write_transaction(db):  # type: ignore[arg-type]
            run("first", first)
            first_done.set()
            time.sleep(0.3)

    def after() -> None:
        first_done.wait(10)
        run("second", second)

    threads = [threading.Thread(target=hold), threading.Thread(target=after)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


def _references_to_nothing() -> list[str]:
    """Each reference of a policy level, a schedule's version or a source to a row that is gone."""
    users = {u.id for u in m.User.select()}
    schedules = {s.id for s in m.Schedule.select()}
    policies = {p.id for p in m.EscalationPolicy.select()}
    gone = [f"policy {p.id} names schedule {ref['id']}" for p in m.EscalationPolicy.select()
            for level in p.rules for ref in level.get("schedules", []) if ref["id"] not in schedules]
    gone += [f"policy {p.id} names user {ref['id']}" for p in m.EscalationPolicy.select()
             for level in p.rules for ref in level.get("users", []) if ref["id"] not in users]
    gone += [f"schedule {v.schedule_id} names user {user}" for v in m.ScheduleVersion.select()
             for user in schedule_fields.user_ids(v.definition) if user not in users]
    gone += [f"source {s.id} names policy {s.escalation_policy_id}" for s in m.AlertSource.select()
             if s.escalation_policy_id is not None and s.escalation_policy_id not in policies]
    sources = {s.id for s in m.AlertSource.select()}
    gone += [f"heartbeat monitor {h.id} names source {h.alert_source_id}" for h in m.HeartbeatMonitor.select()
             if h.alert_source_id not in sources]
    gone += [f"maintenance window {w.id} names source {i}" for w in m.MaintenanceWindow.select()
             for i in w.alert_source_ids if i not in sources]
    return gone


def _layer(user_id: int) -> dict[str, object]:
    return {"name": "primary", "type": "RECURRING", "timezone": "UTC", "scheduleLayers": [
        {"users": [{"id": user_id}], "rotation": "P1D", "startsOn": "2026-01-05T09:00"}]}


@pytest.mark.parametrize("order", ["reference first", "delete first"])
@pytest.mark.parametrize("kind", ["schedule in a policy", "user in a schedule", "policy of a source",
                                  "source of a heartbeat monitor", "source of a maintenance window"])
def test_a_delete_and_a_write_naming_the_row_at_once_never_leave_a_reference_to_nothing(
        postgres_url: str, kind: str, order: str) -> None:
    """On READ COMMITTED each side's check read the other's row as it was before the other's
    COMMIT: a schedule deleted while a policy edit named it, a user deleted while a schedule edit
    put them on duty, a policy deleted while a source was given it, each left a reference to
    nothing (a level, a rotation or a source that pages nobody). Now the rows checked are held
    in the writing transaction, so the second waits and sees the first's outcome."""
    from ilertd.app.application import Application
    from ilertd.app.offboarding import remove_user

    db = open_database(postgres_url)
    try:
        migrate(db)
        app = Application(Context(db=db, now=lambda: NOW))
        ann = m.User.create(username="ann", role="ADMIN", created_at=NOW).id
        ben = m.User.create(username="ben", role="USER", created_at=NOW).id
        schedule = app.schedules.create(OPERATOR, _layer(ann))[0].id
        policy = app.sources.create_policy(OPERATOR, {"name": "ops", "escalationRules": [
            {"escalationTimeout": 5, "users": [{"id": ann}]}]}).id
        source = app.sources.create_source(OPERATOR, {"name": "tool"}).id
        refer: Callable[[], object]
        delete: Callable[[], object]
        if kind == "schedule in a policy":
            refer = lambda: app.sources.update_policy(OPERATOR, policy, {"escalationRules": [  # noqa: E731
                {"escalationTimeout": 5, "schedules": [{"id": schedule}]}]})
            delete = lambda: app.schedules.delete(OPERATOR, schedule)  # noqa: E731
        elif kind == "user in a schedule":
            refer = lambda: app.schedules.update(OPERATOR, schedule, _layer(ben))  # noqa: E731
            delete = lambda: remove_user(app, OPERATOR, ben, False, "force it")  # noqa: E731
        elif kind == "policy of a source":
            refer = lambda: app.sources.update_source(  # noqa: E731
                OPERATOR, source, {"escalationPolicy": {"id": policy}})
            delete = lambda: app.sources.delete_policy(OPERATOR, policy)  # noqa: E731
        elif kind == "source of a maintenance window":
            window = {"summary": "upgrade", "start": "2026-03-02T10:00:00Z", "end": "2026-03-02T11:00:00Z",
                      "alertSources": [{"id": source}]}
            refer = lambda: app.maintenance.create(OPERATOR, window)  # noqa: E731
            delete = lambda: app.sources.delete_source(OPERATOR, source)  # noqa: E731
        else:
            other = app.sources.create_source(OPERATOR, {"name": "other"}).id
            monitor = app.heartbeats.create(OPERATOR, {"name": "backup", "intervalSec": 60,
                                                       "alertSource": {"id": other}}).id
            refer = lambda: app.heartbeats.update(OPERATOR, monitor, {"alertSource": {"id": source}})  # noqa: E731
            delete = lambda: app.sources.delete_source(OPERATOR, source)  # noqa: E731
        if order == "reference first":
            # A source leaves the windows naming it: nothing keeps it.
            kept = "ok" if kind == "source of a maintenance window" else "IN_USE"
            assert _race(db, refer, delete) == {"first": "ok", "second": kept}
        else:
            assert _race(db, delete, refer) == {"first": "ok", "second": "INVALID_FIELD"}
        assert _references_to_nothing() == []
    finally:
        db.close()


@pytest.mark.parametrize("order", ["reference first", "delete first"])
@pytest.mark.parametrize("kind", ["user of a contact", "contact of an alert rule"])
def test_a_contact_or_rule_written_as_its_owner_goes_is_refused_or_goes_with_it(
        postgres_url: str, kind: str, order: str) -> None:
    """A contact added to a user being deleted (or a rule to a contact being deleted) was checked
    before the delete's COMMIT and written after it: a foreign key's 500. The owner is held while
    its contact or rule is written: after the delete, the write is refused; before it, the delete
    takes it along."""
    from ilertd.app.application import Application
    from ilertd.app.offboarding import remove_user
    from ilertd.app.preferences import RULE_KINDS

    db = open_database(postgres_url)
    try:
        migrate(db)
        app = Application(Context(db=db, now=lambda: NOW))
        m.User.create(username="ann", role="ADMIN", created_at=NOW)
        ben = m.User.create(username="ben", role="USER", created_at=NOW).id
        phone = app.preferences.create_contact(
            OPERATOR, ben, {"method": "SMS", "target": "+4915112345678"}).id
        refer: Callable[[], object]
        delete: Callable[[], object]
        if kind == "user of a contact":
            refer = lambda: app.preferences.create_contact(  # noqa: E731
                OPERATOR, ben, {"method": "EMAIL", "target": "ben@example.com"})
            delete = lambda: remove_user(app, OPERATOR, ben, False, "force it")  # noqa: E731
            refused = "NOT_FOUND"
        else:
            refer = lambda: app.preferences.create_rule(OPERATOR, RULE_KINDS[0], ben, {  # noqa: E731
                "method": "SMS", "contact": {"id": phone}, "type": "HIGH_PRIORITY"})
            delete = lambda: app.preferences.delete_contact(OPERATOR, ben, phone)  # noqa: E731
            refused = "INVALID_FIELD"
        if order == "reference first":
            assert _race(db, refer, delete) == {"first": "ok", "second": "ok"}
        else:
            assert _race(db, delete, refer) == {"first": "ok", "second": refused}
        users = {u.id for u in m.User.select()}
        contacts = {c.id for c in m.Contact.select()}
        assert all(c.user_id in users for c in m.Contact.select())
        assert all(r.contact_id in contacts and r.user_id in users for r in m.AlertRule.select())
    finally:
        db.close()


@pytest.mark.parametrize("kind", ["schedule", "escalation policy", "alert source", "alert rule"])
def test_two_writes_of_one_unique_value_at_once_keep_one(postgres_url: str, kind: str) -> None:
    """A name of a schedule, policy or source, or a user's rule, sent twice at once (a form
    submitted twice, two provisioning runs): under READ COMMITTED each check found the value free
    and both were written. Now the second waits for the first's COMMIT and is refused."""
    from ilertd.app.application import Application
    from ilertd.app.preferences import RULE_KINDS

    db = open_database(postgres_url)
    try:
        migrate(db)
        app = Application(Context(db=db, now=lambda: NOW))
        ann = m.User.create(username="ann", role="ADMIN", created_at=NOW).id
        contact = app.preferences.create_contact(OPERATOR, ann, {"method": "EMAIL",
                                                                 "target": "a@example.com"}).id
        write: Callable[[], object]
        count: Callable[[], int]
        if kind == "schedule":
            write = lambda: app.schedules.create(OPERATOR, _layer(ann))  # noqa: E731
            count = m.Schedule.select().count
        elif kind == "escalation policy":
            levels = [{"escalationTimeout": 5, "users": [{"id": ann}]}]
            write = lambda: app.sources.create_policy(  # noqa: E731
                OPERATOR, {"name": "ops", "escalationRules": levels})
            count = m.EscalationPolicy.select().count
        elif kind == "alert source":
            write = lambda: app.sources.create_source(OPERATOR, {"name": "tool"})  # noqa: E731
            count = m.AlertSource.select().count
        else:
            alerts = RULE_KINDS[0]
            write = lambda: app.preferences.create_rule(OPERATOR, alerts, ann, {  # noqa: E731
                "method": "EMAIL", "contact": {"id": contact}, "delayMin": 0, "type": "HIGH_PRIORITY"})
            count = alerts.model.select().count
        assert _race(db, write, write) == {"first": "ok", "second": "ALREADY_EXISTS"}
        assert count() == 1
    finally:
        db.close()


def test_a_connection_the_server_ended_is_opened_again_on_its_next_use(postgres_url: str) -> None:
    """Each long-lived thread connects once: a connection the server ended (a restart, a backend
    terminated) stayed dead for good, and a promoted leader answered 503 to every write while
    /healthz said ok. The statement that finds it dead fails (503, retry); the next one reconnects."""
    import psycopg2

    db = open_database(postgres_url)
    migrate(db)
    first = db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    admin = psycopg2.connect(postgres_url)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", (first,))
        with pytest.raises(StoreUnavailable), write_transaction(db):
            db.execute_sql("SELECT 1")
        with write_transaction(db):
            assert db.execute_sql("SELECT pg_backend_pid()").fetchone()[0] != first
        assert db.execute_sql("SELECT 1").fetchone() == (1,)
    finally:
        admin.close()
        db.close()
