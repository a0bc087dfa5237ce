"""The UptimeRobot integration: its webhook as JSON, as a form and as a query string."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from ilertd.hookspecs import IntegrationRequest
from ilertd.plugins import uptimerobot
from tests.inprocess import InProcessDaemon

FIXTURES = Path(__file__).parent / "fixtures" / "thirdparty"
JSON_HEADERS = {"Content-Type": "application/json"}
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}
MONITOR_KEY = "uptimerobot-794512345"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict[str, str]:
    return json.loads(fixture_bytes(name))


def new_source(app: InProcessDaemon, integration_type: str = "UPTIMEROBOT") -> str:
    response = app.post("/api/alert-sources", {"name": f"{integration_type} source",
                                               "integrationType": integration_type})
    assert response.status_code == 201, response.text
    return str(response.json()["integrationKey"])


def send(app: InProcessDaemon, key: str, body: bytes, headers: dict[str, str] | None = None,
         query: str = "") -> Any:
    url = f"/api/v1/events/uptimerobot/{key}" + (f"?{query}" if query else "")
    return app.client.post(url, content=body, headers=JSON_HEADERS if headers is None else headers)


def incidents(app: InProcessDaemon) -> list[dict[str, Any]]:
    return sorted(app.get("/api/incidents").json(), key=lambda incident: incident["id"])


def test_down_opens_an_incident_for_the_monitor(app: InProcessDaemon) -> None:
    key = new_source(app)
    opened = send(app, key, fixture_bytes("uptimerobot_down.json"))
    assert opened.status_code == 202, opened.text
    assert [(r["alertKey"], r["responseCode"]) for r in opened.json()] == [
        (MONITOR_KEY, "NEW_INCIDENT_CREATED")]
    (incident,) = incidents(app)
    assert incident["summary"] == "Shop health is DOWN: Connection Timeout"
    assert incident["details"] == ("URL: https://shop.example.com/health\nDetails: Connection Timeout\n"
                                   "At: 2024-05-06 10:15:00 UTC")
    assert incident["priority"] == "HIGH"  # the source's
    assert incident["links"] == [{"href": "https://shop.example.com/health", "text": "Monitored URL"}]
    assert incident["labels"] == {"monitor": "Shop health", "monitorID": "794512345"}
    assert incident["customDetails"]["alertTypeFriendlyName"] == "Down"
    assert "sslExpiryDate" not in incident["customDetails"], "empty variables are left out"


def test_down_again_adds_to_the_open_incident(app: InProcessDaemon) -> None:
    key = new_source(app)
    assert send(app, key, fixture_bytes("uptimerobot_down.json")).status_code == 202
    again = send(app, key, fixture_bytes("uptimerobot_down.json"))
    assert again.status_code == 202 and again.json()[0]["responseCode"] == "EVENT_ADDED_TO_INCIDENT"
    (incident,) = incidents(app)
    assert incident["eventCount"] == 2


def test_up_resolves_the_monitors_incident(app: InProcessDaemon) -> None:
    key = new_source(app)
    assert send(app, key, fixture_bytes("uptimerobot_down.json")).status_code == 202
    resolved = send(app, key, fixture_bytes("uptimerobot_up.json"))
    assert resolved.status_code == 202, resolved.text
    assert resolved.json()[0]["responseCode"] == "INCIDENT_RESOLVED"
    (incident,) = incidents(app)
    assert incident["status"] == "RESOLVED"


def test_monitors_have_incidents_of_their_own(app: InProcessDaemon) -> None:
    key = new_source(app)
    other = fixture_json("uptimerobot_down.json") | {"monitorID": "42", "monitorFriendlyName": "API"}
    assert send(app, key, fixture_bytes("uptimerobot_down.json")).status_code == 202
    assert send(app, key, json.dumps(other).encode()).json()[0]["responseCode"] == "NEW_INCIDENT_CREATED"
    assert send(app, key, fixture_bytes("uptimerobot_up.json")).status_code == 202
    assert [(i["alertKey"], i["status"]) for i in incidents(app)] == [
        (MONITOR_KEY, "RESOLVED"), ("uptimerobot-42", "PENDING")]


def test_a_form_encoded_body_is_read(app: InProcessDaemon) -> None:
    key = new_source(app)
    down = send(app, key, urlencode(fixture_json("uptimerobot_down.json")).encode(), FORM_HEADERS)
    assert down.status_code == 202, down.text
    up = send(app, key, urlencode(fixture_json("uptimerobot_up.json")).encode(), FORM_HEADERS)
    assert up.json()[0]["responseCode"] == "INCIDENT_RESOLVED"
    (incident,) = incidents(app)
    assert incident["alertKey"] == MONITOR_KEY
    assert incident["summary"] == "Shop health is DOWN: Connection Timeout"


def test_query_parameters_are_read(app: InProcessDaemon) -> None:
    key = new_source(app)
    down = send(app, key, b"", {}, query=urlencode(fixture_json("uptimerobot_down.json")))
    assert down.status_code == 202, down.text
    up = send(app, key, b"", {}, query=urlencode(fixture_json("uptimerobot_up.json")))
    assert up.json()[0]["responseCode"] == "INCIDENT_RESOLVED"
    (incident,) = incidents(app)
    assert incident["alertKey"] == MONITOR_KEY


def test_the_body_wins_over_the_query_string() -> None:
    request = IntegrationRequest(body=fixture_bytes("uptimerobot_up.json"), headers=JSON_HEADERS,
                                 query={"alertType": "1", "extra": "kept"})
    fields = uptimerobot.fields(request)
    assert (fields["alertType"], fields["extra"]) == ("2", "kept")
    assert uptimerobot.parse(request)[0].event_type == "RESOLVE"


def test_unquoted_numbers_of_a_json_template_are_read() -> None:
    body = fixture_json("uptimerobot_down.json") | {"monitorID": 794512345, "alertType": 1}
    request = IntegrationRequest(body=json.dumps(body).encode(), headers=JSON_HEADERS, query={})
    (event,) = uptimerobot.parse(request)
    assert (event.event_type, event.alert_key) == ("ALERT", MONITOR_KEY)


def test_an_ssl_expiry_is_a_low_priority_incident_of_its_own(app: InProcessDaemon) -> None:
    key = new_source(app)
    expiry = fixture_json("uptimerobot_down.json") | {
        "alertType": "3", "alertTypeFriendlyName": "SSL Expiry", "alertDetails": "",
        "sslExpiryDate": "2024-06-01", "sslExpiryDaysLeft": "7"}
    assert send(app, key, fixture_bytes("uptimerobot_down.json")).status_code == 202
    assert send(app, key, json.dumps(expiry).encode()).status_code == 202
    assert send(app, key, fixture_bytes("uptimerobot_up.json")).status_code == 202
    down, ssl = incidents(app)
    assert (down["status"], ssl["status"]) == ("RESOLVED", "PENDING"), "up does not resolve the SSL warning"
    assert (ssl["alertKey"], ssl["priority"]) == (f"{MONITOR_KEY}:ssl", "LOW")
    assert ssl["summary"] == "Shop health: SSL certificate expires soon"
    assert "SSL expiry: 2024-06-01 (7 days left)" in ssl["details"]


def test_the_friendly_type_names_serve_without_alert_type() -> None:
    body = fixture_json("uptimerobot_up.json")
    del body["alertType"]
    request = IntegrationRequest(body=json.dumps(body).encode(), headers=JSON_HEADERS, query={})
    assert uptimerobot.parse(request)[0].event_type == "RESOLVE"


@pytest.mark.parametrize(("body", "headers", "reason"), [
    (b"{not json", JSON_HEADERS, "not valid JSON"),
    (b"[1, 2]", JSON_HEADERS, "must be a JSON object"),
    (b"", {}, "no UptimeRobot fields"),
    (b"hello there", {}, "no UptimeRobot fields"),
    (json.dumps({"monitorID": "1", "alertType": "9"}).encode(), JSON_HEADERS, "alertType must be 1 (down)"),
    (json.dumps({"alertType": "1", "alertDetails": "x"}).encode(), JSON_HEADERS, "monitorID is missing"),
    (json.dumps({"monitorID": {"id": 1}, "alertType": "1"}).encode(), JSON_HEADERS,
     "monitorID must be a string"),
    (b"monitorID=1&alertType=down", FORM_HEADERS, "alertType must be 1 (down)"),
])
def test_a_malformed_body_is_refused_and_nothing_is_stored(app: InProcessDaemon, body: bytes,
                                                           headers: dict[str, str], reason: str) -> None:
    key = new_source(app)
    reply = send(app, key, body, headers)
    assert reply.status_code == 400, reply.text
    assert reply.json()["code"] == "INVALID_PAYLOAD"
    assert reason in reply.json()["message"]
    assert incidents(app) == []


def test_the_key_of_another_source_type_is_a_mismatch(app: InProcessDaemon) -> None:
    key = new_source(app, "WEBHOOK")
    reply = send(app, key, fixture_bytes("uptimerobot_down.json"))
    assert reply.status_code == 400 and reply.json()["code"] == "INTEGRATION_TYPE_MISMATCH"
    assert incidents(app) == []
