"""The UptimeRobot integration: its webhook as JSON, as a form and as a query string."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import httpx2 as httpx
import pytest

from ilertd.hookspecs import IntegrationRequest
from ilertd.plugins import uptimerobot
from tests import integration_helpers as helpers
from tests.inprocess import InProcessDaemon

JSON_HEADERS = helpers.JSON_HEADERS
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}
MONITOR_KEY = "uptimerobot-794512345"
DOWN = "uptimerobot_down.json"
UP = "uptimerobot_up.json"


def send(app: InProcessDaemon, key: str, body: bytes, headers: dict[str, str] | None = None,
         query: str = "") -> httpx.Response:
    return helpers.post_payload(app, "uptimerobot", key, body, headers, query)


def test_down_opens_an_incident_for_the_monitor(app: InProcessDaemon) -> None:
    key = helpers.new_source(app, "UPTIMEROBOT")
    (opened,), (incident,) = helpers.post_in_turn(app, "uptimerobot", key, helpers.fixture_bytes(DOWN))
    assert (opened["alertKey"], opened["responseCode"]) == (MONITOR_KEY, "NEW_INCIDENT_CREATED")
    assert incident["summary"] == "Shop health is DOWN: Connection Timeout"
    assert incident["details"] == ("URL: https://shop.example.com/health\nDetails: Connection Timeout\n"
                                   "At: 2024-05-06 10:15:00 UTC")
    assert incident["priority"] == "HIGH"  # the source's
    assert incident["links"] == [{"href": "https://shop.example.com/health", "text": "Monitored URL"}]
    assert incident["labels"] == {"monitor": "Shop health", "monitorID": "794512345"}
    assert incident["customDetails"]["alertTypeFriendlyName"] == "Down"
    assert "sslExpiryDate" not in incident["customDetails"], "empty variables are left out"


def test_down_again_adds_to_the_open_incident(app: InProcessDaemon) -> None:
    key, down = helpers.new_source(app, "UPTIMEROBOT"), helpers.fixture_bytes(DOWN)
    (again,), (incident,) = helpers.post_in_turn(app, "uptimerobot", key, down, down)
    assert again["responseCode"] == "EVENT_ADDED_TO_INCIDENT"
    assert incident["eventCount"] == 2


def test_up_resolves_the_monitors_incident(app: InProcessDaemon) -> None:
    key = helpers.new_source(app, "UPTIMEROBOT")
    (resolved,), (incident,) = helpers.post_in_turn(app, "uptimerobot", key, helpers.fixture_bytes(DOWN),
                                                    helpers.fixture_bytes(UP))
    assert resolved["responseCode"] == "INCIDENT_RESOLVED"
    assert incident["status"] == "RESOLVED"


def test_monitors_have_incidents_of_their_own(app: InProcessDaemon) -> None:
    key = helpers.new_source(app, "UPTIMEROBOT")
    other = helpers.fixture_json(DOWN) | {"monitorID": "42", "monitorFriendlyName": "API"}
    assert send(app, key, helpers.fixture_bytes(DOWN)).status_code == 202
    assert send(app, key, json.dumps(other).encode()).json()[0]["responseCode"] == "NEW_INCIDENT_CREATED"
    assert send(app, key, helpers.fixture_bytes(UP)).status_code == 202
    assert [(i["alertKey"], i["status"]) for i in helpers.incidents(app)] == [
        (MONITOR_KEY, "RESOLVED"), ("uptimerobot-42", "PENDING")]


def test_a_form_encoded_body_is_read(app: InProcessDaemon) -> None:
    key = helpers.new_source(app, "UPTIMEROBOT")
    down = send(app, key, urlencode(helpers.fixture_json(DOWN)).encode(), FORM_HEADERS)
    assert down.status_code == 202, down.text
    up = send(app, key, urlencode(helpers.fixture_json(UP)).encode(), FORM_HEADERS)
    assert up.json()[0]["responseCode"] == "INCIDENT_RESOLVED"
    (incident,) = helpers.incidents(app)
    assert incident["alertKey"] == MONITOR_KEY
    assert incident["summary"] == "Shop health is DOWN: Connection Timeout"


def test_query_parameters_are_read(app: InProcessDaemon) -> None:
    key = helpers.new_source(app, "UPTIMEROBOT")
    down = send(app, key, b"", {}, query=urlencode(helpers.fixture_json(DOWN)))
    assert down.status_code == 202, down.text
    up = send(app, key, b"", {}, query=urlencode(helpers.fixture_json(UP)))
    assert up.json()[0]["responseCode"] == "INCIDENT_RESOLVED"
    (incident,) = helpers.incidents(app)
    assert incident["alertKey"] == MONITOR_KEY
    # "Send as JSON" with an empty POST value: the type says JSON, the fields are the URL's.
    again = send(app, key, b"", JSON_HEADERS, query=urlencode(helpers.fixture_json(DOWN)))
    assert again.status_code == 202 and again.json()[0]["responseCode"] == "NEW_INCIDENT_CREATED", again.text


def test_the_body_wins_over_the_query_string() -> None:
    request = IntegrationRequest(body=helpers.fixture_bytes(UP), headers=JSON_HEADERS,
                                 query={"alertType": "1", "extra": "kept"})
    fields = uptimerobot.fields(request)
    assert (fields["alertType"], fields["extra"]) == ("2", "kept")
    assert uptimerobot.parse(request)[0].event_type == "RESOLVE"


def test_unquoted_numbers_of_a_json_template_are_read() -> None:
    body = helpers.fixture_json(DOWN) | {"monitorID": 794512345, "alertType": 1}
    request = IntegrationRequest(body=json.dumps(body).encode(), headers=JSON_HEADERS, query={})
    (event,) = uptimerobot.parse(request)
    assert (event.event_type, event.alert_key) == ("ALERT", MONITOR_KEY)


def test_an_ssl_expiry_is_a_low_priority_incident_of_its_own(app: InProcessDaemon) -> None:
    key = helpers.new_source(app, "UPTIMEROBOT")
    expiry = helpers.fixture_json(DOWN) | {
        "alertType": "3", "alertTypeFriendlyName": "SSL Expiry", "alertDetails": "",
        "sslExpiryDate": "2024-06-01", "sslExpiryDaysLeft": "7"}
    assert send(app, key, helpers.fixture_bytes(DOWN)).status_code == 202
    assert send(app, key, json.dumps(expiry).encode()).status_code == 202
    assert send(app, key, helpers.fixture_bytes(UP)).status_code == 202
    down, ssl = helpers.incidents(app)
    assert (down["status"], ssl["status"]) == ("RESOLVED", "PENDING"), "up does not resolve the SSL warning"
    assert (ssl["alertKey"], ssl["priority"]) == (f"{MONITOR_KEY}:ssl", "LOW")
    assert ssl["summary"] == "Shop health: SSL certificate expires soon"
    assert "SSL expiry: 2024-06-01 (7 days left)" in ssl["details"]


def test_the_friendly_type_names_serve_without_alert_type() -> None:
    body = helpers.fixture_json(UP)
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
    helpers.assert_malformed(app, "uptimerobot", "UPTIMEROBOT", body, reason, headers)


def test_the_key_of_another_source_type_is_a_mismatch(app: InProcessDaemon) -> None:
    helpers.assert_type_mismatch(app, "uptimerobot", "WEBHOOK", helpers.fixture_bytes(DOWN))
