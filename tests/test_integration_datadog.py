"""The Datadog integration: its documented webhook payloads through the tool route."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from ilertd.plugins import datadog
from tests.inprocess import InProcessDaemon

FIXTURES = Path(__file__).parent / "fixtures" / "thirdparty"
JSON_HEADERS = {"Content-Type": "application/json"}
AGGREG_KEY = "d3a1f1f3b5c8e2a9f0b1c2d3e4f5a6b7"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict[str, Any]:
    return json.loads(fixture_bytes(name))


def new_source(app: InProcessDaemon, integration_type: str = "DATADOG", priority: str = "HIGH") -> str:
    response = app.post("/api/alert-sources", {"name": f"{integration_type} source",
                                               "integrationType": integration_type, "priority": priority})
    assert response.status_code == 201, response.text
    return str(response.json()["integrationKey"])


def send(app: InProcessDaemon, key: str, body: bytes | dict[str, Any]) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return app.client.post(f"/api/v1/events/datadog/{key}", content=content, headers=JSON_HEADERS)


def incidents(app: InProcessDaemon) -> list[dict[str, Any]]:
    return sorted(app.get("/api/incidents").json(), key=lambda incident: incident["id"])


def with_transition(transition: str, **changes: str) -> dict[str, Any]:
    body = fixture_json("datadog_triggered.json")
    body["alert_transition"] = transition
    body.update(changes)
    return body


def test_triggered_opens_an_incident_keyed_by_the_aggregation_key(app: InProcessDaemon) -> None:
    key = new_source(app, priority="LOW")
    opened = send(app, key, fixture_bytes("datadog_triggered.json"))
    assert opened.status_code == 202, opened.text
    assert [(r["alertKey"], r["responseCode"]) for r in opened.json()] == [
        (AGGREG_KEY, "NEW_INCIDENT_CREATED")]
    (incident,) = incidents(app)
    assert incident["summary"] == "[Triggered on {host:web-1,env:prod}] High CPU on web-1"
    assert incident["details"] == ("CPU usage above 90% for 5 minutes on web-1 @webhook-ilertd\n\n"
                                   "system.cpu.user over env:prod,host:web-1 was > 90.0 on average during "
                                   "the last 5m.")
    # $ALERT_PRIORITY P1 beats the source's LOW.
    assert incident["priority"] == "HIGH"
    assert incident["links"] == [{"href": "https://app.datadoghq.com/event/event?id=7194462134513221345",
                                  "text": "Datadog"}]
    assert incident["labels"] == {"env": "prod", "host": "web-1", "monitor": "", "service": "checkout"}
    assert incident["customDetails"]["alert_id"] == "81234567"
    assert incident["customDetails"]["org"] == {"id": "1122334", "name": "Example Corp"}


def test_the_same_trigger_again_adds_to_the_open_incident(app: InProcessDaemon) -> None:
    key = new_source(app)
    assert send(app, key, fixture_bytes("datadog_triggered.json")).status_code == 202
    again = send(app, key, with_transition("Re-Triggered"))
    assert again.status_code == 202, again.text
    assert again.json()[0]["responseCode"] == "EVENT_ADDED_TO_INCIDENT"
    (incident,) = incidents(app)
    assert incident["eventCount"] == 2


def test_recovered_resolves_the_incident(app: InProcessDaemon) -> None:
    key = new_source(app)
    assert send(app, key, fixture_bytes("datadog_triggered.json")).status_code == 202
    resolved = send(app, key, fixture_bytes("datadog_recovered.json"))
    assert resolved.status_code == 202, resolved.text
    assert resolved.json()[0]["responseCode"] == "INCIDENT_RESOLVED"
    (incident,) = incidents(app)
    assert incident["status"] == "RESOLVED"


def test_a_recovery_of_nothing_open_is_still_accepted(app: InProcessDaemon) -> None:
    key = new_source(app)
    reply = send(app, key, fixture_bytes("datadog_recovered.json"))
    assert reply.status_code == 202 and reply.json()[0]["responseCode"] == "NO_OPEN_INCIDENT_WITH_KEY"
    assert incidents(app) == []


@pytest.mark.parametrize(("transition", "event_type", "priority"), [
    ("Triggered", "ALERT", "HIGH"),
    ("Re-Triggered", "ALERT", "HIGH"),
    ("Renotify", "ALERT", "HIGH"),
    ("Warn", "ALERT", "LOW"),
    ("Re-Warn", "ALERT", "LOW"),
    ("No Data", "ALERT", "LOW"),
    ("Re-No Data", "ALERT", "LOW"),
    ("Recovered", "RESOLVE", None),
    ("recovered", "RESOLVE", None),
])
def test_each_transition_maps_to_an_event(transition: str, event_type: str, priority: str | None) -> None:
    (event,) = datadog.parse_body(with_transition(transition))
    assert (event.event_type, event.priority) == (event_type, priority)


@pytest.mark.parametrize(("alert_priority", "expected"), [
    ("P1", "HIGH"), ("P2", "HIGH"), ("P3", "LOW"), ("P5", "LOW"), ("", None), ("$ALERT_PRIORITY", None),
])
def test_the_monitor_priority_sets_the_priority(alert_priority: str, expected: str | None) -> None:
    (event,) = datadog.parse_body(with_transition("Triggered", alert_priority=alert_priority))
    assert event.priority == expected


def test_warn_pages_at_low_priority_through_the_route(app: InProcessDaemon) -> None:
    key = new_source(app)
    assert send(app, key, with_transition("Warn")).status_code == 202
    (incident,) = incidents(app)
    assert incident["priority"] == "LOW"


def test_without_alert_transition_the_titles_prefix_decides() -> None:
    body = fixture_json("datadog_recovered.json")
    del body["alert_transition"]
    assert datadog.parse_body(body)[0].event_type == "RESOLVE"
    body["title"] = "[P2] [Re-No Data on {host:web-1}] Disk"
    assert (datadog.parse_body(body)[0].event_type, datadog.parse_body(body)[0].priority) == ("ALERT", "LOW")


def test_without_an_aggregation_key_the_monitor_and_scope_are_the_key() -> None:
    body = fixture_json("datadog_triggered.json")
    del body["aggreg_key"]
    assert datadog.parse_body(body)[0].alert_key == "81234567:host:web-1,env:prod"
    body["alert_scope"] = ""
    assert datadog.parse_body(body)[0].alert_key == "81234567"


def test_encode_as_form_is_read_too(app: InProcessDaemon) -> None:
    key = new_source(app)
    fields = {k: v for k, v in fixture_json("datadog_triggered.json").items() if isinstance(v, str)}
    reply = app.client.post(f"/api/v1/events/datadog/{key}", content=urlencode(fields).encode(),
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 202, reply.text
    (incident,) = incidents(app)
    assert (incident["alertKey"], incident["summary"]) == (AGGREG_KEY, fields["title"])


@pytest.mark.parametrize(("body", "reason"), [
    (b"not json", "not valid JSON"),
    (b'["Triggered"]', "must be a JSON object"),
    (json.dumps(with_transition("Exploded")).encode(), "unknown alert_transition 'Exploded'"),
    (json.dumps({"title": "High CPU", "aggreg_key": "k"}).encode(), "no alert_transition"),
    (json.dumps({"alert_transition": "Triggered", "title": "High CPU"}).encode(), "no alert key"),
    (json.dumps(with_transition("Triggered", aggreg_key="k" * 300)).encode(), "at most 255"),
    (json.dumps({**with_transition("Triggered"), "title": {"nested": 1}}).encode(), "title must be a string"),
])
def test_a_malformed_body_is_refused_and_nothing_is_stored(app: InProcessDaemon, body: bytes,
                                                           reason: str) -> None:
    key = new_source(app)
    reply = send(app, key, body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["code"] == "INVALID_PAYLOAD"
    assert reason in reply.json()["message"]
    assert incidents(app) == []


def test_the_key_of_another_source_type_is_a_mismatch(app: InProcessDaemon) -> None:
    key = new_source(app, "GRAFANA")
    reply = send(app, key, fixture_bytes("datadog_triggered.json"))
    assert reply.status_code == 400 and reply.json()["code"] == "INTEGRATION_TYPE_MISMATCH"
    assert incidents(app) == []
