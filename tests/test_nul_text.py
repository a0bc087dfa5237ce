"""U+0000 in text from outside: kept as U+FFFD on SQLite and PostgreSQL alike, never a 500 or a
503 a tool retries for ever (PostgreSQL's text cannot hold U+0000)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from ilertd.domain import json_input
from ilertd.domain.provision_document import read_document
from ilertd.domain.text_input import (
    form_fields,
    storable,
    storable_json_text,
    storable_pairs,
    storable_value,
)
from ilertd.store import models as m
from ilertd.store import statements as sql
from ilertd.store.db import migrate, open_database
from tests import integration_helpers as helpers
from tests.inprocess import InProcessDaemon
from tests.test_committer import commit_all, incident_row, log_row

FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_nul_becomes_the_replacement_character_in_text_json_forms_and_documents() -> None:
    assert storable("a\x00b\x00") == "a\ufffdb\ufffd"
    assert storable("plain") == "plain"
    # An escaped backslash before "u0000" is a backslash and the text "u0000", not a NUL.
    assert json_input.loads(r'{"k\u0000": ["a\u0000", "b\\u0000", "c\\\u0000"]}') == {
        "k\ufffd": ["a\ufffd", "b\\u0000", "c\\\ufffd"]}
    assert json_input.loads(b'"\\u0000"') == "\ufffd"
    assert storable_json_text(r'"\u0000x"') == r'"\ufffdx"', "the same length: error positions hold"
    assert form_fields("a=1%002&b%00=&c=x\x00y") == [("a", "1\ufffd2"), ("b\ufffd", ""), ("c", "x\ufffdy")]
    assert form_fields("a=%2500") == [("a", "%00")], "an encoded '%' then '00' is no NUL"
    assert storable_pairs([("a", "1"), ("a", "x\x00")]) == {"a": "x\ufffd"}
    assert storable_value({"k\x00": [1, "v\x00", {"n": None}]}) == {"k\ufffd": [1, "v\ufffd", {"n": None}]}


def test_the_config_as_code_document_keeps_nul_as_the_replacement_character() -> None:
    document = read_document('[[users]]\nusername = "nul"\nfirstName = "N\\u0000L"\n')
    (entry,) = document.entries
    assert entry.body["firstName"] == "N\ufffdL"
    # A raw NUL byte too, which TOML refuses as an illegal character.
    (raw,) = read_document('[[users]]\nusername = "nul"\nfirstName = "N\x00L"\n').entries
    assert raw.body["firstName"] == "N\ufffdL"


def test_events_with_nul_open_and_find_their_incident(either_store: InProcessDaemon) -> None:
    daemon = either_store
    first = daemon.event(summary="disk\x00full", alertKey="db1\x00disk")
    assert first.status_code == 202, first.text
    assert first.json()["alertKey"] == "db1\ufffddisk"
    again = daemon.event(summary="again", alertKey="db1\x00disk").json()
    assert again["incidentId"] == first.json()["incidentId"]
    assert again["responseCode"] == "EVENT_ADDED_TO_INCIDENT"
    incident = daemon.get(f"/api/incidents/{again['incidentId']}").json()
    assert (incident["summary"], incident["eventCount"]) == ("disk\ufffdfull", 2)
    comment = daemon.post(f"/api/incidents/{incident['id']}/comments", {"content": "seen\x00"})
    assert (comment.status_code, comment.json()["content"]) == (201, "seen\ufffd")
    source = daemon.post("/api/alert-sources", {"name": "src\x00", "integrationType": "UPTIMEROBOT"})
    assert (source.status_code, source.json()["name"]) == (201, "src\ufffd")


def test_nul_in_forms_query_strings_and_looked_up_keys(either_store: InProcessDaemon) -> None:
    daemon = either_store
    key = helpers.new_source(daemon, "UPTIMEROBOT")
    down = helpers.fixture_json("uptimerobot_down.json") | {"monitorFriendlyName": "Shop\x00"}
    by_form = helpers.post_payload(daemon, "uptimerobot", key, urlencode(down).encode(), FORM_HEADERS)
    assert by_form.status_code == 202, by_form.text
    by_query = helpers.post_payload(daemon, "uptimerobot", key, b"", {},
                                    urlencode(down | {"monitorID": "7"}))
    assert by_query.status_code == 202, by_query.text
    assert [i["summary"] for i in helpers.incidents(daemon)] == [
        "Shop\ufffd is DOWN: Connection Timeout"] * 2
    # A key holding a NUL is no key of anything stored: looked up, it matches nothing.
    assert daemon.client.post("/api/v1/heartbeats/a%00b").status_code == 404
    assert daemon.client.post("/api/v1/events/uptimerobot/a%00b", json={}).status_code == 404
    enqueue = daemon.client.post("/v2/enqueue", json={
        "routing_key": "a\x00b", "event_action": "trigger",
        "payload": {"summary": "x", "source": "y", "severity": "info"}})
    assert enqueue.status_code == 400, enqueue.text


def test_the_writer_stores_text_that_still_holds_nul_rather_than_failing(postgres_url: str) -> None:
    """A write that reaches the store with U+0000 (no way in makes one now) is kept, U+FFFD in its
    place, where PostgreSQL would refuse it (and the incident's event would be lost); its neighbour
    in the same batch lands as it is."""
    db = open_database(postgres_url)
    try:
        migrate(db)
        source = m.AlertSource.create(name="src", integration_type="API", integration_key="k" * 32,
                                      created_at=NOW)
        statements = sql.Statements(db)
        units = [(i, (statements.insert_incident_row(incident_row(i, source.id)),
                      statements.log(log_row(i, f"text {i}" + "\x00" * (i == 1)))))
                 for i in (1, 2)]
        assert commit_all(db, units) == {1: None, 2: None}
        texts = [e.text for e in m.LogEntry.select().order_by(m.LogEntry.incident)]
        assert texts == ["text 1\ufffd", "text 2"]
    finally:
        db.close()
