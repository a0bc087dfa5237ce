"""integrations/example-plugin as a third party ships it: pip-installed, found through its entry point.

Its integration opens an incident, its channel pages a loopback webhook, its route answers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.inprocess import InProcessDaemon
from tests.loopback import HttpReceiver
from tests.test_plugins_and_cli import listing, on_path, run_cli

EXAMPLE_PLUGIN = Path(__file__).resolve().parent.parent / "integrations" / "example-plugin"
SECRET = "ticket-secret"


@pytest.fixture(scope="module")
def example_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip install` of the distribution into a directory of its own, once for this module."""
    work = tmp_path_factory.mktemp("example")
    # Built from a copy: building writes into the source tree, and the clone must stay clean.
    source = work / "example-plugin"
    shutil.copytree(EXAMPLE_PLUGIN, source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    site = work / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(site), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    return site


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    running = HttpReceiver()
    yield running
    running.close()


def signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Ticket-Signature": f"sha256={digest}", "Content-Type": "application/json"}


def test_ilertd_plugins_lists_the_installed_example(example_site: Path, tmp_path: Path) -> None:
    listed = run_cli(["plugins"], tmp_path, {"PYTHONPATH": str(example_site),
                                              "ILERTD_PLUGINS_EXAMPLE_WEBHOOK_URL": "https://h.example/{contact}"})
    assert listed.returncode == 0, listed.stderr
    block = listing(listed.stdout)["example"]
    assert block.startswith("example 1.0.0 (entry point of distribution ilertd-example): enabled"), block
    assert "integrations: ticket" in block
    assert "channels: WEBHOOK via its own sender (webhook)" in block
    assert "routes: POST /example/alert/{key}" in block
    assert {"event_api", "pagerduty", "email", "sms", "voice", "push"} <= set(listing(listed.stdout))
    config = tmp_path / "ilertd.toml"
    config.write_text('[plugins.example]\nwebhook = "https://h.example/{contact}"\ntimeout = 0\n')
    checked = run_cli(["check-config", str(config)], tmp_path, {"PYTHONPATH": str(example_site)})
    assert checked.returncode == 2
    assert f"{config}:2: plugins.example.webhook: unknown key; did you mean 'webhook_url'?" in checked.stderr
    assert f"{config}:3: plugins.example.timeout: must be greater than 0, got 0" in checked.stderr


def test_the_example_serves_its_integration_channel_and_route(
    example_site: Path, receiver: HttpReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest, make_app: Callable[..., InProcessDaemon],
    caplog: pytest.LogCaptureFixture,
) -> None:
    on_path(example_site, monkeypatch, request)
    caplog.set_level(logging.INFO, logger="ilertd_example")
    config = tmp_path / "ilertd.toml"
    config.write_text(f'[plugins.example]\nsecret = "{SECRET}"\n'
                      f'webhook_url = "http://127.0.0.1:{receiver.port}/hook/{{contact}}"\n')
    app = make_app(config=config).start()
    assert app.daemon.plugins is not None
    status = app.daemon.plugins.status("example")
    assert status is not None and status.state == "enabled", status
    assert status.origin == "entry point of distribution ilertd-example"
    assert "example: ticket webhooks at" in app.log(), "its startup hook ran"

    # Its integration opens an incident (signed), and refuses an unsigned webhook.
    source = app.post("/api/alert-sources", {"name": "tickets", "integrationType": "TICKET"}).json()
    url = f"/api/v1/events/ticket/{source['integrationKey']}"
    body = json.dumps({"id": "T-7", "title": "queue stuck", "state": "open"}).encode()
    opened = app.client.post(url, content=body, headers=signed(body))
    assert opened.status_code == 202, opened.text
    incident_id = opened.json()[0]["incidentId"]
    assert app.get(f"/api/incidents/{incident_id}").json()["summary"] == "queue stuck"
    unsigned = app.client.post(url, content=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401 and unsigned.json()["code"] == "INVALID_SIGNATURE"
    refused = json.dumps({"id": 7}).encode()
    assert app.client.post(url, content=refused, headers=signed(refused)).json()["code"] == "INVALID_PAYLOAD"

    # Its channel delivers a page to the loopback webhook.
    user = app.post("/api/users", {"username": "wanda"}).json()["id"]
    contact = app.post(f"/api/users/{user}/contacts", {"method": "WEBHOOK", "target": "ops-room"})
    assert contact.status_code == 201, contact.text
    rule = app.post(f"/api/users/{user}/notification-preferences/alerts", {
        "method": "WEBHOOK", "contact": {"id": contact.json()["id"]}, "delayMin": 0, "type": "HIGH_PRIORITY"})
    assert rule.status_code == 201, rule.text
    policy = app.post("/api/escalation-policies", {
        "name": "tickets", "repeating": False, "frequency": 0,
        "escalationRules": [{"escalationTimeout": 30, "users": [{"id": user}]}]}).json()
    assert app.put(f"/api/alert-sources/{source['id']}",
                   {"escalationPolicy": {"id": policy["id"]}}).status_code == 200
    body = json.dumps({"id": "T-8", "title": "payments down", "state": "open"}).encode()
    paged = app.client.post(url, content=body, headers=signed(body)).json()[0]["incidentId"]
    app.advance("PT0S")
    (hook,) = receiver.to("/hook/")
    assert hook.path == "/hook/ops-room"
    assert hook.json()["target"] == "ops-room" and "payments down" in hook.json()["title"]
    rows = app.get(f"/api/incidents/{paged}/notifications").json()
    assert [(r["method"], r["status"]) for r in rows] == [("WEBHOOK", "SUCCESS")]

    # Its route answers: a plain-text alert opens an incident.
    alerted = app.client.post(f"/example/alert/{app.integration_key}?alertKey=disk",
                              content=b"disk full on db1")
    assert alerted.status_code == 202, alerted.text
    assert app.get(f"/api/incidents/{alerted.json()['incidentId']}").json()["summary"] == "disk full on db1"
    app.stop()
    assert "example: stopped" in app.log(), "its shutdown hook ran"


def test_the_distributions_own_tests_pass(tmp_path: Path) -> None:
    # Run in a copy, without bytecode: the tests must not write into the source tree.
    copy = tmp_path / "example-plugin"
    shutil.copytree(EXAMPLE_PLUGIN, copy, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("ILERTD_", "PYTEST_"))}
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    # Without schemathesis's plugin, which this venv has for the project's own tests (a second
    # of CPU to import); the distribution's tests do not use it.
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:schemathesis"], cwd=copy,
                         env=environment, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert " passed" in ran.stdout and "failed" not in ran.stdout
