"""A store that cannot take a change (its disk full, its write lock not given up, the database gone):
the request that needed it is a `503 STORE_UNAVAILABLE` saying retry, nothing of it is stored,
the log says why, and the daemon goes on once the store takes writes again."""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import peewee
import pytest

from ilertd.actors import sending_marks
from ilertd.actors.messages import IncidentClosed
from ilertd.daemon import CHANNEL_ACTORS_PER_METHOD
from ilertd.errors import StoreUnavailable
from ilertd.plugins.sms import NOT_TAKEN
from ilertd.store import models as m
from ilertd.store import statements as sql
from ilertd.store.committer import WRITE_RETRY, Committer, WriteUnit
from ilertd.store.db import migrate, open_database, store_failed, write_transaction
from ilertd.tracker import WorkTracker
from tests.inprocess import InProcessDaemon
from tests.paging import Paging
from tests.store_faults import LockOnFirstSms, write_lock_held
from tests.test_committer import incident_row
from tests.test_replies import phone_of, sms_reply, sms_to
from tests.ui_helpers import login, submit, user

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = {"name": "ops", "escalationRules": [{"escalationTimeout": 5, "users": [{"id": 1}]}]}


def test_store_failed_tells_a_failing_store_from_a_wrong_statement(tmp_path: Path, impatient: None) -> None:
    path = tmp_path / "ilertd.db"
    db = open_database(f"sqlite:///{path}")
    migrate(db)

    def raised(write: Callable[[], Any]) -> BaseException:
        with pytest.raises(Exception) as caught, write_transaction(db):
            write()
        return caught.value

    with write_lock_held(path):
        locked = raised(lambda: m.AlertSource.create(name="a", integration_type="API",
                                                    integration_key="a" * 32, created_at=START))
    assert isinstance(locked, StoreUnavailable) and locked.status == 503
    assert "locked" in str(locked.__cause__)
    m.AlertSource.create(name="a", integration_type="API", integration_key="a" * 32, created_at=START)
    duplicate = raised(lambda: m.AlertSource.create(name="b", integration_type="API",
                                                   integration_key="a" * 32, created_at=START))
    assert isinstance(duplicate, peewee.IntegrityError) and not store_failed(duplicate)
    wrong = raised(lambda: db.execute_sql("SELECT nothing FROM nowhere"))
    assert isinstance(wrong, peewee.OperationalError) and not store_failed(wrong)
    db.close()


def test_a_write_the_store_cannot_take_is_a_503_that_changed_nothing(
        impatient: None, make_app: Callable[..., InProcessDaemon]) -> None:
    """It was a 500 "unexpected error" though nothing was wrong with the request."""
    app = make_app().start()
    before = app.get("/api/escalation-policies").json()
    with write_lock_held(app.data_dir / "ilertd.db"):
        refused = app.post("/api/escalation-policies", POLICY)
        event = app.event(summary="db1 is down", alertKey="db1")
    for reply in (refused, event):
        assert reply.status_code == 503, reply.text
        assert reply.json()["code"] == "STORE_UNAVAILABLE", reply.text
        assert reply.headers["retry-after"] == "2"
    app.quiet()
    assert app.get("/api/escalation-policies").json() == before
    assert all(i["alertKey"] != "db1" for i in app.get("/api/incidents").json())
    # The same requests again, once the store takes writes.
    assert app.post("/api/escalation-policies", POLICY).status_code == 201
    again = app.event(summary="db1 is down", alertKey="db1")
    assert again.status_code == 202 and again.json()["responseCode"] == "NEW_INCIDENT_CREATED", again.text
    assert "Traceback" in app.log() and "database is locked" in app.log()



def test_the_web_ui_shows_a_write_the_store_refused_as_a_page_saying_retry(
        impatient: None, make_app: Callable[..., InProcessDaemon]) -> None:
    app = make_app().start()
    user(app, "ann", role="ADMIN")
    browser = login(app, "ann")
    form = {"summary": "upgrade", "start": "2026-01-06T10:00", "end": "2026-01-06T11:00", "alertSources": "1"}
    with write_lock_held(app.data_dir / "ilertd.db"):
        refused = submit(browser, "/ui/admin/maintenance", "/ui/admin/maintenance", form)
    assert refused.status_code == 503, refused.text
    assert "text/html" in refused.headers["content-type"]
    assert "the change could not be stored; retry" in refused.text
    assert app.get("/api/maintenance-windows").json() == []
    assert submit(browser, "/ui/admin/maintenance", "/ui/admin/maintenance", form).status_code == 200
    assert [w["summary"] for w in app.get("/api/maintenance-windows").json()] == ["upgrade"]


# --- a full disk: a small filesystem of its own (mounting one needs root) ---------------------------


class SmallDisk:
    """A tmpfs of `size` mounted at `path`; `fill()` takes every free byte, `free()` gives them back."""

    def __init__(self, path: Path, size: str) -> None:
        self.path = path
        self.filler = path / "filler"
        path.mkdir()
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                                 capture_output=True, text=True)
        if mounted.returncode != 0:
            pytest.skip(f"a small filesystem cannot be mounted here: {mounted.stderr.strip()}")

    def fill(self) -> None:
        with contextlib.suppress(OSError), open(self.filler, "ab", buffering=0) as filler:
            while True:
                filler.write(b"\0" * 4096)

    def free(self) -> None:
        self.filler.unlink()

    def unmount(self) -> None:
        subprocess.run(["umount", "--lazy", str(self.path)], check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    disk = SmallDisk(tmp_path / "disk", "16m")
    yield disk
    disk.unmount()


def test_a_commit_the_full_disk_refused_says_so_and_the_next_one_lands(
        small_disk: SmallDisk, caplog: pytest.LogCaptureFixture) -> None:
    """The rows of a write stay in SQLite's cache until its COMMIT appends them to the log, and on a
    full disk that append fails; SQLite then rolls the transaction back itself, and the ROLLBACK
    after it failed with "no transaction is active", the error the log and the caller were given."""
    db = open_database(f"sqlite:///{small_disk.path / 'ilertd.db'}")
    migrate(db)
    source_id = m.AlertSource.create(name="src", integration_type="API", integration_key="k" * 32,
                                     created_at=START).id
    statements = sql.Statements(db)
    committer = Committer(db, WorkTracker())
    committer.start()

    def unit(owner: int, done: Callable[[BaseException | None], Any]) -> WriteUnit:
        """40 incidents of 20 kB, each then updated as an incident actor would: a write that goes
        the general way, statement by statement in one transaction."""
        rows = [{**incident_row(owner * 100 + i, source_id), "details": "x" * 20_000} for i in range(40)]
        inserts = [statements.insert_incident_row(row) for row in rows]
        updates = [statements.update_incident_row(row, {**row, "summary": "changed"}) for row in rows]
        return WriteUnit(owner, tuple(s for s in [*inserts, *updates] if s is not None), done)

    def write(first_id: int) -> BaseException | None:
        # Two units, 1.6 MB: more than the log holds, less than SQLite's cache.
        outcome: list[BaseException | None] = []
        landed = threading.Event()
        units = [unit(owner, lambda error: (outcome.append(error), len(outcome) == 2 and landed.set()))
                 for owner in (first_id, first_id + 1)]
        committer.submit_many(units)
        assert landed.wait(30)
        return next((error for error in outcome if error is not None), None)

    try:
        small_disk.fill()
        caplog.set_level("ERROR", logger="ilertd.store.committer")
        error = write(1)
        assert error is not None and "database or disk is full" in str(error), repr(error)
        failures = [r for r in caplog.records if r.getMessage().startswith("write for incident")]
        assert failures and all("no transaction is active" not in (r.getMessage() + str(r.exc_info))
                                for r in failures), [r.getMessage() for r in failures]
        small_disk.free()
        assert write(3) is None
        assert sorted({i // 100 for (i,) in db.execute_sql("SELECT id FROM incident")}) == [3, 4]
    finally:
        committer.stop()
        db.close()


def test_on_a_full_disk_events_are_refused_503_and_taken_again_once_it_has_room(
        small_disk: SmallDisk, make_app: Callable[..., InProcessDaemon]) -> None:
    app = make_app("disk/daemon").start()
    assert app.event(summary="before", alertKey="before").status_code == 202
    small_disk.fill()
    replies = [app.event(summary=f"big {n}", alertKey=f"big{n}", details="x" * 60_000) for n in range(80)]
    refused = [(n, r) for n, r in enumerate(replies) if r.status_code != 202]
    assert refused, "a full disk took 4.8 MB of events"
    for _, reply in refused:
        assert reply.status_code == 503 and reply.json()["code"] == "STORE_UNAVAILABLE", reply.text
    app.quiet()
    keys = {i["alertKey"] for i in app.get("/api/incidents", params={"max-results": 100}).json()}
    assert not keys & {f"big{n}" for n, _ in refused}
    accepted = {f"big{n}" for n, r in enumerate(replies) if r.status_code == 202}
    assert accepted <= keys

    small_disk.free()
    n, _ = refused[0]
    again = app.event(summary=f"big {n}", alertKey=f"big{n}")
    assert again.status_code == 202 and again.json()["responseCode"] == "NEW_INCIDENT_CREATED", again.text
    assert app.post("/api/escalation-policies", {**POLICY, "name": "after"}).status_code == 201
    assert "database or disk is full" in app.log()
    assert "no transaction is active" not in app.log()


def test_a_silent_monitor_whose_alert_the_store_refused_alerts_once_it_takes_writes(
        impatient: None, make_app: Callable[..., InProcessDaemon]) -> None:
    """The monitor used to be marked OVERDUE first and its ALERT sent after: a store that refused
    the ALERT (or a crash between the two) left it OVERDUE with no incident, silent for good."""
    app = make_app().start()
    created = app.post("/api/heartbeat-monitors", {"name": "backup", "intervalSec": 300,
                                                   "alertSource": {"id": 1}}).json()
    assert app.client.post(f"/api/v1/heartbeats/{created['integrationKey']}").status_code == 202
    app.quiet()
    with write_lock_held(app.data_dir / "ilertd.db"):
        app.advance("PT5M")
    assert app.get("/api/incidents").json() == []
    assert app.get(f"/api/heartbeat-monitors/{created['id']}").json()["status"] == "OK"
    app.advance("PT4S")
    assert app.get("/api/incidents").json() == []
    app.advance("PT1S")
    (opened,) = app.get("/api/incidents").json()
    assert opened["alertKey"] == f"heartbeat-{created['id']}" and opened["eventCount"] == 1
    assert app.get(f"/api/heartbeat-monitors/{created['id']}").json()["status"] == "OVERDUE"
    assert "refused" in app.log() and "tried again in 5 s" in app.log()
    # Overdue and alerted: no second incident, no second event.
    app.advance("PT1H")
    assert [i["eventCount"] for i in app.get("/api/incidents").json()] == [1]


def test_an_escalation_the_store_refused_pages_seconds_after_it_takes_writes_again(
        impatient: None, app_paging: Paging) -> None:
    """It waited for the supervisor's sweep, which skips what it handed on within its last 30 s:
    the level-1 page went out up to a minute after the store took writes again."""
    alice, bob = app_paging.user("alice"), app_paging.user("bob")
    app_paging.policy([(10, [alice]), (10, [bob])])
    incident_id = app_paging.alert()
    app = app_paging.daemon
    assert isinstance(app, InProcessDaemon)
    app.advance("PT0S")
    retry = int(WRITE_RETRY.total_seconds())
    with write_lock_held(app.data_dir / "ilertd.db"):
        app.advance("PT10M")
        # Tried again every few seconds while the store refuses it, and refused each time.
        app.advance(f"PT{3 * retry}S")
    assert app_paging.mails_to("bob@example.com") == []
    assert app.get(f"/api/incidents/{incident_id}").json()["escalationLevel"] == 0
    assert app.log().count(f"incident {incident_id}: write failed (database is locked)") == 4
    app.advance(f"PT{retry}S")
    assert len(app_paging.mails_to("bob@example.com")) == 1
    incident = app.get(f"/api/incidents/{incident_id}").json()
    assert incident["escalationLevel"] == 1
    # Its next deadline counts from when level 1 was reached, not from the refused attempt.
    assert incident["nextEscalationAt"] == "2026-01-05T09:20:20.000Z"
    assert len([e for e in app.get(f"/api/incidents/{incident_id}/log-entries").json()
                if e["logEntryType"] == "ESCALATED"]) == 1


def test_a_page_due_while_the_store_refuses_writes_goes_out_seconds_after(
        impatient: None, app_paging: Paging) -> None:
    """A page is marked as being sent, durably, before it is handed over; when that mark was
    refused it was tried again after the provider's retry delay, 30 s, however short the outage."""
    carol = app_paging.user("carol", [("SMS", 5, "HIGH_PRIORITY")], email=False)
    app_paging.policy([(30, [carol])])
    incident_id = app_paging.alert()
    app = app_paging.daemon
    assert isinstance(app, InProcessDaemon)
    retry = int(WRITE_RETRY.total_seconds())
    with write_lock_held(app.data_dir / "ilertd.db"):
        app.advance("PT5M")
    assert app_paging.http.to("/sms/") == []
    assert "outbox rows were not marked as being sent" in app.log()
    app.advance(f"PT{retry}S")
    (sms,) = app_paging.http.to("/sms/")
    assert f"#{incident_id}" in sms.json()["message"]
    (page,) = app_paging.notifications(incident_id)
    assert page["status"] == "SUCCESS" and page["sentAt"] == f"2026-01-05T09:05:{retry:02d}.000Z"


def test_a_page_the_store_would_not_mark_sent_is_not_sent_again(impatient: None, app_paging: Paging) -> None:
    """The SMS went out, then the store refused its SUCCESS: the row stayed SCHEDULED, and the
    sweep handed it to the channel again, which sent it a second time a minute later."""
    carol = app_paging.user("carol", [("SMS", 0, "HIGH_PRIORITY")], email=False)
    app_paging.policy([(30, [carol])])
    app = app_paging.daemon
    assert isinstance(app, InProcessDaemon)
    lock = LockOnFirstSms(app_paging.http, app.data_dir / "ilertd.db")
    incident_id = app_paging.alert()
    app.advance("PT0S")
    assert len(app_paging.http.to("/sms/")) == 1
    assert "its outcome could not be stored (database is locked)" in app.log()
    (page,) = app_paging.notifications(incident_id)
    assert page["status"] == "SCHEDULED"
    lock.release()
    app.advance(f"PT{int(WRITE_RETRY.total_seconds())}S")
    (page,) = app_paging.notifications(incident_id)
    assert page["status"] == "SUCCESS" and page["sentAt"] == "2026-01-05T09:00:00.000Z"
    # Past the sweep and the contact's throttle window: still the one SMS.
    app.advance("PT5M")
    assert len(app_paging.http.to("/sms/")) == 1
    assert [e["logEntryType"] for e in app.get(f"/api/incidents/{incident_id}/log-entries").json()
            ].count("NOTIFICATION_SENT") == 1


def test_a_resolve_the_store_refused_leaves_its_key_with_the_open_incident(
        impatient: None, make_app: Callable[..., InProcessDaemon]) -> None:
    """The key was let go when the RESOLVE was decided, not when it was stored: after a refusal
    the tool's retry got `400 NO_OPEN_INCIDENT_WITH_KEY` (Alertmanager drops a flush on a 4xx),
    and each new ALERT of that key a 503, for good, while the incident stayed open."""
    app = make_app().start()
    opened = app.event(summary="disk full", alertKey="disk")
    assert opened.status_code == 202, opened.text
    with write_lock_held(app.data_dir / "ilertd.db"):
        refused = app.event(eventType="RESOLVE", alertKey="disk")
    assert refused.status_code == 503, refused.text
    again = app.event(summary="disk still full", alertKey="disk")
    assert again.status_code == 202, again.text
    assert again.json()["incidentId"] == opened.json()["incidentId"]
    assert again.json()["responseCode"] == "EVENT_ADDED_TO_INCIDENT"
    resolved = app.event(eventType="RESOLVE", alertKey="disk")
    assert resolved.status_code == 202, resolved.text
    assert app.get(f"/api/incidents/{opened.json()['incidentId']}").json()["status"] == "RESOLVED"


def test_an_open_incident_whose_key_the_supervisor_let_go_gets_its_events_again(
        make_app: Callable[..., InProcessDaemon]) -> None:
    """As after a close the store refused while another event of its key waited (that event was
    routed afresh): each new ALERT of the key was a new incident the store could never take (the
    old one holds the key open), a 503 for good. A rerouted event reads the key's holder first."""
    app = make_app().start()
    opened = app.event(summary="disk full", alertKey="Disk")
    assert opened.status_code == 202, opened.text
    incident_id = opened.json()["incidentId"]
    app.daemon.supervisor.ask(IncidentClosed(incident_id, 1, "disk"))
    lost = app.event(summary="disk still full", alertKey="disk")
    assert lost.status_code == 503, lost.text  # the one event that met the lost key
    again = app.event(summary="disk still full", alertKey="DISK")
    assert (again.status_code, again.json().get("incidentId")) == (202, incident_id), again.text
    assert app.event(eventType="RESOLVE", alertKey="disk").status_code == 202
    assert app.get(f"/api/incidents/{incident_id}").json()["status"] == "RESOLVED"


def test_a_reply_code_the_store_refused_is_stored_again(
        impatient: None, app_paging: Paging, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SMS said "Reply 1a", but the store refused the code's write: the reply was answered "no
    incident has code 1 on this phone" for good (the code lived only in the channel's memory)."""
    # The batch's rows marked as being sent in one write, as a fast provider has them: erin's
    # page, marked before the store locks, is laid out while it refuses writes.
    monkeypatch.setattr(sending_marks, "marked_together", lambda resent, _last_send_s: len(resent))
    app = app_paging.daemon
    assert isinstance(app, InProcessDaemon)
    dave = app_paging.user("dave", [("SMS", 0, "HIGH_PRIORITY")], email=False)
    dave_phone = phone_of(app_paging, dave)
    # erin's phone goes to dave's channel actor (targets are hashed to one of a method's actors),
    # so her page is laid out after his is handed to the provider.
    while hash(app_paging.target("x", "SMS")) % CHANNEL_ACTORS_PER_METHOD != (
            hash(dave_phone) % CHANNEL_ACTORS_PER_METHOD):
        pass
    app_paging.next_phone -= 1
    erin = app_paging.user("erin", [("SMS", 0, "HIGH_PRIORITY")], email=False)
    erin_phone = phone_of(app_paging, erin)
    app_paging.policy([(30, [dave, erin])])
    lock = LockOnFirstSms(app_paging.http, app.data_dir / "ilertd.db")
    incident_id = app_paging.alert()
    app.advance("PT0S")
    pages = {phone: sms_to(app_paging, phone) for phone in (dave_phone, erin_phone)}
    assert all(len(sent) == 1 and "Reply 1a" in sent[0] for sent in pages.values()), pages
    lock.release()
    app.advance(f"PT{int(WRITE_RETRY.total_seconds())}S")
    answers = {sms_reply(app_paging, phone, "1a") for phone in (dave_phone, erin_phone)}
    assert answers == {f"ilertd: Incident #{incident_id} accepted.",
                       f"ilertd: Incident #{incident_id} is already accepted by dave."}
    assert f"the reply code 1 of incident {incident_id} could not be stored" in app.log()


def test_an_sms_reply_the_store_refused_is_answered_text_it_again(
        impatient: None, app_paging: Paging) -> None:
    """It was a `503 STORE_UNAVAILABLE`, which Twilio neither re-sends nor shows anyone: the reply
    was lost silently. Its help-text counter, written first, failed it even before it acted."""
    dave = app_paging.user("dave", [("SMS", 0, "HIGH_PRIORITY")], email=False)
    app_paging.policy([(30, [dave])])
    incident_id = app_paging.alert()
    app = app_paging.daemon
    assert isinstance(app, InProcessDaemon)
    app.advance("PT0S")
    phone = phone_of(app_paging, dave)
    assert sms_reply(app_paging, phone, "hello") is not None  # counted: reset by the next reply
    with write_lock_held(app.data_dir / "ilertd.db"):
        accepted = sms_reply(app_paging, phone, "1a")
        helped = sms_reply(app_paging, phone, "what?")
        stopped = sms_reply(app_paging, phone, "STOP")
    assert accepted == (f"ilertd: Incident #{incident_id} was not accepted: ilertd could not store it."
                        " Text your reply again in a minute.")
    assert helped is not None and "reply 1a to accept" in helped
    assert stopped == NOT_TAKEN
    assert app.get(f"/api/incidents/{incident_id}").json()["status"] == "PENDING"
    assert sms_reply(app_paging, phone, "1a") == f"ilertd: Incident #{incident_id} accepted."
