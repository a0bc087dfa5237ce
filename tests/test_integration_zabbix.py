"""The `zabbix` integration over the iLert media type's bodies (as Zabbix ships it), and ilertd's own
media type (integrations/zabbix/): its JavaScript run under node with Zabbix's HttpRequest stubbed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import integration_helpers as helpers
from tests.inprocess import InProcessDaemon

ROOT = Path(__file__).resolve().parent.parent
MEDIA_TYPE = ROOT / "integrations" / "zabbix" / "ilertd_mediatype.yaml"
KEY = "zabbix-428117"


def fixture(name: str) -> dict[str, Any]:
    body: dict[str, Any] = helpers.fixture_json(f"zabbix_ilert_mediatype_{name}.json")
    return body


def update(action: str, message: str = "", user: str = "Alice Admin") -> dict[str, Any]:
    """The problem's body as an update operation sends it."""
    return {**fixture("problem"), "EVENT.UPDATE.STATUS": "1", "EVENT.UPDATE.ACTION": action,
            "EVENT.UPDATE.MESSAGE": message or "{EVENT.UPDATE.MESSAGE}", "USER.FULLNAME": user,
            "ALERT.SUBJECT": "Updated problem in 5m: High CPU utilization (over 90% for 5m)"}


def send(app: InProcessDaemon, key: str, body: Any, kind: str = "zabbix-mt") -> list[helpers.Record]:
    return helpers.results(helpers.post_payload(app, kind, key, body))


# --- iLert's media type body ---------------------------------------------------------------------


def test_a_problem_opens_a_high_incident_keyed_by_the_event_id(app: InProcessDaemon) -> None:
    key = helpers.new_source(app, "ZABBIX")
    (opened,) = send(app, key, fixture("problem"))
    assert opened["responseCode"] == "NEW_INCIDENT_CREATED" and opened["alertKey"] == KEY
    incident = app.get(f"/api/incidents/{opened['incidentId']}").json()
    assert incident["summary"] == "Problem: High CPU utilization (over 90% for 5m)"
    assert incident["priority"] == "HIGH"
    assert incident["details"].startswith("Problem started at 10:15:00 on 2024.05.06\n")
    assert incident["details"].endswith("CPU utilization is too high. The system might be slow to respond.")
    assert incident["links"] == [{"href": "https://zabbix.example.com/tr_events.php?triggerid=23456&eventid=428117",
                                  "text": "Zabbix event"}]
    assert incident["labels"] == {"component": "cpu", "scope": "performance", "team": "sre",
                                  "host": "web-1", "severity": "High"}
    details = incident["customDetails"]
    assert details["HOST.IP"] == "10.0.0.21" and details["ITEM.NAME1"] == "CPU utilization"
    # Macros that do not apply arrive as their own text or *UNKNOWN*: they are not facts.
    assert "ITEM.NAME2" not in details and "EVENT.RECOVERY.DATE" not in details


def test_the_same_problem_again_is_deduplicated(app: InProcessDaemon) -> None:
    key = helpers.new_source(app, "ZABBIX")
    (first,) = send(app, key, fixture("problem"))
    (again,) = send(app, key, fixture("problem"), kind="zabbix")
    assert again["responseCode"] == "EVENT_ADDED_TO_INCIDENT" and again["incidentId"] == first["incidentId"]
    (incident,) = helpers.incidents(app)
    assert incident["eventCount"] == 2


def test_the_recovery_resolves_the_problems_incident(app: InProcessDaemon) -> None:
    key = helpers.new_source(app, "ZABBIX")
    (opened,) = send(app, key, fixture("problem"))
    (resolved,) = send(app, key, fixture("recovery"))
    assert resolved["alertKey"] == KEY and resolved["responseCode"] == "INCIDENT_RESOLVED"
    assert app.get(f"/api/incidents/{opened['incidentId']}").json()["status"] == "RESOLVED"


def test_a_recovery_with_nothing_open_is_still_2xx(app: InProcessDaemon) -> None:
    key = helpers.new_source(app, "ZABBIX")
    (result,) = send(app, key, fixture("recovery"))
    assert result["responseCode"] == "NO_OPEN_INCIDENT_WITH_KEY"
    assert helpers.incidents(app) == []


@pytest.mark.parametrize(("changes", "priority"), [
    ({"EVENT.NSEVERITY": "5", "EVENT.SEVERITY": "Disaster"}, "HIGH"),
    ({"EVENT.NSEVERITY": "3", "EVENT.SEVERITY": "Average"}, "LOW"),
    ({"EVENT.NSEVERITY": "2", "EVENT.SEVERITY": "Warning"}, "LOW"),
    # A renamed severity ("Sev 1") does not matter: the number decides.
    ({"EVENT.NSEVERITY": "4", "EVENT.SEVERITY": "Sev 1"}, "HIGH"),
    # Without the number, the name.
    ({"EVENT.NSEVERITY": "{EVENT.NSEVERITY}", "EVENT.SEVERITY": "Disaster"}, "HIGH"),
    ({"EVENT.NSEVERITY": "{EVENT.NSEVERITY}", "EVENT.SEVERITY": "Information"}, "LOW"),
])
def test_the_severity_sets_the_priority(app: InProcessDaemon, changes: dict[str, str], priority: str) -> None:
    key = helpers.new_source(app, "ZABBIX")
    (opened,) = send(app, key, {**fixture("problem"), **changes})
    assert app.get(f"/api/incidents/{opened['incidentId']}").json()["priority"] == priority


@pytest.mark.parametrize(("changes", "summary"), [
    ({".ILERT.INCIDENT.SUMMARY": "CPU on web-1"}, "CPU on web-1"),
    ({"ALERT.SUBJECT": "{ALERT.SUBJECT}"}, "Web server 1: High CPU utilization (over 90% for 5m)"),
    ({"ALERT.SUBJECT": "", "HOST.NAME": "*UNKNOWN*", "HOST.HOST": "*UNKNOWN*"},
     "High CPU utilization (over 90% for 5m)"),
    ({"ALERT.SUBJECT": "x" * 2000}, "x" * 1023 + "…"),
])
def test_the_summary_is_the_override_else_the_subject_else_host_and_name(
    app: InProcessDaemon, changes: dict[str, str], summary: str,
) -> None:
    key = helpers.new_source(app, "ZABBIX")
    (opened,) = send(app, key, {**fixture("problem"), **changes})
    assert app.get(f"/api/incidents/{opened['incidentId']}").json()["summary"] == summary


def test_an_acknowledgement_accepts_with_its_message(app: InProcessDaemon) -> None:
    key = helpers.new_source(app, "ZABBIX")
    (opened,) = send(app, key, fixture("problem"))
    (accepted,) = send(app, key, update("acknowledged and commented", "looking at the CPU hog"))
    assert accepted["responseCode"] == "INCIDENT_ACCEPTED"
    assert app.get(f"/api/incidents/{opened['incidentId']}").json()["status"] == "ACCEPTED"
    assert "Alice Admin: looking at the CPU hog" in helpers.log_texts(app, opened["incidentId"])


@pytest.mark.parametrize(("action", "message", "comment"), [
    ("commented", "load comes from the backup job", "Alice Admin commented: load comes from the backup job"),
    ("unacknowledged", "", "Alice Admin unacknowledged"),
    ("changed severity from High to Disaster", "", "Alice Admin changed severity from High to Disaster"),
])
def test_other_updates_are_comments(app: InProcessDaemon, action: str, message: str, comment: str) -> None:
    key = helpers.new_source(app, "ZABBIX")
    (opened,) = send(app, key, fixture("problem"))
    (noted,) = send(app, key, update(action, message))
    assert noted["responseCode"] == "COMMENT_ADDED"
    assert app.get(f"/api/incidents/{opened['incidentId']}").json()["status"] == "PENDING"
    assert comment in helpers.log_texts(app, opened["incidentId"])


def test_closing_the_problem_in_zabbix_resolves(app: InProcessDaemon) -> None:
    key = helpers.new_source(app, "ZABBIX")
    (opened,) = send(app, key, fixture("problem"))
    (closed,) = send(app, key, update("closed"))
    assert closed["responseCode"] == "INCIDENT_RESOLVED"
    assert app.get(f"/api/incidents/{opened['incidentId']}").json()["status"] == "RESOLVED"


@pytest.mark.parametrize(("body", "reason"), [
    (b"EVENT.ID=428117", "not valid JSON"),
    (b"[]", "JSON object"),
    (json.dumps({**fixture("problem"), "EVENT.ID": "{EVENT.ID}"}).encode(), "EVENT.ID"),
    (json.dumps({k: v for k, v in fixture("problem").items() if k != "EVENT.ID"}).encode(), "EVENT.ID"),
    (json.dumps({**fixture("problem"), "EVENT.VALUE": "2", "TRIGGER.VALUE": "2"}).encode(), "EVENT.VALUE"),
    (json.dumps({**fixture("problem"), "ALERT.SUBJECT": ["not", "text"]}).encode(), "ALERT.SUBJECT"),
])
def test_a_malformed_body_is_refused_and_stores_nothing(
    app: InProcessDaemon, body: bytes, reason: str,
) -> None:
    helpers.assert_malformed(app, "zabbix", "ZABBIX", body, reason)


def test_the_key_of_another_source_type_is_refused(app: InProcessDaemon) -> None:
    helpers.assert_type_mismatch(app, "zabbix-mt", "NAGIOS", fixture("problem"))


# --- ilertd's own media type ---------------------------------------------------------------------

# Zabbix runs a webhook's script as a function of `value` with HttpRequest and Zabbix in scope;
# this stand-in records each request and answers from a queue.
NODE_HARNESS = r"""
const [script, value, answers] = process.argv.slice(1);
const queue = JSON.parse(answers), sent = [];
function HttpRequest() { this.headers = []; this.status = 0; this.proxy = null; }
HttpRequest.prototype.addHeader = function (header) { this.headers.push(header); };
HttpRequest.prototype.setProxy = function (proxy) { this.proxy = proxy; };
HttpRequest.prototype.post = function (url, data) {
  sent.push({url: url, headers: this.headers, proxy: this.proxy, body: JSON.parse(data)});
  const answer = queue.shift(); this.status = answer[0]; return answer[1];
};
HttpRequest.prototype.getStatus = function () { return this.status; };
const Zabbix = {log: function () {}};
let outcome;
const webhook = new Function('value', 'HttpRequest', 'Zabbix', script);
try { outcome = {returned: webhook(value, HttpRequest, Zabbix)}; }
catch (error) { outcome = {thrown: String(error)}; }
outcome.sent = sent;
process.stdout.write(JSON.stringify(outcome));
"""
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node runs the media type's JavaScript")


def media_type() -> dict[str, Any]:
    exported = yaml.safe_load(MEDIA_TYPE.read_text())
    assert exported["zabbix_export"]["version"] == "6.0"
    (media,) = exported["zabbix_export"]["media_types"]
    found: dict[str, Any] = media
    return found


def resolved_parameters(macros: dict[str, str], **settings: str) -> dict[str, str]:
    """The media type's parameters as Zabbix resolves them for an event with these macro values."""
    def resolve(value: str) -> str:
        return re.sub(r"\{\$?([A-Z0-9_.]+)\}", lambda m: macros.get(m.group(1), m.group(0)), value)

    parameters = {p["name"]: resolve(p["value"]) for p in media_type()["parameters"]}
    return {**parameters, **settings}


def run_webhook(parameters: dict[str, str], *answers: tuple[int, Any]) -> dict[str, Any]:
    assert NODE is not None
    replies = [[status, body if isinstance(body, str) else json.dumps(body)] for status, body in answers]
    result = subprocess.run([NODE, "-e", NODE_HARNESS, media_type()["script"], json.dumps(parameters),
                             json.dumps(replies)], capture_output=True, text=True, timeout=30, check=True)
    outcome: dict[str, Any] = json.loads(result.stdout)
    return outcome


def test_the_media_type_sends_the_macros_under_their_own_names() -> None:
    media = media_type()
    assert media["type"] == "WEBHOOK" and media["process_tags"] == "YES"
    for parameter in media["parameters"]:
        if not parameter["name"].startswith(".ILERTD."):
            # The body's names are the iLert media type's, so one parser reads both.
            assert parameter["value"] in (f"{{{parameter['name']}}}", "{$ZABBIX.URL}"), parameter
    names = {p["name"] for p in media["parameters"]}
    assert {"EVENT.ID", "EVENT.VALUE", "EVENT.UPDATE.STATUS", "EVENT.NSEVERITY", "ALERT.SUBJECT"} <= names
    assert {"EVENT.ID", "EVENT.VALUE", "EVENT.UPDATE.STATUS"} <= set(fixture("problem"))


@needs_node
def test_the_media_type_posts_a_body_ilertd_maps_and_keeps_the_incident_id(app: InProcessDaemon) -> None:
    key = helpers.new_source(app, "ZABBIX")
    macros = {**fixture("problem"), "ZABBIX.URL": "https://zabbix.example.com", "ALERT.SENDTO": key,
              "ALERT.SUBJECT": "Web server 1: High CPU utilization (over 90% for 5m)"}
    parameters = resolved_parameters(macros, **{".ILERTD.URL": "http://ilertd.test:8020/"})
    outcome = run_webhook(parameters, (202, [{"alertKey": KEY, "incidentId": 7}]))
    (request,) = outcome["sent"]
    assert request["url"] == f"http://ilertd.test:8020/api/v1/events/zabbix/{key}"
    assert "Content-Type: application/json" in request["headers"]
    assert not any(name.startswith(".ILERTD.") for name in request["body"])
    assert json.loads(outcome["returned"]) == {"tags": {"__ilertd_incident_id": "7"}}
    # What it posted, posted to ilertd: the incident the iLert body would open, with our subject.
    (opened,) = send(app, key, request["body"], kind="zabbix")
    incident = app.get(f"/api/incidents/{opened['incidentId']}").json()
    assert incident["summary"] == "Web server 1: High CPU utilization (over 90% for 5m)"
    assert incident["alertKey"] == KEY and incident["priority"] == "HIGH"


@needs_node
def test_the_media_type_tolerates_nothing_open_and_fails_on_a_refusal() -> None:
    parameters = resolved_parameters(fixture("recovery"), **{".ILERTD.KEY": "k"})
    gone = run_webhook(parameters, (400, {"code": "NO_OPEN_INCIDENT_WITH_KEY", "message": "none"}))
    assert json.loads(gone["returned"]) == {"tags": {}}
    refused = run_webhook(parameters, (400, {"code": "INVALID_PAYLOAD", "message": "zabbix: bad"}))
    assert refused["thrown"] == "ilertd notification failed: ilertd answered HTTP 400: zabbix: bad"
    down = run_webhook(parameters, (503, "<html>bad gateway</html>"))
    assert down["thrown"] == "ilertd notification failed: ilertd answered HTTP 503"


@needs_node
def test_the_media_type_refuses_to_send_without_a_key() -> None:
    parameters = resolved_parameters(fixture("problem"))  # "Send to" left empty: {ALERT.SENDTO}
    outcome = run_webhook(parameters)
    assert outcome["sent"] == [] and "no integration key" in outcome["thrown"]
