"""The Grafana integration: its webhook contact point's documented payloads through the tool route."""

from __future__ import annotations

import copy
import hashlib
import json

import httpx2 as httpx
import pytest

from ilertd.domain.events import MAX_SUMMARY
from ilertd.plugins import grafana
from tests import integration_helpers as helpers
from tests.inprocess import InProcessDaemon

FIRING = "grafana_firing.json"
RESOLVED = "grafana_resolved.json"


def send(app: InProcessDaemon, key: str, body: bytes) -> httpx.Response:
    return helpers.post_payload(app, "grafana", key, body)


def in_turn(app: InProcessDaemon, *fixtures: str) -> tuple[list[helpers.Record], list[helpers.Record]]:
    """The fixtures posted in turn to a new GRAFANA source: the last reply's results, and the incidents."""
    bodies = [helpers.fixture_bytes(name) for name in fixtures]
    return helpers.post_in_turn(app, "grafana", helpers.new_source(app, "GRAFANA"), *bodies)


def test_each_firing_alert_opens_its_own_incident_keyed_by_fingerprint(app: InProcessDaemon) -> None:
    opened, (first, second) = in_turn(app, FIRING)
    assert [r["responseCode"] for r in opened] == ["NEW_INCIDENT_CREATED"] * 2
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
    again, listed = in_turn(app, FIRING, FIRING)
    assert [r["responseCode"] for r in again] == ["EVENT_ADDED_TO_INCIDENT"] * 2
    assert len(listed) == 2
    assert [i["eventCount"] for i in listed] == [2, 2]


def test_a_resolved_alert_resolves_only_its_own_incident(app: InProcessDaemon) -> None:
    resolved, (web1, web2) = in_turn(app, FIRING, RESOLVED)
    assert [r["responseCode"] for r in resolved] == ["INCIDENT_RESOLVED"]
    assert (web1["alertKey"], web1["status"]) == ("2f4b1c0d9e8a7b61", "RESOLVED")
    assert (web2["alertKey"], web2["status"]) == ("7a3e5d2c1b0f9e84", "PENDING")


def test_each_alert_status_decides_not_the_groups(app: InProcessDaemon) -> None:
    key = helpers.new_source(app, "GRAFANA")
    assert send(app, key, helpers.fixture_bytes(FIRING)).status_code == 202
    mixed = helpers.fixture_json(FIRING)
    mixed["alerts"][0]["status"] = "resolved"  # the group stays "firing"
    assert mixed["status"] == "firing"
    reply = send(app, key, json.dumps(mixed).encode())
    assert [r["responseCode"] for r in reply.json()] == ["INCIDENT_RESOLVED", "EVENT_ADDED_TO_INCIDENT"]
    assert [i["status"] for i in helpers.incidents(app)] == ["RESOLVED", "PENDING"]


def test_a_resolve_with_nothing_open_is_still_accepted(app: InProcessDaemon) -> None:
    (reply,), listed = in_turn(app, RESOLVED)
    assert reply["responseCode"] == "NO_OPEN_INCIDENT_WITH_KEY"
    assert listed == []


@pytest.mark.parametrize(("severity", "expected"), [
    ("critical", "HIGH"), ("Warning", "LOW"), ("info", "LOW"), ("P1", "HIGH"), ("whatever", "LOW"),
])
def test_the_severity_label_sets_the_priority(app: InProcessDaemon, severity: str, expected: str) -> None:
    key = helpers.new_source(app, "GRAFANA", priority="LOW")
    body = helpers.fixture_json(FIRING)
    body["alerts"] = body["alerts"][:1]
    body["alerts"][0]["labels"]["severity"] = severity
    assert send(app, key, json.dumps(body).encode()).status_code == 202
    (incident,) = helpers.incidents(app)
    # An unknown severity leaves the source's priority (LOW here).
    assert incident["priority"] == expected
    assert incident["labels"]["severity"] == severity


def test_without_a_summary_annotation_the_alertname_and_labels_summarise() -> None:
    body = helpers.fixture_json(FIRING)
    del body["alerts"][0]["annotations"]["summary"]
    event = grafana.parse_body(body)[0]
    assert event.summary == "HighCPU (grafana_folder=Infra, instance=web-1:9100, team=sre)"
    body["alerts"][0]["annotations"]["summary"] = "x" * (MAX_SUMMARY + 10)
    assert len(grafana.parse_body(body)[0].summary or "") == MAX_SUMMARY


def test_without_a_fingerprint_the_key_comes_from_the_labels() -> None:
    body = helpers.fixture_json(FIRING)
    for alert in body["alerts"]:
        del alert["fingerprint"]
    first, second = grafana.parse_body(body)
    assert first.alert_key != second.alert_key
    assert first.alert_key == grafana.parse_body(copy.deepcopy(body))[0].alert_key
    assert (first.alert_key or "").startswith("labels-")


def test_labels_that_read_alike_as_lines_keep_their_alerts_apart() -> None:
    """Hashed as name=value lines, a value holding "\nmountpoint=/var" read as a second label: two
    different alerts shared a key, and one's resolve closed the other's incident."""
    one = {"alertname": "DiskFull", "instance": "db-1\nmountpoint=/var"}
    two = {"alertname": "DiskFull", "instance": "db-1", "mountpoint": "/var"}
    keys = [grafana.parse_body({"alerts": [{"status": "firing", "labels": labels}]})[0].alert_key
            for labels in (one, two)]
    assert keys[0] != keys[1]
    # Labels without a line break hash as they always did: open incidents keep their keys.
    assert keys[1] == "labels-" + hashlib.sha256(
        b"alertname=DiskFull\ninstance=db-1\nmountpoint=/var").hexdigest()[:16]


def test_labels_that_are_not_strings_are_written_as_json_writes_them() -> None:
    body = {"alerts": [{"status": "firing", "fingerprint": "f", "labels": {
        "alertname": "A", "flag": True, "obj": {"a": 1}, "n": 97.5}}]}
    event = grafana.parse_body(body)[0]
    assert dict(event.labels) == {"alertname": "A", "flag": "true", "obj": '{"a": 1}', "n": "97.5"}
    assert event.summary == 'A (flag=true, n=97.5, obj={"a": 1})'


def test_an_image_url_becomes_the_incidents_image() -> None:
    body = helpers.fixture_json(FIRING)
    body["alerts"][0]["imageURL"] = "https://grafana.example.com/render/panel.png"
    (image,) = grafana.parse_body(body)[0].images
    assert image["src"] == "https://grafana.example.com/render/panel.png"


def test_only_web_urls_become_links() -> None:
    body = helpers.fixture_json(FIRING)
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
    helpers.assert_malformed(app, "grafana", "GRAFANA", body, reason)


def test_a_malformed_alert_refuses_the_whole_payload(app: InProcessDaemon) -> None:
    key = helpers.new_source(app, "GRAFANA")
    body = helpers.fixture_json(FIRING)
    body["alerts"][1]["status"] = "unknown"
    helpers.assert_refused(app, send(app, key, json.dumps(body).encode()), reason="alerts[1].status")


def test_the_key_of_another_source_type_is_a_mismatch(app: InProcessDaemon) -> None:
    helpers.assert_type_mismatch(app, "grafana", "DATADOG", helpers.fixture_bytes(FIRING))


def test_grafanas_optional_put_method_is_not_served(app: InProcessDaemon) -> None:
    key = helpers.new_source(app, "GRAFANA")
    reply = app.client.put(f"/api/v1/events/grafana/{key}", headers=helpers.JSON_HEADERS,
                           content=helpers.fixture_bytes(FIRING))
    assert reply.status_code == 405
    assert helpers.incidents(app) == []
