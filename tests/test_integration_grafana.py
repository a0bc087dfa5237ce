"""The Grafana integration: its webhook contact point's documented payloads through the tool route."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ilertd.domain.events import MAX_SUMMARY
from ilertd.plugins import grafana
from tests.inprocess import InProcessDaemon

FIXTURES = Path(__file__).parent / "fixtures" / "thirdparty"
JSON_HEADERS = {"Content-Type": "application/json"}


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict[str, Any]:
    return json.loads(fixture_bytes(name))


def new_source(app: InProcessDaemon, integration_type: str = "GRAFANA") -> str:
    response = app.post("/api/alert-sources", {"name": f"{integration_type} source",
                                               "integrationType": integration_type})
    assert response.status_code == 201, response.text
    return str(response.json()["integrationKey"])


def send(app: InProcessDaemon, key: str, body: bytes) -> Any:
    return app.client.post(f"/api/v1/events/grafana/{key}", content=body, headers=JSON_HEADERS)


def incidents(app: InProcessDaemon) -> list[dict[str, Any]]:
    return sorted(app.get("/api/incidents").json(), key=lambda incident: incident["id"])


def test_each_firing_alert_opens_its_own_incident_keyed_by_fingerprint(app: InProcessDaemon) -> None:
    key = new_source(app)
    opened = send(app, key, fixture_bytes("grafana_firing.json"))
    assert opened.status_code == 202, opened.text
    assert [r["responseCode"] for r in opened.json()] == ["NEW_INCIDENT_CREATED"] * 2
    first, second = incidents(app)
    assert (first["alertKey"], second["alertKey"]) == ("2f4b1c0d9e8a7b61", "7a3e5d2c1b0f9e84")
    assert first["summary"] == "CPU above 90% on web-1:9100"
    assert second["summary"] == "CPU above 90% on web-2:9100"
    assert first["details"] == "5m average CPU usage is 97.2%"
    assert first["status"] == "PENDING"
    assert first["labels"] == {"alertname": "HighCPU", "grafana_folder": "Infra",
                               "instance": "web-1:9100", "team": "sre"}
    assert first["links"] == [
        {"href": "https://grafana.example.com/alerting/grafana/cdx1q2w3e4r5t6/view?orgId=1",
         "text": "Alert rule"},
        {"href": "https://grafana.example.com/d/node-exporter?orgId=1", "text": "Dashboard"},
        {"href": "https://grafana.example.com/d/node-exporter?orgId=1&viewPanel=3", "text": "Panel"},
        {"href": "https://grafana.example.com/alerting/silence/new?alertmanager=grafana&matcher=alertname"
                 "%3DHighCPU%2Cgrafana_folder%3DInfra%2Cinstance%3Dweb-1:9100%2Cteam%3Dsre&orgId=1",
         "text": "Silence"},
        {"href": "https://runbooks.example.com/high-cpu", "text": "Runbook"},
    ]
    assert first["customDetails"]["values"] == {"A": 97.2, "C": 1}
    assert first["customDetails"]["orgId"] == 1
    # No severity label: the alert source's priority (HIGH by default).
    assert first["priority"] == "HIGH"


def test_the_same_firing_again_adds_to_the_open_incidents(app: InProcessDaemon) -> None:
    key = new_source(app)
    assert send(app, key, fixture_bytes("grafana_firing.json")).status_code == 202
    again = send(app, key, fixture_bytes("grafana_firing.json"))
    assert again.status_code == 202, again.text
    assert [r["responseCode"] for r in again.json()] == ["EVENT_ADDED_TO_INCIDENT"] * 2
    listed = incidents(app)
    assert len(listed) == 2
    assert [i["eventCount"] for i in listed] == [2, 2]


def test_a_resolved_alert_resolves_only_its_own_incident(app: InProcessDaemon) -> None:
    key = new_source(app)
    assert send(app, key, fixture_bytes("grafana_firing.json")).status_code == 202
    resolved = send(app, key, fixture_bytes("grafana_resolved.json"))
    assert resolved.status_code == 202, resolved.text
    assert [r["responseCode"] for r in resolved.json()] == ["INCIDENT_RESOLVED"]
    web1, web2 = incidents(app)
    assert (web1["alertKey"], web1["status"]) == ("2f4b1c0d9e8a7b61", "RESOLVED")
    assert (web2["alertKey"], web2["status"]) == ("7a3e5d2c1b0f9e84", "PENDING")


def test_each_alert_status_decides_not_the_groups(app: InProcessDaemon) -> None:
    key = new_source(app)
    assert send(app, key, fixture_bytes("grafana_firing.json")).status_code == 202
    mixed = fixture_json("grafana_firing.json")
    mixed["alerts"][0]["status"] = "resolved"  # the group stays "firing"
    assert mixed["status"] == "firing"
    reply = send(app, key, json.dumps(mixed).encode())
    assert [r["responseCode"] for r in reply.json()] == ["INCIDENT_RESOLVED", "EVENT_ADDED_TO_INCIDENT"]
    assert [i["status"] for i in incidents(app)] == ["RESOLVED", "PENDING"]


def test_a_resolve_with_nothing_open_is_still_accepted(app: InProcessDaemon) -> None:
    key = new_source(app)
    reply = send(app, key, fixture_bytes("grafana_resolved.json"))
    assert reply.status_code == 202, reply.text
    assert reply.json()[0]["responseCode"] == "NO_OPEN_INCIDENT_WITH_KEY"
    assert incidents(app) == []


@pytest.mark.parametrize(("severity", "expected"), [
    ("critical", "HIGH"), ("Warning", "LOW"), ("info", "LOW"), ("P1", "HIGH"), ("whatever", "LOW"),
])
def test_the_severity_label_sets_the_priority(app: InProcessDaemon, severity: str, expected: str) -> None:
    key = app.post("/api/alert-sources", {"name": "low grafana", "integrationType": "GRAFANA",
                                          "priority": "LOW"}).json()["integrationKey"]
    body = fixture_json("grafana_firing.json")
    body["alerts"] = body["alerts"][:1]
    body["alerts"][0]["labels"]["severity"] = severity
    assert send(app, key, json.dumps(body).encode()).status_code == 202
    (incident,) = incidents(app)
    # An unknown severity leaves the source's priority (LOW here).
    assert incident["priority"] == expected
    assert incident["labels"]["severity"] == severity


def test_without_a_summary_annotation_the_alertname_and_labels_summarise() -> None:
    body = fixture_json("grafana_firing.json")
    del body["alerts"][0]["annotations"]["summary"]
    event = grafana.parse_body(body)[0]
    assert event.summary == "HighCPU (grafana_folder=Infra, instance=web-1:9100, team=sre)"
    body["alerts"][0]["annotations"]["summary"] = "x" * (MAX_SUMMARY + 10)
    assert len(grafana.parse_body(body)[0].summary or "") == MAX_SUMMARY


def test_without_a_fingerprint_the_key_comes_from_the_labels() -> None:
    body = fixture_json("grafana_firing.json")
    for alert in body["alerts"]:
        del alert["fingerprint"]
    first, second = grafana.parse_body(body)
    assert first.alert_key != second.alert_key
    assert first.alert_key == grafana.parse_body(copy.deepcopy(body))[0].alert_key
    assert (first.alert_key or "").startswith("labels-")


def test_an_image_url_becomes_the_incidents_image() -> None:
    body = fixture_json("grafana_firing.json")
    body["alerts"][0]["imageURL"] = "https://grafana.example.com/render/panel.png"
    (image,) = grafana.parse_body(body)[0].images
    assert image["src"] == "https://grafana.example.com/render/panel.png"


def test_only_web_urls_become_links() -> None:
    body = fixture_json("grafana_firing.json")
    alert = body["alerts"][0]
    alert["dashboardURL"] = ""
    alert["panelURL"] = "javascript:alert(1)"
    alert["imageURL"] = "/render/panel.png"
    event = grafana.parse_body(body)[0]
    assert [link["text"] for link in event.links] == ["Alert rule", "Silence", "Runbook"]
    assert event.images == ()


@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "not valid JSON"),
    (b"[]", "must be a JSON object"),
    (b'{"ruleName": "legacy", "state": "alerting"}', "no alerts array"),
    (b'{"alerts": []}', "alerts is empty"),
    (b'{"alerts": ["firing"]}', "alerts[0] must be an object"),
    (b'{"alerts": [{"status": "pending", "fingerprint": "f"}]}', "firing or resolved"),
    (b'{"alerts": [{"status": "firing", "labels": ["a"]}]}', "alerts[0].labels must be an object"),
    (b'{"alerts": [{"status": "firing"}]}', "neither a fingerprint nor labels"),
])
def test_a_malformed_body_is_refused_and_nothing_is_stored(app: InProcessDaemon, body: bytes,
                                                           reason: str) -> None:
    key = new_source(app)
    reply = send(app, key, body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["code"] == "INVALID_PAYLOAD"
    assert reason in reply.json()["message"]
    assert incidents(app) == []


def test_a_malformed_alert_refuses_the_whole_payload(app: InProcessDaemon) -> None:
    key = new_source(app)
    body = fixture_json("grafana_firing.json")
    body["alerts"][1]["status"] = "unknown"
    reply = send(app, key, json.dumps(body).encode())
    assert reply.status_code == 400 and "alerts[1].status" in reply.json()["message"]
    assert incidents(app) == []


def test_the_key_of_another_source_type_is_a_mismatch(app: InProcessDaemon) -> None:
    key = new_source(app, "DATADOG")
    reply = send(app, key, fixture_bytes("grafana_firing.json"))
    assert reply.status_code == 400, reply.text
    assert reply.json()["code"] == "INTEGRATION_TYPE_MISMATCH"
    assert incidents(app) == []


def test_grafanas_optional_put_method_is_not_served(app: InProcessDaemon) -> None:
    key = new_source(app)
    reply = app.client.put(f"/api/v1/events/grafana/{key}", content=fixture_bytes("grafana_firing.json"),
                           headers=JSON_HEADERS)
    assert reply.status_code == 405
    assert incidents(app) == []
