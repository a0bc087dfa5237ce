"""The Alertmanager integration over captured webhook bodies, in the daemon: incidents, dedup,
resolves, refusals, limits (the pure mapping: test_alertmanager_mapping.py)."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from ilertd.domain.events import MAX_DETAILS
from tests import integration_helpers as helpers
from tests.inprocess import InProcessDaemon

FIXTURES = helpers.FIXTURES / "alertmanager"
CHAIN = FIXTURES / "prometheus_chain"
MiB = 1024 * 1024
EVERY_WEBHOOK = [
    (FIXTURES, "am_firing_single"), (FIXTURES, "am_firing_group3"), (FIXTURES, "am_mixed_group"),
    (FIXTURES, "am_resolved_single"), (FIXTURES, "am_resolved_group3"), (FIXTURES, "am_firing_amtool"),
    (FIXTURES, "am_firing_truncated_bearer"), (FIXTURES, "am_firing_repeat"),
    (FIXTURES, "am_firing_groupby_all"), (CHAIN, "am_webhook_firing"), (CHAIN, "am_webhook_resolved"),
]


def captured(name: str, folder: Path = FIXTURES) -> tuple[bytes, dict[str, str]]:
    """A captured request: its body byte for byte, and the headers Alertmanager sent with it."""
    request = json.loads((folder / f"{name}.request.json").read_text())
    body = (folder / request["body_file"]).read_bytes()
    headers = dict(request["headers"])
    assert int(headers["Content-Length"]) == len(body), "the fixture is the body as sent"
    return body, {k: v for k, v in headers.items() if k not in ("Host", "Content-Length")}


def document(name: str, folder: Path = FIXTURES) -> dict[str, Any]:
    return json.loads(captured(name, folder)[0])


def prometheus_source(app: InProcessDaemon, priority: str = "HIGH", **fields: Any) -> str:
    return helpers.new_source(app, "PROMETHEUS", "prometheus", priority=priority, **fields)


def send(app: InProcessDaemon, key: str, name: str, folder: Path = FIXTURES,
         kind: str = "alertmanager") -> httpx.Response:
    body, headers = captured(name, folder)
    return helpers.post_payload(app, kind, key, body, headers)


def accepted(reply: httpx.Response) -> list[tuple[str, str]]:
    """(alertKey, responseCode) per alert of a 202 reply."""
    return [(r["alertKey"], r["responseCode"]) for r in helpers.results(reply)]


def incidents(app: InProcessDaemon) -> dict[str, dict[str, Any]]:
    """Every incident by alert key (each key is opened once in these tests unless they say so)."""
    listed = app.get("/api/incidents").json()
    return {i["alertKey"]: app.get(f"/api/incidents/{i['id']}").json() for i in listed}


# --- every captured body, in the daemon ---------------------------------------------------------


def test_a_firing_alert_opens_an_incident_with_its_summary_key_priority_links_and_labels(
    app: InProcessDaemon,
) -> None:
    key = prometheus_source(app, priority="LOW")
    assert accepted(send(app, key, "am_firing_single")) == [("58b1f92d488f0c30", "NEW_INCIDENT_CREATED")]
    (incident,) = incidents(app).values()
    assert incident["summary"] == "HighCPUUsage on host-0"
    assert incident["alertKey"] == "58b1f92d488f0c30"
    assert incident["status"] == "PENDING"
    assert incident["priority"] == "HIGH", "severity=critical, on a source whose default is LOW"
    assert incident["details"] == "Synthetic alert 1 of 1 from fire_alerts.py (run single)\n\nvalue: 97.5"
    assert incident["labels"] == {"alertname": "HighCPUUsage", "instance": "host-0", "job": "fire_alerts",
                                  "run_id": "single", "severity": "critical", "team": "infra"}
    matchers = ("%7Balertname%3D%22HighCPUUsage%22%2Cinstance%3D%22host-0%22%2Cjob%3D%22fire_alerts%22"
                "%2Crun_id%3D%22single%22%2Cseverity%3D%22critical%22%2Cteam%3D%22infra%22%7D")
    assert incident["links"] == [
        {"href": "http://prometheus.example.com/graph?g0.expr=up%3D%3D0", "text": "Source (generatorURL)"},
        {"href": f"http://127.0.0.1:19193/#/alerts?filter={matchers}", "text": "Alertmanager"},
        {"href": f"http://127.0.0.1:19193/#/silences/new?filter={matchers}",
         "text": "Silence in Alertmanager"},
        {"href": "https://runbooks.example.com/HighCPUUsage", "text": "runbook_url"},
    ]
    details = incident["customDetails"]
    assert details["fingerprint"] == "58b1f92d488f0c30" and details["status"] == "firing"
    assert details["startsAt"] == "2026-11-27T07:16:59.512Z" and "endsAt" not in details
    assert details["receiver"] == "ilertd-webhook"
    assert details["groupKey"] == '{}:{alertname="HighCPUUsage"}'
    assert details["annotations"]["value"] == "97.5"
    assert "truncatedAlerts" not in details


def test_both_names_of_the_integration_take_the_webhook_in_any_case(app: InProcessDaemon) -> None:
    key = prometheus_source(app)
    fingerprint = "58b1f92d488f0c30"
    assert accepted(send(app, key, "am_firing_single", kind="Prometheus")) == [
        (fingerprint, "NEW_INCIDENT_CREATED")]
    assert accepted(send(app, key, "am_firing_single", kind="ALERTMANAGER")) == [
        (fingerprint, "EVENT_ADDED_TO_INCIDENT")]
    assert len(incidents(app)) == 1


def test_a_group_of_three_opens_one_incident_per_fingerprint(app: InProcessDaemon) -> None:
    key = prometheus_source(app)
    fingerprints = ["d23fe75c1b37b8df", "681e6a00e1e0ea52", "885d8fbc923e0a95"]
    assert accepted(send(app, key, "am_firing_group3")) == [(f, "NEW_INCIDENT_CREATED") for f in fingerprints]
    opened = incidents(app)
    assert sorted(opened) == sorted(fingerprints)
    assert [opened[f]["summary"] for f in fingerprints] == [f"DiskFull on host-{n}" for n in range(3)]
    assert {i["priority"] for i in opened.values()} == {"LOW"}, "severity=warning, on a HIGH source"
    assert [opened[f]["labels"]["instance"] for f in fingerprints] == ["host-0", "host-1", "host-2"]


def test_a_mixed_group_resolves_only_its_resolved_alerts(app: InProcessDaemon) -> None:
    key = prometheus_source(app)
    accepted(send(app, key, "am_firing_group3"))
    assert document("am_mixed_group")["status"] == "firing", "the group as a whole still fires"
    assert accepted(send(app, key, "am_mixed_group")) == [
        ("d23fe75c1b37b8df", "EVENT_ADDED_TO_INCIDENT"),
        ("681e6a00e1e0ea52", "INCIDENT_RESOLVED"),
        ("885d8fbc923e0a95", "EVENT_ADDED_TO_INCIDENT"),
    ]
    states = {k: (i["status"], i["eventCount"]) for k, i in incidents(app).items()}
    assert states == {"d23fe75c1b37b8df": ("PENDING", 2), "681e6a00e1e0ea52": ("RESOLVED", 2),
                      "885d8fbc923e0a95": ("PENDING", 2)}
    # The group's last flush resolves the other two; the one already resolved matches nothing open,
    # and that is still a 2xx (Alertmanager would re-send the whole group on anything else).
    assert accepted(send(app, key, "am_resolved_group3")) == [
        ("d23fe75c1b37b8df", "INCIDENT_RESOLVED"),
        ("681e6a00e1e0ea52", "NO_OPEN_INCIDENT_WITH_KEY"),
        ("885d8fbc923e0a95", "INCIDENT_RESOLVED"),
    ]
    assert {i["status"] for i in incidents(app).values()} == {"RESOLVED"}
    assert len(incidents(app)) == 3


@pytest.mark.parametrize(("folder", "firing", "resolved", "fingerprint"), [
    (FIXTURES, "am_firing_single", "am_resolved_single", "58b1f92d488f0c30"),
    (CHAIN, "am_webhook_firing", "am_webhook_resolved", "fee9a1b0b4a0bdcc"),
])
def test_a_resolved_alert_resolves_its_incident(app: InProcessDaemon, folder: Path, firing: str,
                                                resolved: str, fingerprint: str) -> None:
    key = prometheus_source(app)
    assert accepted(send(app, key, firing, folder)) == [(fingerprint, "NEW_INCIDENT_CREATED")]
    assert accepted(send(app, key, resolved, folder)) == [(fingerprint, "INCIDENT_RESOLVED")]
    (incident,) = incidents(app).values()
    assert incident["status"] == "RESOLVED" and incident["resolvedAt"] is not None
    assert "RESOLVED" in app.log_types(incident["id"])


def test_the_prometheus_chain_maps_the_rules_annotations(app: InProcessDaemon) -> None:
    key = prometheus_source(app, priority="LOW")
    accepted(send(app, key, "am_webhook_firing", CHAIN))
    incident = incidents(app)["fee9a1b0b4a0bdcc"]
    assert incident["summary"] == "AlwaysFiring test alert (value 1)"
    assert incident["details"] == "vector(1) > 0 from the acceptance chain; labels=map[]"
    assert incident["priority"] == "HIGH"
    assert incident["links"][0] == {
        "href": "http://127.0.0.1:56455/graph?g0.expr=vector%281%29+%3E+0&g0.tab=1",
        "text": "Source (generatorURL)"}
    assert incident["labels"]["cluster"] == "acceptance"


def test_an_amtool_alert_without_generator_url_or_description(app: InProcessDaemon) -> None:
    key = prometheus_source(app)
    assert accepted(send(app, key, "am_firing_amtool")) == [("976d25f49e9d5650", "NEW_INCIDENT_CREATED")]
    incident = incidents(app)["976d25f49e9d5650"]
    assert incident["summary"] == "fired with amtool"
    assert not incident["details"], "no description, no other annotations"
    assert incident["priority"] == "LOW", "severity=info"
    assert [link["text"] for link in incident["links"]] == ["Alertmanager", "Silence in Alertmanager"]


def test_group_by_all_maps_its_one_alert_and_its_url_annotations(app: InProcessDaemon) -> None:
    key = prometheus_source(app, priority="LOW")
    assert accepted(send(app, key, "am_firing_groupby_all")) == [("1f164d46ddc17a3a", "NEW_INCIDENT_CREATED")]
    incident = incidents(app)["1f164d46ddc17a3a"]
    assert incident["summary"] == "LatencyHigh on host-0"
    assert incident["priority"] == "HIGH"
    assert incident["labels"]["team"] == "payments"
    assert {"href": "https://grafana.example.com/d/abc", "text": "dashboard"} in incident["links"]
    assert incident["links"][1]["href"].startswith("http://127.0.0.1:19195/#/alerts?filter=")
    assert incident["customDetails"]["groupLabels"]["team"] == "payments"


def test_a_truncated_group_is_logged_and_noted(
    app: InProcessDaemon, caplog: pytest.LogCaptureFixture,
) -> None:
    key = prometheus_source(app)
    _, headers = captured("am_firing_truncated_bearer")
    assert headers["Authorization"] == "Bearer s3cr3t-token", "sent with the receiver's http_config"
    with caplog.at_level(logging.WARNING, logger="ilertd.plugins.alertmanager"):
        reply = send(app, key, "am_firing_truncated_bearer")
    assert accepted(reply) == [("c3aee1be12cdef0c", "NEW_INCIDENT_CREATED"),
                               ("57299aba4ea548df", "NEW_INCIDENT_CREATED")]
    (record,) = [r for r in caplog.records if r.name == "ilertd.plugins.alertmanager"]
    assert record.levelno == logging.WARNING
    assert "truncated 3 alert(s)" in record.getMessage() and "prometheus" in record.getMessage()
    for incident in incidents(app).values():
        assert incident["customDetails"]["truncatedAlerts"] == 3
        assert "max_alerts" in incident["customDetails"]["truncatedNote"]
        assert incident["priority"] == "HIGH"


def test_a_byte_identical_repeat_is_deduplicated_into_the_same_incidents(app: InProcessDaemon) -> None:
    key = prometheus_source(app)
    first, _ = captured("am_firing_truncated_bearer")
    repeat, _ = captured("am_firing_repeat")
    assert first == repeat, "Alertmanager re-sends the group unchanged after repeat_interval"
    opened = accepted(send(app, key, "am_firing_truncated_bearer"))
    before = incidents(app)
    assert accepted(send(app, key, "am_firing_repeat")) == [(k, "EVENT_ADDED_TO_INCIDENT") for k, _ in opened]
    after = incidents(app)
    assert {k: i["id"] for k, i in after.items()} == {k: i["id"] for k, i in before.items()}
    assert len(app.get("/api/incidents").json()) == 2
    assert {i["eventCount"] for i in before.values()} == {1}
    assert {i["eventCount"] for i in after.values()} == {2}
    assert {i["status"] for i in after.values()} == {"PENDING"}


def test_a_firing_alert_after_a_person_resolved_its_incident_opens_a_new_one(app: InProcessDaemon) -> None:
    key = prometheus_source(app)
    assert accepted(send(app, key, "am_firing_single")) == [("58b1f92d488f0c30", "NEW_INCIDENT_CREATED")]
    first = app.get("/api/incidents").json()[0]["id"]
    assert app.put(f"/api/incidents/{first}/resolve").status_code == 200
    # Still firing in Prometheus: the next repeat_interval re-sends it. RESOLVED is final.
    reply = send(app, key, "am_firing_single")
    assert accepted(reply) == [("58b1f92d488f0c30", "NEW_INCIDENT_CREATED")]
    second = reply.json()[0]["incidentId"]
    assert second != first
    assert app.get(f"/api/incidents/{first}").json()["status"] == "RESOLVED"
    assert app.get(f"/api/incidents/{second}").json()["status"] == "PENDING"
    # Its own resolve then closes the new incident.
    assert accepted(send(app, key, "am_resolved_single")) == [("58b1f92d488f0c30", "INCIDENT_RESOLVED")]
    assert app.get(f"/api/incidents/{second}").json()["status"] == "RESOLVED"


# --- refusals -------------------------------------------------------------------------------------


def alert_with(**changes: Any) -> dict[str, Any]:
    """The captured one-alert body with its alert's fields changed."""
    body = document("am_firing_single")
    body["alerts"][0].update(changes)
    return body


@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "not valid JSON"),
    (b"", "not valid JSON"),
    (captured("prom_to_am_firing", CHAIN)[0], "/api/v2/alerts"),
    (b'"firing"', "JSON object"),
    (json.dumps({k: v for k, v in document("am_firing_single").items() if k != "version"}).encode(),
     "'version' is missing"),
    (json.dumps({**document("am_firing_single"), "version": "3"}).encode(), "'version' is '3'"),
    (json.dumps({**document("am_firing_single"), "version": 4}).encode(), "'version' is 4"),
    (json.dumps({**document("am_firing_single"), "alerts": {"a": 1}}).encode(), "'alerts' must be an array"),
    (json.dumps({**document("am_firing_single"), "truncatedAlerts": "3"}).encode(), "truncatedAlerts"),
    (json.dumps({**document("am_firing_single"), "alerts": ["x"]}).encode(), "'alerts[0]' must be an object"),
    (json.dumps(alert_with(status="pending")).encode(), "'alerts[0].status'"),
    (json.dumps(alert_with(labels={"severity": 2})).encode(), "'alerts[0].labels.severity' must be a string"),
    (json.dumps(alert_with(annotations=["x"])).encode(), "'alerts[0].annotations' must be an object"),
    (json.dumps(alert_with(fingerprint=7)).encode(), "'alerts[0].fingerprint' must be a string"),
    (json.dumps(alert_with(fingerprint="f" * 256)).encode(), "at most 255"),
])
def test_a_malformed_body_is_400_invalid_payload_and_stores_nothing(
    app: InProcessDaemon, body: bytes, reason: str,
) -> None:
    helpers.assert_malformed(app, "alertmanager", "PROMETHEUS", body, reason)


def test_a_bad_alert_later_in_the_group_refuses_the_whole_body(app: InProcessDaemon) -> None:
    key = prometheus_source(app)
    body = document("am_firing_group3")
    body["alerts"][2]["status"] = "unknown"
    reply = helpers.post_payload(app, "alertmanager", key, body)
    # Parsed whole before anything is committed: the first two alerts open nothing either.
    helpers.assert_refused(app, reply, reason="'alerts[2].status'")


@pytest.mark.parametrize("integration_type", ["API", "GRAFANA"])
def test_a_key_of_another_source_type_is_400_integration_type_mismatch(
    app: InProcessDaemon, integration_type: str,
) -> None:
    body, headers = captured("am_firing_single")
    helpers.assert_type_mismatch(app, "alertmanager", integration_type, body, headers)


def test_an_unknown_key_is_404(app: InProcessDaemon) -> None:
    reply = send(app, "no-such-key", "am_firing_single")
    assert reply.status_code == 404 and reply.json()["code"] == "UNKNOWN_INTEGRATION_KEY"


def test_a_source_with_a_signing_secret_needs_it_as_the_bearer_token(app: InProcessDaemon) -> None:
    key = prometheus_source(app, signingSecret="s3cr3t-token")
    body, headers = captured("am_firing_truncated_bearer")
    url = f"/api/v1/events/alertmanager/{key}"
    for wrong in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic s3cr3t-token"}):
        reply = app.client.post(url, content=body, headers={"Content-Type": "application/json", **wrong})
        assert reply.status_code == 401 and reply.json()["code"] == "INVALID_SIGNATURE"
    assert app.get("/api/incidents").json() == []
    assert accepted(app.client.post(url, content=body, headers=headers))[0][1] == "NEW_INCIDENT_CREATED"


def test_a_signing_secret_beyond_ascii_is_matched_byte_for_byte(app: InProcessDaemon) -> None:
    """The header came decoded as Latin-1 and was compared with the secret's UTF-8: the right
    secret was refused 401, and every flush dropped."""
    key = prometheus_source(app, signingSecret="pässwörd")
    body, _headers = captured("am_firing_truncated_bearer")
    url = f"/api/v1/events/alertmanager/{key}"
    bearer = {"Content-Type": b"application/json", "Authorization": "Bearer pässwörd".encode()}
    assert accepted(app.client.post(url, content=body, headers=bearer))[0][1] == "NEW_INCIDENT_CREATED"
    latin = {**bearer, "Authorization": "Bearer pässwörd".encode("latin-1")}
    assert app.client.post(url, content=body, headers=latin).status_code == 401


# --- the body limit: the tool route's own, not server.max_body_bytes ---------------------------


def _padded(size: int) -> bytes:
    """A valid one-alert webhook of exactly `size` bytes: a long description pads it."""
    body = document("am_firing_single")
    body["alerts"][0]["annotations"]["description"] = ""
    bare = len(json.dumps(body).encode())
    body["alerts"][0]["annotations"]["description"] = "x" * (size - bare)
    encoded = json.dumps(body).encode()
    assert len(encoded) == size
    return encoded


def test_a_one_mib_body_is_taken_and_its_long_description_clipped(app: InProcessDaemon) -> None:
    key = prometheus_source(app)
    reply = app.client.post(f"/api/v1/events/alertmanager/{key}", content=_padded(MiB),
                            headers={"Content-Type": "application/json"})
    assert accepted(reply) == [("58b1f92d488f0c30", "NEW_INCIDENT_CREATED")]
    incident = incidents(app)["58b1f92d488f0c30"]
    assert len(incident["details"]) == MAX_DETAILS and incident["details"].endswith("…")


def test_a_body_over_four_mib_is_413_and_stores_nothing(app: InProcessDaemon) -> None:
    key = prometheus_source(app)
    url = f"/api/v1/events/alertmanager/{key}"
    over = app.client.post(url, content=_padded(4 * MiB + 1), headers={"Content-Type": "application/json"})
    assert over.status_code == 413, over.text
    assert over.json()["code"] == "BODY_TOO_LARGE"
    assert app.get("/api/incidents").json() == []
    at_limit = app.client.post(url, content=_padded(4 * MiB), headers={"Content-Type": "application/json"})
    assert at_limit.status_code == 202, at_limit.text


def test_a_large_batch_is_read_off_the_event_loop(app: InProcessDaemon) -> None:
    """25,000 alerts in one POST were parsed on the event loop: every other request, another
    source's alert too, waited for it (3 s)."""
    assert app.daemon.plugins is not None
    integrations = app.daemon.plugins.integrations
    parsed_in: list[str] = []
    real = integrations["alertmanager"]

    def parse(request: Any) -> Any:
        parsed_in.append(threading.current_thread().name)
        return real.parse(request)
    for name in ("alertmanager", "prometheus"):
        integrations[name] = dataclasses.replace(real, parse=parse)
    key = prometheus_source(app)
    small = document("am_firing_single")
    big = {**small, "alerts": [{**small["alerts"][0], "fingerprint": f"{n:016x}",
                                "labels": {**small["alerts"][0]["labels"], "n": str(n)}} for n in range(300)]}
    for body in (small, big):
        reply = app.client.post(f"/api/v1/events/alertmanager/{key}", json=body)
        assert reply.status_code == 202, reply.text
    assert len(json.dumps(big)) > 64 * 1024 > len(json.dumps(small))
    on_loop, off_loop = parsed_in
    assert on_loop != off_loop, parsed_in
    assert len(app.get("/api/incidents", params={"max-results": 100}).json()) == 100
