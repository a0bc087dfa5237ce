"""Poison input is a clear 400 (never a 5xx) and changes nothing: deep nesting, lone surrogates,
huge ids and numbers, far dates; bodies are bounded on every route and read only after auth."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ilertd import hookimpl
from ilertd.domain.events import Event
from ilertd.hookspecs import Integration, IntegrationRequest
from tests.inprocess import InProcessDaemon

DEEP = "[" * 5000 + "]" * 5000
LONE_SURROGATE = '"\\ud800"'


class Snapshots:
    """Every row of every table, read beside the daemon through a connection of its own (but the
    daemon's `node` row, whose last-seen time it refreshes every few seconds whatever it is asked),
    each read in one read transaction. The connection stays open for a run of reads: a new one
    parses the whole schema again at its first query, half of the route fuzz's time."""

    def __init__(self, app: InProcessDaemon) -> None:
        self.app = app
        self.connection = sqlite3.connect(app.data_dir / "ilertd.db", isolation_level=None)

    def take(self) -> dict[str, list[tuple[Any, ...]]]:
        self.app.quiet()
        connection = self.connection
        connection.execute("BEGIN")
        try:
            tables = [name for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'node' ORDER BY name")]
            return {table: sorted(connection.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)
                    for table in tables}
        finally:
            connection.execute("COMMIT")

    def close(self) -> None:
        self.connection.close()


def snapshot(app: InProcessDaemon) -> dict[str, list[tuple[Any, ...]]]:
    """One `Snapshots.take` on a connection of its own."""
    snapshots = Snapshots(app)
    try:
        return snapshots.take()
    finally:
        snapshots.close()


@pytest.fixture
def small(tmp_path: Path) -> Iterator[InProcessDaemon]:
    """An in-process daemon whose bodies are limited to 4 KiB."""
    config = tmp_path / "ilertd.toml"
    config.write_text("[server]\nmax_body_bytes = 4096\n")
    running = InProcessDaemon(tmp_path / "small", config=config).start()
    yield running
    running.stop()


def raw(app: InProcessDaemon, method: str, path: str, content: bytes | str, token: bool = True,
        content_type: str = "application/json") -> Any:
    headers = {"Content-Type": content_type, **(app.auth() if token else {})}
    return app.client.request(method, path, content=content, headers=headers)


def test_json_nested_thousands_deep_is_a_400_everywhere(app: InProcessDaemon) -> None:
    before = snapshot(app)
    for method, path, token in [("POST", "/api/events", False), ("POST", "/v2/enqueue", False),
                                ("POST", f"/api/v1/events/api/{app.integration_key}", False),
                                ("POST", "/api/users", True), ("POST", "/api/escalation-policies", True)]:
        body = DEEP if "events" in path and "v1" not in path else '{"a": ' + DEEP + "}"
        reply = raw(app, method, path, body, token=token)
        assert reply.status_code == 400, (path, reply.text)
        assert "nested" in reply.text, reply.text
    deep_but_parsable = "[" * 70 + "]" * 70
    reply = raw(app, "POST", "/api/users", '{"username": "x", "firstName": ' + deep_but_parsable + "}")
    assert reply.status_code == 400 and reply.json()["code"] == "INVALID_JSON"
    assert snapshot(app) == before


@pytest.mark.parametrize("where", ["summary", "alertKey", "details", "customDetails-key", "labels-value"])
def test_a_lone_surrogate_in_any_string_of_an_event_is_a_400_not_a_retry(app: InProcessDaemon,
                                                                          where: str) -> None:
    body: dict[str, Any] = {"integrationKey": app.integration_key, "eventType": "ALERT", "summary": "s",
                            "alertKey": "k"}
    if where == "customDetails-key":
        text = json.dumps(body)[:-1] + f', "customDetails": {{{LONE_SURROGATE}: 1}}}}'
    elif where == "labels-value":
        text = json.dumps(body)[:-1] + f', "labels": {{"a": {LONE_SURROGATE}}}}}'
    else:
        body[where] = "PLACEHOLDER"
        text = json.dumps(body).replace('"PLACEHOLDER"', LONE_SURROGATE)
    before = snapshot(app)
    for path in ("/api/events", f"/api/v1/events/api/{app.integration_key}"):
        reply = raw(app, "POST", path, text, token=False)
        assert reply.status_code == 400, reply.text
        assert "surrogate" in reply.json()["message"]
    pagerduty = {"routing_key": app.integration_key, "event_action": "trigger",
                 "payload": {"summary": "PLACEHOLDER", "source": "x", "severity": "critical"}}
    reply = raw(app, "POST", "/v2/enqueue", json.dumps(pagerduty).replace('"PLACEHOLDER"', LONE_SURROGATE),
                token=False)
    assert reply.status_code == 400, reply.text
    assert snapshot(app) == before


@pytest.mark.parametrize("surrogate", [b"\xed\xa0\x80", b"\xed\xb0\x80"], ids=["high", "low"])
def test_a_surrogate_written_as_utf8_bytes_is_a_400_not_a_retry(app: InProcessDaemon,
                                                                 surrogate: bytes) -> None:
    """Bytes that would decode to a lone surrogate (not UTF-8, though Python's json.loads reads them)."""
    before = snapshot(app)
    event = b'{"integrationKey": "%s", "eventType": "ALERT", "summary": "disk %s full"}' % (
        app.integration_key.encode(), surrogate)
    # Said once, with where: the reason used to repeat "the body is not".
    def said(body: bytes) -> str:
        return ("the body is not valid JSON: its bytes are not UTF-8: invalid continuation byte"
                f" at byte {body.index(surrogate)}")

    for path in ("/api/events", f"/api/v1/events/api/{app.integration_key}"):
        reply = raw(app, "POST", path, event, token=False)
        assert reply.status_code == 400, reply.text
        assert reply.json()["message"] == said(event), reply.text
    user = b'{"username": "ann", "firstName": "a%s"}' % surrogate
    reply = raw(app, "POST", "/api/users", user)
    assert reply.status_code == 400 and reply.json()["code"] == "INVALID_JSON", reply.text
    assert reply.json()["message"] == said(user), reply.text
    assert snapshot(app) == before


def test_a_lone_surrogate_in_an_admin_body_is_a_400(app: InProcessDaemon) -> None:
    before = snapshot(app)
    reply = raw(app, "POST", "/api/users", f'{{"username": "ann", "firstName": {LONE_SURROGATE}}}')
    assert reply.status_code == 400 and reply.json()["code"] == "INVALID_JSON"
    assert snapshot(app) == before


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "1" * 400, "-" + "9" * 310])
def test_numbers_no_json_reader_accepts_back_are_refused(app: InProcessDaemon, number: str) -> None:
    body = {"integrationKey": app.integration_key, "eventType": "ALERT", "summary": "s"}
    text = json.dumps(body)[:-1] + f', "customDetails": {{"n": {number}}}}}'
    reply = raw(app, "POST", "/api/events", text, token=False)
    assert reply.status_code == 400, reply.text


def test_an_integer_past_64_bits_is_served_as_it_was_sent(app: InProcessDaemon) -> None:
    """Stored exactly, 2**64 was read back as 1.8446744073709552e+19."""
    body = {"integrationKey": app.integration_key, "eventType": "ALERT", "summary": "s"}
    text = json.dumps(body)[:-1] + f', "customDetails": {{"n": 18446744073709551616, "m": -{"9" * 300}}}}}'

    reply = raw(app, "POST", "/api/events", text, token=False)
    assert reply.status_code == 202, reply.text
    served = app.client.get(f"/api/incidents/{reply.json()['incidentId']}", headers=app.auth()).text
    assert '"n":18446744073709551616' in served and f'"m":-{"9" * 300}' in served


@pytest.mark.parametrize("path", [
    "/api/incidents/9223372036854775808", "/api/users/99999999999999999999999",
    "/api/schedules/9223372036854775808", "/api/schedules/9223372036854775808.ics",
    "/api/users/9223372036854775808/shifts.ics", "/api/alert-sources/18446744073709551616",
    "/api/incidents/%C2%B2",
])
def test_ids_beyond_64_bits_in_paths_are_not_found(app: InProcessDaemon, path: str) -> None:
    reply = app.get(path)
    assert reply.status_code in (401, 404), reply.text
    if "ics" not in path:
        assert reply.status_code == 404
        assert reply.json()["code"] == "NOT_FOUND"


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/escalation-policies", {"name": "x", "escalationRules": [{"escalationTimeout": 5,
                                                                   "users": [{"id": 2**63}]}]}, None),
    ("/api/alert-sources", {"name": "x", "integrationType": "API", "escalationPolicy": {"id": 2**64}},
     "escalationPolicy"),
    ("/api/users/1/notification-preferences/alerts", {"method": "EMAIL", "contact": {"id": 2**70},
                                                       "delayMin": 0, "type": "HIGH_PRIORITY"}, "contact"),
    ("/api/users/1/notification-preferences/alerts",
     {"method": "EMAIL", "contact": {"id": 1}, "delayMin": 2**64, "type": "HIGH_PRIORITY"}, "delayMin"),
    ("/api/users", {"username": "ann", "mutedUntil": "9999-12-31T23:59:59Z"}, "mutedUntil"),
    ("/api/users", {"username": "ann", "mutedUntil": "0001-01-01T00:00:00+01:00"}, "mutedUntil"),
    ("/api/schedules", {"name": "x", "type": "RECURRING", "timezone": "UTC", "scheduleLayers": [
        {"name": "l", "users": [{"id": 1}], "rotation": "P1D", "startsOn": "9999-12-31T00:00"}]},
     "scheduleLayers[0].startsOn"),
    ("/api/schedules", {"name": "x", "type": "RECURRING", "timezone": "UTC", "scheduleLayers": [
        {"name": "l", "users": [{"id": 1}], "rotation": "P99999999999D", "startsOn": "2026-01-05T00:00"}]},
     "scheduleLayers[0].rotation"),
    ("/api/schedules", {"name": "x", "type": "STATIC", "timezone": "UTC", "shifts": [
        {"user": {"id": 1}, "start": "2026-01-05T00:00:00Z", "end": "9999-12-31T23:59:59Z"}]}, None),
    ("/api/_clock", {"advance": "P99999999999D"}, "advance"),
    ("/api/_clock", {"set": "9999-12-31T23:59:59Z"}, "set"),
])
def test_huge_ids_numbers_and_far_dates_in_bodies_are_400(app: InProcessDaemon, path: str,
                                                          body: dict[str, Any], field: str | None) -> None:
    before = snapshot(app)
    reply = app.post(path, body)
    assert reply.status_code == 400, reply.text
    if field is not None:
        assert reply.json()["field"] == field, reply.text
    assert snapshot(app) == before


@pytest.mark.parametrize("query", [
    {"sources": "9223372036854775808"}, {"sources": "1,²"}, {"max-results": "²"},
    {"start-index": "99999999999999999999999"}, {"from": "9999-12-31T23:59:59Z"},
    {"until": "0001-01-01T00:00:00+05:00"},
])
def test_huge_numbers_and_far_dates_in_queries_are_400(app: InProcessDaemon, query: dict[str, str]) -> None:
    reply = app.get("/api/incidents", params=query)
    assert reply.status_code == 400, reply.text
    assert reply.json()["code"] == "INVALID_FIELD"


def test_schedule_windows_far_away_are_400(app: InProcessDaemon) -> None:
    layer = {"name": "l", "users": [{"id": 1}], "rotation": "P1D", "startsOn": "2026-01-05T00:00"}
    created = app.post("/api/schedules", {"name": "x", "type": "RECURRING", "timezone": "UTC",
                                          "scheduleLayers": [layer]})
    assert created.status_code == 201, created.text
    for path, params in [("/api/schedules/1/shifts", {"from": "9999-12-31T00:00:00Z"}),
                         ("/api/schedules/1/user-on-call", {"at": "9999-12-31T23:59:59Z"}),
                         ("/api/on-calls", {"from": "2999-12-31T00:00:00Z",
                                            "until": "9999-01-01T00:00:00Z"})]:
        reply = app.get(path, params=params)
        assert reply.status_code == 400, (path, reply.text)


def test_every_route_bounds_its_body_by_max_body_bytes(small: InProcessDaemon) -> None:
    before = snapshot(small)
    big = '{"username": "ann", "firstName": "' + "x" * 5000 + '"}'
    for method, path in [("POST", "/api/users"), ("PUT", "/api/users/1"), ("POST", "/api/schedules"),
                         ("PUT", "/api/incidents/1/escalate"), ("POST", "/api/escalation-policies"),
                         ("POST", "/api/users/1/contacts")]:
        reply = raw(small, method, path, big)
        assert reply.status_code == 413, (path, reply.text)
        assert reply.json()["code"] == "BODY_TOO_LARGE"
    # Streamed without a declared length, too.
    chunks = iter([big.encode()[:3000], big.encode()[3000:]])
    streamed = small.client.request("POST", "/api/users", content=chunks, headers=small.auth())
    assert streamed.status_code == 413
    # A web UI form too: its error page, not the JSON envelope.
    form = raw(small, "POST", "/ui/login", "username=ann&password=" + "x" * 5000, token=False,
               content_type="application/x-www-form-urlencoded")
    assert form.status_code == 413 and form.headers["content-type"].startswith("text/html"), form.text
    assert "4096" in form.text, form.text
    assert snapshot(small) == before


@pytest.mark.parametrize(("method", "path"), [
    ("PUT", "/api/incidents/1/escalate"), ("POST", "/api/users"), ("PUT", "/api/users/1"),
    ("POST", "/api/incidents/1/comments"), ("POST", "/api/_clock"),
])
def test_the_token_is_checked_before_the_body(small: InProcessDaemon, method: str, path: str) -> None:
    for body in ("{not json", "x" * 10_000):
        reply = raw(small, method, path, body, token=False)
        assert reply.status_code == 401, (path, reply.text)
        assert reply.json()["code"] == "UNAUTHORIZED"


def test_a_user_may_put_back_their_unchanged_role(app: InProcessDaemon) -> None:
    created = app.post("/api/users", {"username": "ann", "email": "ann@example.com"})
    ann = created.json()["id"]
    token = app.post(f"/api/users/{ann}/tokens", {"name": "t"}).json()["token"]
    profile = app.get("/api/users/current", token=token).json()
    profile["firstName"] = "Ann"
    updated = app.put(f"/api/users/{ann}", profile, token=token)
    assert updated.status_code == 200, updated.text
    assert updated.json()["firstName"] == "Ann"
    assert updated.json()["role"] == "USER"
    promoted = app.put(f"/api/users/{ann}", {**profile, "role": "ADMIN"}, token=token)
    assert promoted.status_code == 403
    assert promoted.json()["field"] == "role"
    assert app.get(f"/api/users/{ann}").json()["role"] == "USER"


# --- a plugin that reads form bodies --------------------------------------------------------------


class FormPlugin:
    """A third party's integration for a tool that posts HTML forms."""

    @staticmethod
    def parse(request: IntegrationRequest) -> list[Event]:
        form = request.form()
        event_type = {"PROBLEM": "ALERT", "OK": "RESOLVE"}[form["state"]]
        return [Event(event_type=event_type, alert_key=form["host"],  # type: ignore[arg-type]
                      summary=f"{form['host']} is {form['state']}")]

    @hookimpl
    def register_integrations(self) -> list[Integration]:
        return [Integration(name="formtool", integration_type="API", parse=self.parse,
                            accepts_any_source=True)]


def test_a_form_encoded_payload_reaches_its_integration_and_is_stored_raw(app: InProcessDaemon) -> None:
    assert app.daemon.plugins is not None
    app.daemon.plugins.register(FormPlugin(), "formtool")
    reply = app.client.post(f"/api/v1/events/formtool/{app.integration_key}",
                            content="host=db1&state=PROBLEM",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 202, reply.text
    incident_id = reply.json()[0]["incidentId"]
    assert app.get(f"/api/incidents/{incident_id}").json()["summary"] == "db1 is PROBLEM"
    app.quiet()
    connection = sqlite3.connect(app.data_dir / "ilertd.db")
    try:
        (payload,) = connection.execute("SELECT payload FROM event WHERE incident_id = ?",
                                        (incident_id,)).fetchone()
    finally:
        connection.close()
    assert json.loads(payload) == "host=db1&state=PROBLEM"
    resolved = app.client.post(f"/api/v1/events/formtool/{app.integration_key}",
                               data={"host": "db1", "state": "OK"})
    assert resolved.status_code == 202, resolved.text
    assert app.get(f"/api/incidents/{incident_id}").json()["status"] == "RESOLVED"


def test_an_alert_source_may_be_put_back_with_its_unchanged_key(app: InProcessDaemon) -> None:
    source = app.get("/api/alert-sources/1").json()
    source["name"] = "renamed"
    updated = app.put("/api/alert-sources/1", source)
    assert updated.status_code == 200, updated.text
    assert updated.json()["name"] == "renamed"
    changed = app.put("/api/alert-sources/1", {**source, "integrationKey": "mine"})
    assert changed.status_code == 400
    assert changed.json()["field"] == "integrationKey"
    assert app.get("/api/alert-sources/1").json()["integrationKey"] == source["integrationKey"]
