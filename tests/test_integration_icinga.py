"""The `icinga` integration over the captured Icinga 2.13.6 notifications, and the shared notification
script run with the environment the NotificationCommand of integrations/icinga2/ilertd.conf sets."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import partial

import pytest

from tests import integration_helpers as helpers
from tests.daemon import DaemonProcess
from tests.inprocess import InProcessDaemon
from tests.test_integration_nagios import ROOT, SCRIPT, make_source, open_incidents_of, run_script
from tests.test_integration_nagios import body_from as nagios_body_from
from tests.test_integration_nagios import fixture_env as nagios_fixture_env
from tests.test_integration_nagios import notify as nagios_notify

ICINGA = helpers.FIXTURES / "icinga2"
CONF = ROOT / "integrations" / "icinga2" / "ilertd.conf"

# The Nagios script serves Icinga 2 too: its captures, its ICINGA_ macros, its own integration.
fixture_env = partial(nagios_fixture_env, folder=ICINGA)
body_from = partial(nagios_body_from, tool="icinga", folder=ICINGA)
notify = partial(nagios_notify, kind="icinga")


# --- the integration, in process ----------------------------------------------------------------


def test_a_service_problem_opens_a_high_incident(app: InProcessDaemon) -> None:
    key = make_source(app, "ICINGA")
    opened = notify(app, key, body_from("service_problem"))
    incident = app.get(f"/api/incidents/{opened['incidentId']}").json()
    assert incident["summary"] == "CRITICAL: web-1/HTTP - HTTP CRITICAL - connection refused on port 8080"
    assert incident["alertKey"] == "web-1/HTTP"
    assert incident["priority"] == "HIGH"
    assert incident["labels"] == {"host": "web-1", "service": "HTTP", "team": "sre",
                                  "runbook": "https://runbooks.example.com/http"}
    assert incident["customDetails"]["tool"] == "icinga"
    assert incident["customDetails"]["hostDisplayName"] == "Web server 1"


def test_a_service_notification_follows_the_services_state_not_the_hosts(app: InProcessDaemon) -> None:
    """The captured service problem came while its host was DOWN (SOFT): the service's WARNING counts."""
    key = make_source(app, "ICINGA")
    assert fixture_env("service_problem")["ICINGA_HOSTSTATE"] == "DOWN"
    opened = notify(app, key, body_from("service_problem", SERVICESTATE="WARNING"))
    incident = app.get(f"/api/incidents/{opened['incidentId']}").json()
    assert incident["priority"] == "LOW" and incident["summary"].startswith("WARNING: web-1/HTTP - ")


def test_a_host_problem_is_keyed_by_the_host_and_deduplicated(app: InProcessDaemon) -> None:
    key = make_source(app, "ICINGA")
    first = notify(app, key, body_from("host_problem"), kind="icinga2")
    again = notify(app, key, body_from("host_problem"))
    assert first["alertKey"] == "web-1" and again["incidentId"] == first["incidentId"]
    assert again["responseCode"] == "EVENT_ADDED_TO_INCIDENT"
    (incident,) = helpers.incidents(app)
    assert incident["summary"] == "DOWN: web-1 - PING CRITICAL - Packet loss = 100%"
    assert incident["eventCount"] == 2 and incident["priority"] == "HIGH"


@pytest.mark.parametrize("name", ["service", "host"])
def test_a_recovery_resolves_the_incident(app: InProcessDaemon, name: str) -> None:
    key = make_source(app, "ICINGA")
    opened = notify(app, key, body_from(f"{name}_problem"))
    assert notify(app, key, body_from(f"{name}_recovery"))["responseCode"] == "INCIDENT_RESOLVED"
    assert app.get(f"/api/incidents/{opened['incidentId']}").json()["status"] == "RESOLVED"


def test_the_captured_bodies_open_and_resolve(app: InProcessDaemon) -> None:
    key = make_source(app, "ICINGA")
    problem = helpers.fixture_json("service_problem.body.json", ICINGA)
    opened = notify(app, key, problem)
    assert opened["alertKey"] == "web-1/HTTP"
    recovery = helpers.fixture_json("service_recovery.body.json", ICINGA)
    assert notify(app, key, recovery)["incidentId"] == opened["incidentId"]
    assert app.get(f"/api/incidents/{opened['incidentId']}").json()["status"] == "RESOLVED"


def test_an_acknowledgement_accepts_and_a_flapping_start_comments(app: InProcessDaemon) -> None:
    key = make_source(app, "ICINGA")
    opened = notify(app, key, body_from("service_problem"))
    flapping = notify(app, key, body_from("service_problem", NOTIFICATIONTYPE="FLAPPINGSTART"))
    assert flapping["responseCode"] == "COMMENT_ADDED"
    assert app.get(f"/api/incidents/{opened['incidentId']}").json()["status"] == "PENDING"
    ack = notify(app, key, body_from("service_problem", NOTIFICATIONTYPE="ACKNOWLEDGEMENT",
                                     NOTIFICATIONAUTHOR="carol", NOTIFICATIONCOMMENT="on it"))
    assert ack["responseCode"] == "INCIDENT_ACCEPTED"
    assert app.get(f"/api/incidents/{opened['incidentId']}").json()["status"] == "ACCEPTED"
    texts = helpers.log_texts(app, opened["incidentId"])
    assert "carol: on it" in texts
    assert any("Flapping started: web-1/HTTP" in text for text in texts)


def test_icinga_web_2_is_linked_when_its_url_is_given(app: InProcessDaemon) -> None:
    key = make_source(app, "ICINGA")
    body = body_from("service_problem", ICINGAWEB2URL="https://icinga.example.com/icingaweb2/")
    opened = notify(app, key, body)
    links = app.get(f"/api/incidents/{opened['incidentId']}").json()["links"]
    assert {"href": "https://icinga.example.com/icingaweb2/monitoring/service/show?host=web-1&service=HTTP",
            "text": "Icinga Web 2"} in links


@pytest.mark.parametrize(("body", "reason"), [
    (b"{", "not valid JSON"),
    (b'"PROBLEM"', "JSON object"),
    (json.dumps({"notification_type": "PROBLEM", "state": "DOWN"}).encode(), "'host'"),
    (json.dumps({"notification_type": "PROBLEM", "host": "web-1", "state": "DOWN",
                 "links": [{"text": "no href"}]}).encode(), "links[0].href"),
])
def test_a_malformed_body_is_refused_and_stores_nothing(
    app: InProcessDaemon, body: bytes, reason: str,
) -> None:
    helpers.assert_malformed(app, "icinga", "ICINGA", body, reason)


def test_the_key_of_another_source_type_is_refused(app: InProcessDaemon) -> None:
    helpers.assert_type_mismatch(app, "icinga2", "NAGIOS", body_from("host_problem"))


# --- the configuration and the script -----------------------------------------------------------


def configured_env_names() -> set[str]:
    """The environment variables ilertd.conf's NotificationCommands set (comments left out)."""
    text = re.sub(r"/\*.*?\*/", "", CONF.read_text(), flags=re.DOTALL)
    return set(re.findall(r"^\s*((?:ICINGA|ILERTD)_\w+)\s*=", text, flags=re.MULTILINE))


def test_the_conf_sets_every_macro_of_the_captured_environment() -> None:
    names = configured_env_names()
    for capture in ("host_problem", "service_problem"):
        # Custom variables (ICINGA__HOST*, ICINGA__SERVICE*) are the user's own to add.
        captured = {name for name in fixture_env(capture) if not name.startswith("ICINGA__")}
        assert captured <= names, captured - names
    assert {"ILERTD_URL", "ILERTD_KEY"} <= names
    assert SCRIPT.name in CONF.read_text()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    """One `ilertd serve` for the module: each test makes its own alert source."""
    yield from helpers.serving(tmp_path_factory.mktemp("icinga-daemon"))


@pytest.mark.parametrize("name", ["host", "service"])
def test_the_script_opens_then_resolves_as_icinga_runs_it(served: DaemonProcess, name: str) -> None:
    key = make_source(served, "ICINGA")
    # ilertd.conf passes the URL and key as ILERTD_URL / ILERTD_KEY, from the User's vars.
    settings = {"ILERTD_URL": served.url, "ILERTD_KEY": key}
    problem = run_script({**fixture_env(f"{name}_problem"), **settings})
    assert problem.returncode == 0, problem.stderr
    (incident,) = open_incidents_of(served, key)
    assert incident["alertKey"] == ("web-1/HTTP" if name == "service" else "web-1")
    assert incident["customDetails"]["tool"] == "icinga"
    recovery = run_script({**fixture_env(f"{name}_recovery"), **settings})
    assert recovery.returncode == 0, recovery.stderr
    assert served.get(f"/api/incidents/{incident['id']}").json()["status"] == "RESOLVED"


def test_the_script_sent_to_a_nagios_source_fails_with_the_reason(served: DaemonProcess) -> None:
    key = make_source(served, "NAGIOS")
    result = run_script({**fixture_env("host_problem"), "ILERTD_URL": served.url, "ILERTD_KEY": key})
    assert result.returncode == 1
    assert "HTTP 400" in result.stderr and "INTEGRATION_TYPE_MISMATCH" in result.stderr
    assert open_incidents_of(served, key) == []
