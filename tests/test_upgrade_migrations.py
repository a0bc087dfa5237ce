"""Stores of older releases, migrated: what they refer to keeps its meaning (SQLite, PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import peewee
import pytest

from ilertd.domain.events import alert_key_identity
from ilertd.domain.text_input import storable
from ilertd.store.db import migrate
from ilertd.store.incidents import open_alert_keys
from tests.test_migrations import store_before

CREATED = "'2026-01-01 00:00:00'"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'old.sqlite3'}"


def _user(db: peewee.Database, user_id: int) -> None:
    db.execute_sql('INSERT INTO "user" (id, username, first_name, last_name, email, timezone, role,'
                   f" created_at) VALUES ({user_id}, 'u{user_id}', '', '', '', 'UTC', 'USER', {CREATED})")


def _incident(db: peewee.Database, incident_id: int, key: str, status: str = "PENDING",
              columns: str = "", values: str = "") -> None:
    db.execute_sql(
        "INSERT INTO incident (id, alert_source_id, alert_key, alert_key_identity, summary, details, status,"
        f" priority, escalation_level, escalation_pass, report_time, images, links, labels, custom_details,"
        f" event_count{columns}) VALUES ({incident_id}, 1, {key}, {key}, 's', '', '{status}', 'HIGH', 0, 0,"
        f" {CREATED}, '[]', '[]', '{{}}', '{{}}', 1{values})")


# A new row of each table, its id left to the store.
NEW_ROWS = {
    "user": ("username, first_name, last_name, email, timezone, role, created_at",
             f"'new', '', '', '', 'UTC', 'USER', {CREATED}"),
    "escalation_policy": ("name, rules, repeating, frequency", "'new', '[]', FALSE, 0"),
    "schedule": ("name, type, timezone, created_at", f"'new', 'STATIC', 'UTC', {CREATED}"),
    "alert_source": ("name, integration_type, integration_key, priority, created_at",
                     f"'new', 'API', 'k3', 'HIGH', {CREATED}"),
    "heartbeat_monitor": ("name, interval_sec, alert_source_id, integration_key, status, created_at",
                          f"'new', 60, 1, 'hb3', 'OK', {CREATED}"),
}


def _monitor(db: peewee.Database, n: int) -> None:
    db.execute_sql("INSERT INTO heartbeat_monitor (id, name, interval_sec, alert_source_id, integration_key,"
                   f" status, created_at) VALUES ({n}, 'h', 60, 1, 'hb{n}', 'OK', {CREATED})")


def _next_id(db: peewee.Database, table: str) -> int:
    columns, values = NEW_ROWS[table]
    db.execute_sql(f'INSERT INTO "{table}" ({columns}) VALUES ({values})')
    return int(db.execute_sql(f'SELECT MAX(id) FROM "{table}"').fetchone()[0])


def test_ids_deleted_before_ids_were_kept_are_not_given_again_while_rows_refer_to_them(
        tmp_path: Path, url: str) -> None:
    """A store of a release before migration 9: the user, policy, schedule, source and monitor of
    id 2 were deleted while incidents, log entries, policies and windows still named them. After
    the upgrade the next of each gets id 3, not the deleted one's."""
    db = store_before(tmp_path, "0009", url)
    for n in (1, 2):
        _user(db, n)
        db.execute_sql(f"INSERT INTO escalation_policy (id, name, rules, repeating, frequency) VALUES ({n},"
                       " 'p', '[]', FALSE, 0)")
        db.execute_sql(f"INSERT INTO schedule (id, name, type, timezone, created_at) VALUES ({n}, 's',"
                       f" 'STATIC', 'UTC', {CREATED})")
        _monitor(db, n)
    db.execute_sql("INSERT INTO alert_source (id, name, integration_type, integration_key, priority,"
                   f" created_at) VALUES (2, 's2', 'API', 'k2', 'HIGH', {CREATED})")
    for table in ("user", "escalation_policy", "schedule", "alert_source", "heartbeat_monitor"):
        db.execute_sql(f'DELETE FROM "{table}" WHERE id = 2')
    _incident(db, 1, "'a'", "RESOLVED", ", resolved_by_id, escalation_policy_id", ", 2, 2")
    _incident(db, 2, "'heartbeat-2'")  # the deleted monitor's incident, still open
    db.execute_sql("UPDATE escalation_policy SET rules = '[{\"escalationTimeout\": 5, \"users\": [],"
                   " \"schedules\": [{\"id\": 2}]}]' WHERE id = 1")
    db.execute_sql("INSERT INTO maintenance_window (summary, starts_at, ends_at, alert_source_ids)"
                   f" VALUES ('m', {CREATED}, {CREATED}, '[2]')")
    migrate(db)
    for table in ("user", "escalation_policy", "schedule", "alert_source", "heartbeat_monitor"):
        assert _next_id(db, table) == 3, table
    db.close()


def test_users_named_only_by_a_schedule_are_passed_too(tmp_path: Path, url: str) -> None:
    """The users named inside a schedule's layers and static shifts count as referred to."""
    db = store_before(tmp_path, "0018", url)
    db.execute_sql(f"INSERT INTO schedule (id, name, type, timezone, created_at) VALUES (1, 's', 'STATIC',"
                   f" 'UTC', {CREATED})")
    definition = '{"scheduleLayers": [{"users": [1, 4]}], "shifts": [{"user": 6}]}'
    db.execute_sql("INSERT INTO schedule_version (schedule_id, effective_from, definition) VALUES (1,"
                   f" {CREATED}, '{definition}')")
    migrate(db)
    assert _next_id(db, "user") == 7
    db.close()


def _open_keys(db: peewee.Database) -> list[tuple[int, str, str]]:
    return [(i, key, identity) for i, key, identity in db.execute_sql(
        "SELECT id, alert_key, alert_key_identity FROM incident ORDER BY id")]


def test_open_incidents_whose_identity_is_not_the_current_one_are_found_by_their_key_again(
        tmp_path: Path, url: str) -> None:
    """An identity stored by an older rule of folding is recomputed for every open incident; of
    two open incidents now of one identity the oldest takes it, the other keeps an identity no key
    has; a resolved incident is left as it was."""
    db = store_before(tmp_path, "0019", url)
    _incident(db, 1, "'Disk'", "RESOLVED")
    _incident(db, 2, "'DB1'")
    _incident(db, 3, "'Web'")
    _incident(db, 4, "'web'")
    migrate(db)
    assert _open_keys(db) == [(1, "Disk", "Disk"), (2, "DB1", "db1"), (3, "Web", "web"),
                              (4, "web", "DUPLICATE OF #3 (#4)")]
    assert open_alert_keys() == {(1, "db1"): 2, (1, "web"): 3, (1, "DUPLICATE OF #3 (#4)"): 4}
    db.close()


def test_an_open_incident_of_a_long_folded_key_or_a_nul_is_found_by_its_key_as_it_comes_in_now(
        tmp_path: Path) -> None:
    """SQLite kept a folded key longer than 255 characters and U+0000 (PostgreSQL refused both):
    the key an event brings now (U+FFFD for U+0000) finds the open incident again. Of the open
    incidents `a<U+0000>` and the newer `a<U+FFFD>`, the older takes the key."""
    db = store_before(tmp_path, "0019")
    long_key = "ß" * 200
    for incident_id, key in ((1, long_key), (2, "db1\x00disk"), (3, "A\x00"), (4, "a\ufffd")):
        db.execute_sql("INSERT INTO incident (id, alert_source_id, alert_key, alert_key_identity, summary,"
                       " details, status, priority, escalation_level, escalation_pass, report_time, images,"
                       " links, labels, custom_details, event_count) VALUES (?, 1, ?, ?, 's', '',"
                       " 'ACCEPTED', 'HIGH', 0, 0, '2026-01-01 00:00:00', '[]', '[]', '{}', '{}', 1)",
                       (incident_id, key, key.casefold()))
    migrate(db)
    keys = open_alert_keys()
    assert keys[(1, alert_key_identity(storable(long_key)))] == 1
    assert keys[(1, alert_key_identity(storable("db1\x00disk")))] == 2
    assert keys[(1, alert_key_identity(storable("a\x00")))] == 3
    assert 4 in keys.values() and len(keys) == 4
    assert [key for _, key, _ in _open_keys(db)] == [long_key, "db1\ufffddisk", "A\ufffd", "a\ufffd"]
    db.close()


def test_open_incidents_of_e_mail_sources_take_the_keys_their_mails_now_bring(
        tmp_path: Path, url: str) -> None:
    """A mail's key now drops the tools' status words: the open incidents of e-mail sources opened
    under the older rule take the key their next mail brings (a reminder joins them, a recovery
    resolves them); a resolved one, another source's and one whose new key another open incident
    holds are left as they were."""
    db = store_before(tmp_path, "0022", url)
    db.execute_sql("INSERT INTO alert_source (id, name, integration_type, integration_key, priority,"
                   " created_at) VALUES (2, 'mail', 'EMAIL', 'k2', 'HIGH', '2026-01-01 00:00:00')")
    rows = [(1, 1, "Problem: Disk full", "PENDING"), (2, 2, "Problem: Disk full", "PENDING"),
            (3, 2, "** PROBLEM Service Alert: web-1/HTTP is CRITICAL **", "ACCEPTED"),
            (4, 2, "Problem: Old", "RESOLVED"), (5, 2, "Load high", "PENDING"),
            (6, 2, "Problem: Load high", "PENDING")]
    for incident_id, source_id, key, status in rows:
        db.execute_sql(
            "INSERT INTO incident (id, alert_source_id, alert_key, alert_key_identity, summary, details,"
            " status, priority, escalation_level, escalation_pass, report_time, images, links, labels,"
            f" custom_details, event_count) VALUES ({db.param}, {db.param}, {db.param}, {db.param}, 's',"
            f" '', {db.param}, 'HIGH', 0, 0, {CREATED}, '[]', '[]', '{{}}', '{{}}', 1)",
            (incident_id, source_id, key, alert_key_identity(key), status))
    migrate(db)
    assert [key for _, key, _ in _open_keys(db)] == [
        "Problem: Disk full", "Disk full", "Service Alert: web-1/HTTP", "Problem: Old", "Load high",
        "Problem: Load high"]
    keys = open_alert_keys()
    assert keys[(2, alert_key_identity("Disk full"))] == 2
    assert keys[(2, alert_key_identity("Service Alert: web-1/HTTP"))] == 3
    assert keys[(2, alert_key_identity("Load high"))] == 5
    assert keys[(1, alert_key_identity("Problem: Disk full"))] == 1
    db.close()


def test_open_incidents_and_texted_escalations_take_their_place_in_the_order_messages_were_sent(
        tmp_path: Path, url: str) -> None:
    """Migration 25: an open incident's last escalation comes after each message stamped before it
    (one stamped as it was came after, as the stamps were compared), and a texted escalation kept
    for Twilio's re-send answers the last message stamped when its page was; a resolved incident,
    which no reply moves, is left as it was."""
    db = store_before(tmp_path, "0025", url)
    _incident(db, 1, "'a'", columns=", escalated_at", values=", '2026-01-01 09:10:00'")
    _incident(db, 2, "'b'", "RESOLVED", ", escalated_at", ", '2026-01-01 09:10:00'")
    _incident(db, 3, "'c'")
    param = db.param
    for notification_id, sent_at, seq in ((1, "2026-01-01 09:00:00", 1), (2, "2026-01-01 09:10:00", 2),
                                          (3, "2026-01-01 09:05:00", 3), (4, None, None)):
        db.execute_sql("INSERT INTO notification (id, incident_id, user_id, kind, method, target, due_at,"
                       " sent_at, status, attempts, created_at, sent_seq) VALUES"
                       f" ({param}, 1, 1, 'ALERT', 'SMS', '+491', {CREATED}, {param}, {param}, 1, {CREATED},"
                       f" {param})", (notification_id, sent_at, "SUCCESS" if sent_at else "SCHEDULED", seq))
    db.execute_sql("INSERT INTO sms_reply (message_sid, phone, body, page_sent_at, received_at) VALUES"
                   f" ('SM1', '+491', '1e', '2026-01-01 09:05:00', {CREATED}),"
                   f" ('SM2', '+491', '1e', NULL, {CREATED})")
    migrate(db)
    assert db.execute_sql("SELECT id, escalated_seq FROM incident ORDER BY id").fetchall() == [
        (1, 3), (2, None), (3, None)]
    assert db.execute_sql("SELECT message_sid, page_seq FROM sms_reply ORDER BY message_sid").fetchall() == [
        ("SM1", 3), ("SM2", None)]
    db.close()


def test_pages_handed_out_before_keep_their_number_as_their_first_hand_out(tmp_path: Path, url: str) -> None:
    """Migration 27: a page numbered before it was handed out first at that number, the best the
    store knows; one never handed out has none."""
    db = store_before(tmp_path, "0027", url)
    _incident(db, 1, "'a'")
    param = db.param
    for notification_id, status, seq in ((1, "SUCCESS", 7), (2, "SCHEDULED", 9), (3, "SCHEDULED", None)):
        db.execute_sql("INSERT INTO notification (id, incident_id, user_id, kind, method, target, due_at,"
                       " status, attempts, created_at, sent_seq) VALUES"
                       f" ({param}, 1, 1, 'ALERT', 'SMS', '+491', {CREATED}, {param}, 1, {CREATED}, {param})",
                       (notification_id, status, seq))
    migrate(db)
    assert db.execute_sql("SELECT id, first_sent_seq FROM notification ORDER BY id").fetchall() == [
        (1, 7), (2, 9), (3, None)]
    db.close()
