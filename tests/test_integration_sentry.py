"""The `sentry` integration over Sentry's documented webhooks: mapping, dedup, resolve, signatures."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

import httpx2 as httpx
import pytest

from ilertd.actors import ask
from ilertd.actors.messages import IngestBatch
from tests import integration_helpers as helpers
from tests.inprocess import InProcessDaemon

CRITICAL = "sentry_metric_alert_critical"
RESOLVED = "sentry_metric_alert_resolved"


def fixture(name: str) -> tuple[bytes, dict[str, str], str]:
    """(body byte for byte, the headers Sentry sent, the client secret it was signed with)."""
    meta = helpers.fixture_json(f"{name}.meta.json")
    return helpers.fixture_bytes(meta["body_file"]), dict(meta["headers"]), meta["hmac_client_secret"]


def signed(body: bytes, secret: str, resource: str = "metric_alert") -> dict[str, str]:
    """The headers Sentry would send with `body`: its own signature, computed here."""
    return {"Content-Type": "application/json", "Sentry-Hook-Resource": resource,
            "Sentry-Hook-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def make_source(app: InProcessDaemon, secret: str | None = None) -> str:
    """The tool URL of a new SENTRY source, with this signing secret (None: without one)."""
    key = helpers.new_source(app, "SENTRY", "sentry", **({} if secret is None else {"signingSecret": secret}))
    return f"/api/v1/events/sentry/{key}"


def post(app: InProcessDaemon, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    # Header values as bytes: a client may send any latin-1 octets, not only ASCII.
    return app.client.post(url, content=body, headers={k: v.encode("latin-1") for k, v in headers.items()})


def test_a_signed_metric_alert_opens_dedups_and_resolves_an_incident(app: InProcessDaemon) -> None:
    body, headers, secret = fixture(CRITICAL)
    url = make_source(app, secret)
    opened = post(app, url, body, headers)
    assert opened.status_code == 202, opened.text
    (result,) = opened.json()
    assert result["responseCode"] == "NEW_INCIDENT_CREATED"
    incident = app.get(f"/api/incidents/{result['incidentId']}").json()
    assert incident["summary"] == "Critical: Too many errors in checkout"
    assert incident["alertKey"] == "sentry-metric-alert-90210"
    assert incident["priority"] == "HIGH"
    assert incident["status"] == "PENDING"
    assert incident["details"] == "1204 events in the last 10 minutes\nFilter: level:error"
    assert incident["links"] == [{"href": "https://example-org.sentry.io/alerts/rules/details/4711/?alert=318",
                                  "text": "Sentry metric alert"}]
    assert incident["labels"] == {"environment": "production", "project": "checkout",
                                  "alert_rule": "Too many errors in checkout"}
    assert incident["customDetails"]["alert_rule_id"] == "4711"
    assert incident["customDetails"]["identifier"] == "318"

    again = post(app, url, body, headers)
    assert again.status_code == 202 and again.json()[0]["responseCode"] == "EVENT_ADDED_TO_INCIDENT"
    assert [i["id"] for i in app.get("/api/incidents").json()] == [incident["id"]]
    assert app.get(f"/api/incidents/{incident['id']}").json()["eventCount"] == 2

    resolved_body, resolved_headers, _ = fixture(RESOLVED)
    resolved = post(app, url, resolved_body, resolved_headers)
    assert resolved.status_code == 202 and resolved.json()[0]["responseCode"] == "INCIDENT_RESOLVED"
    assert app.get(f"/api/incidents/{incident['id']}").json()["status"] == "RESOLVED"


def test_a_description_longer_than_details_take_is_cut_not_refused(app: InProcessDaemon) -> None:
    """The alert was refused (400 "details must be at most 65536 characters") and lost; every
    other integration cuts what is too long for an incident."""
    body, _headers, secret = fixture(CRITICAL)
    document = json.loads(body)
    document["data"]["description_text"] = "x" * 70_000
    long_body = json.dumps(document).encode()
    url = make_source(app, secret)
    opened = post(app, url, long_body, signed(long_body, secret))
    assert opened.status_code == 202, opened.text
    details = app.get(f"/api/incidents/{opened.json()[0]['incidentId']}").json()["details"]
    assert len(details) == 65_536 and details.startswith("xxx")


def test_a_warning_is_a_low_priority_alert(app: InProcessDaemon) -> None:
    document = json.loads(fixture(CRITICAL)[0])
    document["action"] = "warning"
    document["data"]["description_title"] = "Warning: Too many errors in checkout"
    document["data"]["metric_alert"]["id"] = "90211"
    body = json.dumps(document).encode()
    url = make_source(app, "s3cret")
    reply = post(app, url, body, signed(body, "s3cret"))
    assert reply.status_code == 202, reply.text
    incident = app.get(f"/api/incidents/{reply.json()[0]['incidentId']}").json()
    assert (incident["priority"], incident["alertKey"]) == ("LOW", "sentry-metric-alert-90211")
    assert incident["summary"] == "Warning: Too many errors in checkout"


def test_a_missing_or_wrong_signature_is_refused_and_nothing_is_stored(app: InProcessDaemon) -> None:
    body, headers, secret = fixture(CRITICAL)
    url = make_source(app, secret)
    unsigned = {k: v for k, v in headers.items() if k != "Sentry-Hook-Signature"}
    other_secret = signed(body, "not-the-secret")
    tampered = body.replace(b"1204 events", b"1205 events")
    for attempt_body, attempt_headers in ((body, unsigned), (body, other_secret), (tampered, headers),
                                          (body, {**headers, "Sentry-Hook-Signature": "caf\u00e9"})):
        reply = post(app, url, attempt_body, attempt_headers)
        assert reply.status_code == 401, reply.text
        assert reply.json()["code"] == "INVALID_SIGNATURE"
    assert app.get("/api/incidents").json() == []
    # The signature is hex: its case does not matter.
    upper = {**headers, "Sentry-Hook-Signature": headers["Sentry-Hook-Signature"].upper()}
    assert post(app, url, body, upper).status_code == 202


def test_a_source_without_a_secret_takes_unsigned_webhooks_until_it_gets_one(app: InProcessDaemon) -> None:
    body, headers, secret = fixture(CRITICAL)
    url = make_source(app)
    unsigned = {"Content-Type": "application/json"}
    assert post(app, url, body, unsigned).status_code == 202
    source_id = app.get("/api/alert-sources").json()[-1]["id"]
    assert app.put(f"/api/alert-sources/{source_id}", {"signingSecret": secret}).status_code == 200
    refused = post(app, url, body, unsigned)
    assert refused.status_code == 401 and refused.json()["code"] == "INVALID_SIGNATURE"
    assert post(app, url, body, headers).status_code == 202
    assert app.get(f"/api/incidents/{app.get('/api/incidents').json()[0]['id']}").json()["eventCount"] == 2


ISSUE_ALERT: dict[str, Any] = {
    "action": "triggered",
    "actor": {"id": "sentry", "name": "Sentry", "type": "application"},
    "data": {
        "event": {
            "event_id": "ec36e0d7b8b04fbd8b2c9ae26ef7b1ab",
            "issue_id": "1117540176",
            "issue_url": "https://sentry.io/api/0/issues/1117540176/",
            "web_url": "https://sentry.io/organizations/example/issues/1117540176/events/ec36e0d7/",
            "title": "ReferenceError: heck is not defined",
            "culprit": "?(<anonymous>)",
            "level": "error",
            "platform": "javascript",
            "tags": [["environment", "prod"], ["level", "error"]],
        },
        "triggered_rule": "Send a notification for new issues",
    },
    "installation": {"uuid": "a8e5d37a-696c-4c54-adb5-b3f28d64c7de"},
}


def issue_webhook(action: str) -> dict[str, Any]:
    return {"action": action, "actor": {"id": 1, "name": "colleen", "type": "user"},
            "data": {"issue": {"id": "1117540176", "shortId": "FRONTEND-1", "title": "ReferenceError",
                               "level": "error", "status": "resolved" if action == "resolved" else "open",
                               "web_url": "https://sentry.io/organizations/example/issues/1117540176/",
                               "project": {"slug": "frontend"}}},
            "installation": {"uuid": "a8e5d37a-696c-4c54-adb5-b3f28d64c7de"}}


def test_an_issue_alert_opens_an_incident_that_the_issue_webhook_resolves(app: InProcessDaemon) -> None:
    url = make_source(app, "s3cret")
    body = json.dumps(ISSUE_ALERT).encode()
    opened = post(app, url, body, signed(body, "s3cret", "event_alert"))
    assert opened.status_code == 202, opened.text
    incident = app.get(f"/api/incidents/{opened.json()[0]['incidentId']}").json()
    assert incident["summary"] == "ReferenceError: heck is not defined"
    assert incident["alertKey"] == "sentry-issue-1117540176"
    assert incident["priority"] == "HIGH"
    assert incident["details"] == "Culprit: ?(<anonymous>)\nAlert rule: Send a notification for new issues"
    assert incident["labels"] == {"level": "error", "environment": "prod",
                                  "alert_rule": "Send a notification for new issues"}
    assert incident["links"][0]["text"] == "Sentry event"

    for silent in ("assigned", "archived"):
        body = json.dumps(issue_webhook(silent)).encode()
        reply = post(app, url, body, signed(body, "s3cret", "issue"))
        assert reply.status_code == 202 and reply.json() == []
    assert app.get(f"/api/incidents/{incident['id']}").json()["status"] == "PENDING"

    body = json.dumps(issue_webhook("resolved")).encode()
    resolved = post(app, url, body, signed(body, "s3cret", "issue"))
    assert resolved.status_code == 202 and resolved.json()[0]["responseCode"] == "INCIDENT_RESOLVED"
    assert app.get(f"/api/incidents/{incident['id']}").json()["status"] == "RESOLVED"


@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "not valid JSON"),
    (b"[]", "must be a JSON object"),
    (b'{"action": "critical"}', "'data' must be an object"),
    (b'{"action": "exploded", "data": {"metric_alert": {"id": "1"}}}', "critical, warning or resolved"),
    (b'{"action": "critical", "data": {"metric_alert": {}}}', "'data.metric_alert.id' is missing"),
    (b'{"action": "triggered", "data": {"event": {"title": "x"}}}', "'data.event.issue_id' is missing"),
    (b'{"action": "created", "data": {"comment": "hi"}}', "none of metric_alert"),
])
def test_a_malformed_body_is_400_and_stores_nothing(app: InProcessDaemon, body: bytes, reason: str) -> None:
    url = make_source(app, "s3cret")
    helpers.assert_refused(app, post(app, url, body, signed(body, "s3cret")), reason=reason)


def test_a_key_of_another_source_type_is_refused(app: InProcessDaemon) -> None:
    body, headers, _ = fixture(CRITICAL)
    reply = post(app, f"/api/v1/events/sentry/{app.integration_key}", body, headers)
    helpers.assert_refused(app, reply, "INTEGRATION_TYPE_MISMATCH")


def test_a_payload_with_no_events_is_answered_at_once(app: InProcessDaemon, monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
    # It waited for replies to the events it did not have until the reply deadline (30 s): the
    # deadline is made an hour, and the answer must come well before the guard's 10 s.
    monkeypatch.setattr(ask, "REPLY_TIMEOUT", 3600.0)
    services = app.daemon.services
    assert services is not None
    gather = ask.TurnGather(IngestBatch)
    asked = gather.ask(services.leading_supervisor(), services.tracker, [])
    assert asyncio.run(asyncio.wait_for(asked, 10)) == []


def test_a_signed_sources_key_alone_opens_and_resolves_nothing_elsewhere(app: InProcessDaemon) -> None:
    """Its key, sent to the Event API or PagerDuty's shim, opened and resolved its incidents with
    no signature: the secret guarded one route of three."""
    body, headers, secret = fixture(CRITICAL)
    url = make_source(app, secret)
    key = url.rsplit("/", 1)[1]
    opened = post(app, url, body, headers).json()[0]
    native = app.client.post("/api/events", json={
        "integrationKey": key, "eventType": "RESOLVE", "alertKey": opened["alertKey"], "summary": "x"})
    assert (native.status_code, native.json()["code"]) == (401, "INVALID_SIGNATURE")
    assert native.json()["message"] == ("alert source \"sentry\" takes only its tool's signed requests,"
                                        " on /api/v1/events/sentry/...")
    shim = app.client.post("/v2/enqueue", json={
        "routing_key": key, "event_action": "resolve", "dedup_key": opened["alertKey"]})
    assert shim.status_code == 401 and shim.json()["status"] == "invalid event", shim.text
    new = app.client.post("/api/events", json={"integrationKey": key, "eventType": "ALERT", "summary": "x"})
    assert new.status_code == 401
    assert app.get(f"/api/incidents/{opened['incidentId']}").json()["status"] == "PENDING"
    assert len(app.get("/api/incidents").json()) == 1
    metrics = app.client.get("/metrics").text
    assert 'ilertd_events_total{integration="api",outcome="INVALID_SIGNATURE"} 2.0' in metrics
    assert 'ilertd_events_total{integration="pagerduty",outcome="INVALID_SIGNATURE"} 1.0' in metrics
    # A secret on a source no integration checks (an API one) guards nothing: its key is taken.
    assert app.put("/api/alert-sources/1", {"signingSecret": "s3cret"}).status_code == 200
    api = app.client.post("/api/events", json={"integrationKey": app.integration_key, "eventType": "ALERT",
                                                "summary": "x"})
    assert api.status_code == 202, api.text
    # A source without a secret takes its key there, as the Event API promises any source's.
    plain = helpers.new_source(app, "SENTRY", "open sentry")
    taken = app.client.post("/api/events", json={"integrationKey": plain, "eventType": "ALERT",
                                                 "summary": "x"})
    assert taken.status_code == 202, taken.text
