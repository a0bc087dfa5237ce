"""The `nagios` integration over the captured Nagios 4.4.6 notifications, and the notification script
run as Nagios runs it (its environment macros) against a real `ilertd serve`."""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests import integration_helpers as helpers
from tests.daemon import ApiClient, DaemonProcess
from tests.inprocess import InProcessDaemon
from tests.loopback import HttpReceiver, Request, free_port

ROOT = Path(__file__).resolve().parent.parent
NAGIOS = helpers.FIXTURES / "nagios"
SCRIPT = ROOT / "integrations" / "nagios" / "ilertd-notify.py"
# A notification command gets Nagios's environment, not a login shell's: a PATH and the macros.
MINIMAL_PATH = {"PATH": "/usr/local/bin:/usr/bin:/bin"}


def load_script() -> ModuleType:
    """The script as a module, for its pure body builder (its file name is not importable)."""
    spec = importlib.util.spec_from_file_location("ilertd_notify", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NOTIFY = load_script()


def fixture_env(name: str, folder: Path = NAGIOS) -> dict[str, str]:
    """The environment a captured notification command ran with: the tool's macros."""
    env: dict[str, str] = helpers.fixture_json(f"{name}.env.json", folder)["env"]
    return env


def body_from(name: str, tool: str = "nagios", folder: Path = NAGIOS, **changes: str) -> dict[str, Any]:
    """What the script POSTs for a captured notification of `tool`, with some macros changed."""
    macros = {f"{tool.upper()}_{macro}": value for macro, value in changes.items()}
    body: dict[str, Any] = NOTIFY.build_body({**fixture_env(name, folder), **macros}, tool)
    return body


SOURCE_NUMBERS = itertools.count(1)


def make_source(daemon: ApiClient, kind: str = "NAGIOS") -> str:
    """A new alert source's integration key; its name is `<kind> <n>`, unique in the daemon."""
    return helpers.new_source(daemon, kind, f"{kind.lower()} {next(SOURCE_NUMBERS)}")


def open_incidents_of(daemon: ApiClient, key: str) -> list[dict[str, Any]]:
    (source,) = [s for s in daemon.get("/api/alert-sources").json() if s.get("integrationKey") == key]
    return [i for i in helpers.incidents(daemon)
            if i["alertSource"]["id"] == source["id"] and i["status"] != "RESOLVED"]


def notify(app: InProcessDaemon, key: str, body: Any, kind: str = "nagios") -> dict[str, Any]:
    """What the reply says of the one event a notification maps to."""
    (outcome,) = helpers.results(helpers.post_payload(app, kind, key, body))
    return outcome


# --- the integration, in process ----------------------------------------------------------------


def test_a_service_problem_opens_a_high_incident_keyed_host_slash_service(app: InProcessDaemon) -> None:
    key = make_source(app)
    opened = notify(app, key, body_from("service_problem"))
    assert opened["responseCode"] == "NEW_INCIDENT_CREATED"
    incident = app.get(f"/api/incidents/{opened['incidentId']}").json()
    assert incident["summary"] == "CRITICAL: web-1/HTTP - HTTP CRITICAL - connection refused on port 8080"
    assert incident["alertKey"] == "web-1/HTTP"
    assert incident["priority"] == "HIGH"
    assert incident["status"] == "PENDING"
    assert incident["details"] == "HTTP CRITICAL - connection refused on port 8080"
    assert incident["labels"] == {"host": "web-1", "service": "HTTP", "team": "sre",
                                  "runbook": "https://runbooks.example.com/http"}
    assert incident["links"] == [{"href": "https://runbooks.example.com/http", "text": "runbook"}]
    details = incident["customDetails"]
    assert details["notificationType"] == "PROBLEM" and details["stateType"] == "HARD"
    assert details["address"] == "127.0.0.1" and details["timestamp"] == 1795762247


def test_a_host_problem_is_its_own_incident_keyed_by_the_host(app: InProcessDaemon) -> None:
    key = make_source(app)
    service = notify(app, key, body_from("service_problem"))
    host = notify(app, key, body_from("host_problem"))
    assert host["incidentId"] != service["incidentId"]
    incident = app.get(f"/api/incidents/{host['incidentId']}").json()
    assert incident["alertKey"] == "web-1"
    assert incident["summary"] == "DOWN: web-1 - PING CRITICAL - Packet loss = 100%"
    assert incident["priority"] == "HIGH"
    assert incident["labels"] == {"host": "web-1", "team": "sre"}
    # Nagios fills $HOSTINFOURL$ without a website_url: "website_url not set/cgi-bin/...", no link.
    assert incident["links"] == []


def test_the_same_problem_again_is_deduplicated(app: InProcessDaemon) -> None:
    key = make_source(app)
    first = notify(app, key, body_from("service_problem"))
    again = notify(app, key, body_from("service_problem", NOTIFICATIONNUMBER="2"))
    assert again["responseCode"] == "EVENT_ADDED_TO_INCIDENT"
    assert again["incidentId"] == first["incidentId"]
    assert len(helpers.incidents(app)) == 1
    assert app.get(f"/api/incidents/{first['incidentId']}").json()["eventCount"] == 2


@pytest.mark.parametrize("name", ["service", "host"])
def test_a_recovery_resolves_the_incident(app: InProcessDaemon, name: str) -> None:
    key = make_source(app)
    opened = notify(app, key, body_from(f"{name}_problem"))
    resolved = notify(app, key, body_from(f"{name}_recovery"))
    assert resolved["responseCode"] == "INCIDENT_RESOLVED"
    assert resolved["incidentId"] == opened["incidentId"]
    assert app.get(f"/api/incidents/{opened['incidentId']}").json()["status"] == "RESOLVED"


def test_a_recovery_with_nothing_open_is_still_accepted(app: InProcessDaemon) -> None:
    key = make_source(app)
    reply = notify(app, key, body_from("service_recovery"))
    assert reply["responseCode"] == "NO_OPEN_INCIDENT_WITH_KEY" and reply["incidentId"] is None
    assert helpers.incidents(app) == []


def test_the_captured_bodies_map_as_the_scripts_do(app: InProcessDaemon) -> None:
    """The capture's own JSON (its fields are the script's core fields) opens and resolves too."""
    key = make_source(app)
    for name in ("service", "host"):
        problem = helpers.fixture_json(f"{name}_problem.body.json", NAGIOS)
        opened = notify(app, key, problem)
        assert opened["alertKey"] == problem["dedup_key"]
        recovery = helpers.fixture_json(f"{name}_recovery.body.json", NAGIOS)
        assert notify(app, key, recovery)["responseCode"] == "INCIDENT_RESOLVED"
    assert {i["status"] for i in helpers.incidents(app)} == {"RESOLVED"}


@pytest.mark.parametrize(("kind", "state", "priority"), [
    ("service", "WARNING", "LOW"), ("service", "UNKNOWN", "LOW"), ("service", "CRITICAL", "HIGH"),
    ("host", "UNREACHABLE", "LOW"), ("host", "DOWN", "HIGH"),
])
def test_the_state_sets_the_priority(app: InProcessDaemon, kind: str, state: str, priority: str) -> None:
    key = make_source(app)
    opened = notify(app, key, body_from(f"{kind}_problem", **{f"{kind.upper()}STATE": state}))
    incident = app.get(f"/api/incidents/{opened['incidentId']}").json()
    assert incident["priority"] == priority
    assert incident["summary"].startswith(f"{state}: ")


def test_a_warning_that_becomes_critical_stays_low_until_its_recovery(app: InProcessDaemon) -> None:
    """As docs/integrations/nagios.md says: an ALERT on an open incident changes nothing."""
    key = make_source(app)
    warning = notify(app, key, body_from("service_problem", SERVICESTATE="WARNING"))
    critical = notify(app, key, body_from("service_problem", SERVICESTATE="CRITICAL"))
    assert critical["responseCode"] == "EVENT_ADDED_TO_INCIDENT"
    assert critical["incidentId"] == warning["incidentId"]
    incident = app.get(f"/api/incidents/{warning['incidentId']}").json()
    assert incident["priority"] == "LOW" and incident["eventCount"] == 2
    assert notify(app, key, body_from("service_recovery"))["responseCode"] == "INCIDENT_RESOLVED"
    again = notify(app, key, body_from("service_problem", SERVICESTATE="CRITICAL"))
    assert again["responseCode"] == "NEW_INCIDENT_CREATED"
    assert app.get(f"/api/incidents/{again['incidentId']}").json()["priority"] == "HIGH"
    eased = notify(app, key, body_from("service_problem", SERVICESTATE="WARNING"))
    assert eased["incidentId"] == again["incidentId"]
    assert app.get(f"/api/incidents/{again['incidentId']}").json()["priority"] == "HIGH"


def test_an_acknowledgement_accepts_with_its_comment(app: InProcessDaemon) -> None:
    key = make_source(app)
    opened = notify(app, key, body_from("service_problem"))
    ack = body_from("service_problem", NOTIFICATIONTYPE="ACKNOWLEDGEMENT", NOTIFICATIONAUTHOR="alice",
                    NOTIFICATIONCOMMENT="restarting nginx")
    accepted = notify(app, key, ack)
    assert accepted["responseCode"] == "INCIDENT_ACCEPTED"
    assert app.get(f"/api/incidents/{opened['incidentId']}").json()["status"] == "ACCEPTED"
    assert "alice: restarting nginx" in helpers.log_texts(app, opened["incidentId"])


@pytest.mark.parametrize("kind", ["FLAPPINGSTART", "DOWNTIMESTART", "CUSTOM"])
def test_flapping_downtime_and_custom_notifications_are_comments(app: InProcessDaemon, kind: str) -> None:
    key = make_source(app)
    opened = notify(app, key, body_from("service_problem"))
    noted = notify(app, key, body_from("service_problem", NOTIFICATIONTYPE=kind, NOTIFICATIONAUTHOR="bob",
                                       NOTIFICATIONCOMMENT="kernel upgrade"))
    assert noted["responseCode"] == "COMMENT_ADDED"
    incident = app.get(f"/api/incidents/{opened['incidentId']}").json()
    assert incident["status"] == "PENDING"
    texts = helpers.log_texts(app, opened["incidentId"])
    assert "bob: kernel upgrade" in texts
    assert any(text.startswith("COMMENT received: ") and "web-1/HTTP" in text for text in texts)


def test_a_downtime_with_nothing_open_opens_nothing(app: InProcessDaemon) -> None:
    key = make_source(app)
    reply = notify(app, key, body_from("host_problem", NOTIFICATIONTYPE="DOWNTIMESTART"))
    assert reply["responseCode"] == "NO_OPEN_INCIDENT_WITH_KEY"
    assert helpers.incidents(app) == []


@pytest.mark.parametrize(("body", "reason"), [
    (b"NAGIOS_HOSTNAME=web-1", "not valid JSON"),
    (b"[]", "JSON object"),
    (json.dumps({"notification_type": "BOGUS", "host": "web-1", "state": "DOWN"}).encode(), "BOGUS"),
    (json.dumps({"notification_type": "PROBLEM", "host": " ", "state": "DOWN"}).encode(), "'host'"),
    (json.dumps({"notification_type": "PROBLEM", "host": "web-1", "object": "service",
                 "state": "CRITICAL"}).encode(), "'service'"),
    (json.dumps({"notification_type": "PROBLEM", "host": "web-1"}).encode(), "'state'"),
    (json.dumps({"notification_type": "PROBLEM", "host": "web-1", "state": "DOWN",
                 "vars": {"team": 3}}).encode(), "'vars'"),
    (json.dumps({"notification_type": "PROBLEM", "host": ["web-1"], "state": "DOWN"}).encode(), "'host'"),
])
def test_a_malformed_body_is_refused_and_stores_nothing(
    app: InProcessDaemon, body: bytes, reason: str,
) -> None:
    helpers.assert_malformed(app, "nagios", "NAGIOS", body, reason)


def test_the_key_of_another_source_type_is_refused(app: InProcessDaemon) -> None:
    helpers.assert_type_mismatch(app, "nagios", "ICINGA", body_from("service_problem"))


def test_the_script_never_sends_the_contacts_variables() -> None:
    """The contact's custom variables hold the integration key: they are not part of the body."""
    env = {**fixture_env("service_problem"), "NAGIOS__CONTACTILERTD_KEY": "s3cret-key"}
    assert "s3cret-key" not in json.dumps(NOTIFY.build_body(env, "nagios"))


def test_the_cfg_runs_the_script_and_gives_the_contact_the_variables_it_reads() -> None:
    cfg = (ROOT / "integrations" / "nagios" / "ilertd.cfg").read_text()
    command_lines = re.findall(r"^\s*command_line\s+(.+)$", cfg, flags=re.MULTILINE)
    assert len(command_lines) == 2 and all(line.endswith(f"/{SCRIPT.name}") for line in command_lines)
    custom = re.findall(r"^\s*_(\w+)\s+\S", cfg, flags=re.MULTILINE)
    assert custom == ["ILERTD_URL", "ILERTD_KEY"]
    # Nagios exports a contact's _NAME as NAGIOS__CONTACT<NAME>: the names the script reads.
    script = SCRIPT.read_text()
    assert all(f'"NAGIOS__CONTACT{name}"' in script for name in custom)


# --- the script, as Nagios runs it, against a real daemon ---------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    """One `ilertd serve` for the module: each test makes its own alert source."""
    yield from helpers.serving(tmp_path_factory.mktemp("nagios-daemon"))


def run_script(env: dict[str, Any], *args: str,
               spool: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The script run as Nagios runs it; its spool a directory of its own unless `spool` is given
    (never the machine's /var/spool/ilertd-notify, nor another test's)."""
    with tempfile.TemporaryDirectory(prefix="ilertd-spool-") as own:
        spool_dir = {"ILERTD_SPOOL_DIR": str(spool or Path(own) / "spool")}
        return subprocess.run([sys.executable, str(SCRIPT), *args], env={**spool_dir, **env, **MINIMAL_PATH},
                              capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("name", ["host", "service"])
def test_the_script_opens_then_resolves_as_nagios_runs_it(served: DaemonProcess, name: str) -> None:
    key = make_source(served)
    problem = run_script(fixture_env(f"{name}_problem"), "--url", served.url, "--key", key)
    assert problem.returncode == 0, problem.stderr
    (incident,) = open_incidents_of(served, key)
    assert incident["alertKey"] == ("web-1/HTTP" if name == "service" else "web-1")
    assert incident["priority"] == "HIGH"
    recovery = run_script(fixture_env(f"{name}_recovery"), "--url", served.url, "--key", key)
    assert recovery.returncode == 0, recovery.stderr
    assert "INCIDENT_RESOLVED" in recovery.stdout
    assert served.get(f"/api/incidents/{incident['id']}").json()["status"] == "RESOLVED"


def test_the_script_takes_url_and_key_from_the_contacts_custom_variables(served: DaemonProcess) -> None:
    key = make_source(served)
    env = {**fixture_env("service_problem"), "NAGIOS__CONTACTILERTD_URL": served.url,
           "NAGIOS__CONTACTILERTD_KEY": key}
    result = run_script(env)
    assert result.returncode == 0, result.stderr
    (incident,) = open_incidents_of(served, key)
    assert incident["summary"].startswith("CRITICAL: web-1/HTTP")


def test_the_script_fails_loudly_on_a_wrong_key(served: DaemonProcess, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    result = run_script(fixture_env("service_problem"), "--url", served.url, "--key", "no-such-key",
                        "--backoff", "0", spool=spool)
    assert result.returncode == 1
    assert "HTTP 404" in result.stderr and "UNKNOWN_INTEGRATION_KEY" in result.stderr
    assert list(spool.glob("*.json")) == []  # a refusal is final: spooling it would not help


def test_the_script_retries_an_unreachable_daemon_then_spools(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    result = run_script(fixture_env("host_problem"), "--url", f"http://127.0.0.1:{free_port()}",
                        "--key", "k", "--attempts", "2", "--backoff", "0", spool=spool)
    assert result.returncode == 0, result.stderr
    assert "cannot reach" in result.stderr and "after 2 attempts" in result.stderr
    assert "PROBLEM for web-1 spooled to" in result.stderr
    (spooled,) = spool.glob("*.json")
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700 and stat.S_IMODE(spooled.stat().st_mode) == 0o600
    assert json.loads(spooled.read_text())["body"] == body_from("host_problem")


class FlakyDaemon(HttpReceiver):
    """Answers 503 to the first request, then 202 as ilertd does."""

    def answer(self, request: Request) -> tuple[int, Any]:  # type: ignore[override]
        if len(self.requests) == 1:
            return 503, {"code": "NOT_READY", "message": "starting"}
        return 202, [{"alertKey": "web-1", "responseCode": "NEW_INCIDENT_CREATED"}]


def test_the_script_retries_a_5xx_and_sends_the_same_body_again() -> None:
    flaky = FlakyDaemon()
    try:
        result = run_script(fixture_env("host_problem"), "--url", f"http://127.0.0.1:{flaky.port}",
                            "--key", "k/1", "--backoff", "0")
    finally:
        flaky.close()
    assert result.returncode == 0, result.stderr
    first, second = flaky.requests
    assert first.path == second.path == "/api/v1/events/nagios/k/1"
    assert first.body == second.body and first.json()["dedup_key"] == "web-1"
    assert first.headers["Content-Type"] == "application/json"


def test_the_script_without_macros_says_what_is_missing() -> None:
    result = run_script({}, "--key", "k")
    assert result.returncode == 2 and "enable_environment_macros=1" in result.stderr


def test_the_script_without_a_key_says_where_to_put_it() -> None:
    result = run_script(fixture_env("host_problem"))
    assert result.returncode == 2 and "_ILERTD_KEY" in result.stderr


def test_a_check_output_in_latin_1_is_delivered_as_text(served: DaemonProcess) -> None:
    """NSClient++ on a German Windows writes Latin-1: the byte Nagios passes is no UTF-8."""
    key = make_source(served)
    env: dict[str, Any] = {**fixture_env("service_problem"),
                           "NAGIOS_SERVICEOUTPUT": "CRITICAL - C:\\ Größe 99% belegt".encode("latin-1"),
                           "NAGIOS_HOSTALIAS": "Büro-Server".encode("cp1252") + b"\x81",
                           "NAGIOS__HOSTTEAM": "Rechenzentrum Süd"}
    result = run_script(env, "--url", served.url, "--key", key)
    assert result.returncode == 0, result.stderr
    (incident,) = open_incidents_of(served, key)
    assert incident["summary"] == "CRITICAL: web-1/HTTP - CRITICAL - C:\\ Größe 99% belegt"
    # Windows-1252 leaves 0x81 undefined: Latin-1 takes the whole value then, and never fails.
    assert incident["customDetails"]["hostDisplayName"] == "Büro-Server\x81"
    assert incident["labels"]["team"] == "Rechenzentrum Süd"


def test_the_environment_is_decoded_utf_8_first_then_windows_1252() -> None:
    assert NOTIFY.decoded("Größe".encode().decode("utf-8", "surrogateescape")) == "Größe"
    assert NOTIFY.decoded("Gr\udcf6\udcdfe") == "Größe"
    assert NOTIFY.decoded(b"\x80 5") == "€ 5"
    assert NOTIFY.decoded("bad \ud800") == "bad ?"
