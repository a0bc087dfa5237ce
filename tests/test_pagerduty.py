"""The PagerDuty Events API v2 shim: mapping, dedup, severities, and PagerDuty's reply bodies."""

from __future__ import annotations

from typing import Any

import pytest

from ilertd.plugins.pagerduty import InvalidPagerDutyEvent, parse_enqueue
from tests.inprocess import InProcessDaemon


def trigger(
    key: str, dedup: str | None = "disk-db1", severity: str = "critical", **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routing_key": key, "event_action": "trigger",
        "payload": {"summary": "db1 disk 95%", "source": "db1.example.com", "severity": severity,
                    "component": "postgres", "group": "prod-db", "class": "disk",
                    "custom_details": {"free": "5%"}},
        **extra,
    }
    if dedup is not None:
        body["dedup_key"] = dedup
    return body


def test_trigger_acknowledge_resolve_map_to_an_incident(app: InProcessDaemon) -> None:
    key = app.integration_key
    opened = app.client.post("/v2/enqueue", json=trigger(
        key, links=[{"href": "https://runbook.example/db", "text": "runbook"}],
        images=[{"src": "https://graph.example/p.png", "alt": "graph"}],
        client="Grafana", client_url="https://grafana.example/a/1"))
    assert opened.status_code == 202
    assert opened.json() == {"status": "success", "message": "Event processed", "dedup_key": "disk-db1"}
    incident = app.get("/api/incidents").json()[0]
    assert incident["summary"] == "db1 disk 95%"
    assert incident["alertKey"] == "disk-db1"
    assert incident["priority"] == "HIGH"
    assert incident["labels"] == {"source": "db1.example.com", "severity": "critical",
                                  "component": "postgres", "group": "prod-db", "class": "disk"}
    assert incident["customDetails"] == {"free": "5%"}
    assert incident["links"] == [{"href": "https://runbook.example/db", "text": "runbook"},
                                 {"href": "https://grafana.example/a/1", "text": "Grafana"}]
    assert incident["images"] == [{"src": "https://graph.example/p.png", "alt": "graph"}]

    again = app.client.post("/v2/enqueue", json=trigger(key, dedup="DISK-db1"))
    assert again.status_code == 202
    assert len(app.get("/api/incidents").json()) == 1
    assert app.get(f"/api/incidents/{incident['id']}").json()["eventCount"] == 2

    ack = app.client.post("/v2/enqueue", json={"routing_key": key, "event_action": "acknowledge",
                                                   "dedup_key": "disk-db1"})
    assert ack.status_code == 202 and ack.json()["dedup_key"] == "disk-db1"
    assert app.get(f"/api/incidents/{incident['id']}").json()["status"] == "ACCEPTED"
    resolve = app.client.post("/v2/enqueue", json={"routing_key": key, "event_action": "resolve",
                                                       "dedup_key": "disk-db1"})
    assert resolve.status_code == 202
    assert app.get(f"/api/incidents/{incident['id']}").json()["status"] == "RESOLVED"
    assert "RESOLVED" in app.log_types(incident["id"])


def test_acknowledge_or_resolve_with_nothing_open_is_accepted_and_dropped(app: InProcessDaemon) -> None:
    for action in ("acknowledge", "resolve"):
        reply = app.client.post("/v2/enqueue", json={
            "routing_key": app.integration_key, "event_action": action, "dedup_key": "never-opened"})
        assert reply.status_code == 202
        assert reply.json() == {"status": "success", "message": "Event processed",
                                "dedup_key": "never-opened"}
    assert app.get("/api/incidents").json() == []


def test_trigger_without_dedup_key_gets_one(app: InProcessDaemon) -> None:
    first = app.client.post("/v2/enqueue", json=trigger(app.integration_key, dedup=None)).json()
    second = app.client.post("/v2/enqueue", json=trigger(app.integration_key, dedup=None)).json()
    assert first["dedup_key"] and first["dedup_key"] != second["dedup_key"]
    assert len(app.get("/api/incidents").json()) == 2


@pytest.mark.parametrize(("severity", "priority"), [
    ("critical", "HIGH"), ("error", "HIGH"), ("warning", "LOW"), ("info", "LOW"),
])
def test_severity_maps_to_priority(severity: str, priority: str) -> None:
    _key, event = parse_enqueue(trigger("k", severity=severity))
    assert event.priority == priority
    assert event.event_type == "ALERT"


def test_invalid_events_get_pagerdutys_400_body_and_change_nothing(app: InProcessDaemon) -> None:
    key = app.integration_key
    cases: list[tuple[Any, str]] = [
        ({"event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "info"}},
         "'routing_key' is missing or blank"),
        ({"routing_key": key, "event_action": "explode"}, "'event_action' must be one of"),
        ({"routing_key": key, "event_action": "trigger"}, "'payload' is missing"),
        (trigger(key, severity="fatal"), "'payload.severity' must be one of"),
        ({"routing_key": key, "event_action": "resolve"}, "'dedup_key' is required for resolve"),
        ({"routing_key": key, "event_action": "trigger", "payload": {"severity": "info"}},
         "'payload.summary' is missing or blank"),
        (trigger("not-a-key"), "not the integration key"),
        ({**trigger(key), "dedup_key": 42}, "'dedup_key' must be a string"),
        ({**trigger(key), "payload": {**trigger(key)["payload"], "summary": ["disk", "full"]}},
         "'payload.summary' must be a string"),
        ([1, 2], "must be a JSON object"),
    ]
    for body, error in cases:
        reply = app.client.post("/v2/enqueue", json=body)
        assert reply.status_code == 400, (body, reply.text)
        document = reply.json()
        assert document["status"] == "invalid event"
        assert document["message"] == "Event object is invalid"
        assert any(error in e for e in document["errors"]), (error, document["errors"])
    # Every problem is listed at once, as PagerDuty does.
    many = app.client.post("/v2/enqueue", json={"routing_key": key, "event_action": "trigger",
                                                   "payload": {}}).json()
    assert len(many["errors"]) == 3
    not_json = app.client.post("/v2/enqueue", content=b"{oops",
                                  headers={"content-type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["status"] == "invalid event"
    assert app.get("/api/incidents").json() == []


def test_parse_collects_every_error() -> None:
    with pytest.raises(InvalidPagerDutyEvent) as caught:
        parse_enqueue({"routing_key": "", "event_action": "acknowledge",
                       "links": "nope", "images": [{"alt": "no src"}]})
    assert caught.value.errors == [
        "'routing_key' is missing or blank",
        "'dedup_key' is required for acknowledge",
        "'links' must be an array",
        "'images[0].src' is missing or not a string",
    ]
