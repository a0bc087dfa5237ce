"""The Datadog integration: its documented webhook payloads through the tool route."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import httpx2 as httpx
import pytest

from ilertd.plugins import datadog
from tests import integration_helpers as helpers
from tests.inprocess import InProcessDaemon

AGGREG_KEY = "d3a1f1f3b5c8e2a9f0b1c2d3e4f5a6b7"
TRIGGERED = "datadog_triggered.json"
RECOVERED = "datadog_recovered.json"
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


def send(app: InProcessDaemon, key: str, body: bytes | dict[str, Any],
         headers: dict[str, str] | None = None) -> httpx.Response:
    return helpers.post_payload(app, "datadog", key, body, headers)


def with_transition(transition: str, **changes: str) -> dict[str, Any]:
    body: dict[str, Any] = helpers.fixture_json(TRIGGERED)
    body["alert_transition"] = transition
    body.update(changes)
    return body


def test_triggered_opens_an_incident_keyed_by_the_aggregation_key(app: InProcessDaemon) -> None:
    key = helpers.new_source(app, "DATADOG", priority="LOW")
    (opened,), (incident,) = helpers.post_in_turn(app, "datadog", key, helpers.fixture_bytes(TRIGGERED))
    assert (opened["alertKey"], opened["responseCode"]) == (AGGREG_KEY, "NEW_INCIDENT_CREATED")
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
    key = helpers.new_source(app, "DATADOG")
    (again,), (incident,) = helpers.post_in_turn(app, "datadog", key, helpers.fixture_bytes(TRIGGERED),
                                                 with_transition("Re-Triggered"))
    assert (again["responseCode"], incident["eventCount"]) == ("EVENT_ADDED_TO_INCIDENT", 2)


def test_recovered_resolves_the_incident(app: InProcessDaemon) -> None:
    key = helpers.new_source(app, "DATADOG")
    (resolved,), (incident,) = helpers.post_in_turn(app, "datadog", key, helpers.fixture_bytes(TRIGGERED),
                                                    helpers.fixture_bytes(RECOVERED))
    assert (resolved["responseCode"], incident["status"]) == ("INCIDENT_RESOLVED", "RESOLVED")


def test_a_recovery_of_nothing_open_is_still_accepted(app: InProcessDaemon) -> None:
    key = helpers.new_source(app, "DATADOG")
    (reply,), listed = helpers.post_in_turn(app, "datadog", key, helpers.fixture_bytes(RECOVERED))
    assert reply["responseCode"] == "NO_OPEN_INCIDENT_WITH_KEY" and listed == []


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
    key = helpers.new_source(app, "DATADOG")
    assert send(app, key, with_transition("Warn")).status_code == 202
    (incident,) = helpers.incidents(app)
    assert incident["priority"] == "LOW"


def test_without_alert_transition_the_titles_prefix_decides() -> None:
    body = helpers.fixture_json(RECOVERED)
    del body["alert_transition"]
    assert datadog.parse_body(body)[0].event_type == "RESOLVE"
    body["title"] = "[P2] [Re-No Data on {host:web-1}] Disk"
    assert (datadog.parse_body(body)[0].event_type, datadog.parse_body(body)[0].priority) == ("ALERT", "LOW")


def test_without_an_aggregation_key_the_monitor_and_scope_are_the_key() -> None:
    body = helpers.fixture_json(TRIGGERED)
    del body["aggreg_key"]
    assert datadog.parse_body(body)[0].alert_key == "81234567:host:web-1,env:prod"
    body["alert_scope"] = ""
    assert datadog.parse_body(body)[0].alert_key == "81234567"


def test_encode_as_form_is_read_too(app: InProcessDaemon) -> None:
    key = helpers.new_source(app, "DATADOG")
    fields = {k: v for k, v in helpers.fixture_json(TRIGGERED).items() if isinstance(v, str)}
    reply = send(app, key, urlencode(fields).encode(), FORM_HEADERS)
    assert reply.status_code == 202, reply.text
    (incident,) = helpers.incidents(app)
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
    helpers.assert_malformed(app, "datadog", "DATADOG", body, reason)


def test_the_key_of_another_source_type_is_a_mismatch(app: InProcessDaemon) -> None:
    helpers.assert_type_mismatch(app, "datadog", "GRAFANA", helpers.fixture_bytes(TRIGGERED))
