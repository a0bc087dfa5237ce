"""Plugins found through entry points (broken ones skipped), and the CLI commands of API.md."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from tests.daemon import DaemonProcess

EXAMPLE_PLUGIN = Path(__file__).resolve().parent.parent / "integrations" / "example-plugin"

GOOD_PLUGIN = '''
"""A third-party integration: {"id": ..., "title": ..., "state": "open"|"closed"}."""
from ilertd import hookimpl
from ilertd.domain.events import Event
from ilertd.hookspecs import Integration


def parse(request):
    body = request.json()
    kind = "ALERT" if body["state"] == "open" else "RESOLVE"
    return [Event(event_type=kind, alert_key=body["id"], summary=body.get("title"))]


@hookimpl
def register_integrations():
    return [Integration(name="mytool", integration_type="MYTOOL", parse=parse)]
'''


def install_fake_distribution(site: Path, dist: str, module: str, source: str) -> None:
    """What pip leaves behind for a plugin: the module and a dist-info with its entry point."""
    (site / f"{module}.py").write_text(source)
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[ilertd.plugins]\n{module} = {module}\n")


def plugin_site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    install_fake_distribution(site, "ilertd-mytool", "ilertd_mytool", GOOD_PLUGIN)
    install_fake_distribution(site, "ilertd-broken", "ilertd_broken",
                              "raise ImportError('needs frobnicate, which is not installed')\n")
    install_fake_distribution(site, "ilertd-badhook", "ilertd_badhook", textwrap.dedent('''
        from ilertd import hookimpl

        @hookimpl
        def register_integrations():
            raise RuntimeError("misconfigured")
    '''))
    return site


def run_cli(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": "/usr/bin:/bin", "STATE_DIRECTORY": str(cwd / "data"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "ilertd", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=60)


def test_broken_plugins_are_skipped_and_a_good_one_serves(
    tmp_path: Path, make_daemon: Callable[..., DaemonProcess]
) -> None:
    site = plugin_site(tmp_path)
    listing = run_cli(["plugins"], tmp_path, {"PYTHONPATH": str(site)})
    assert listing.returncode == 0, listing.stderr
    lines = {line.split()[0]: line for line in listing.stdout.splitlines()}
    assert "enabled" in lines["event_api"] and "integrations: api" in lines["event_api"]
    assert "enabled" in lines["ilertd_mytool"] and "mytool" in lines["ilertd_mytool"]
    assert "load error" in lines["ilertd_broken"] and "frobnicate" in lines["ilertd_broken"]
    assert "hook error" in lines["ilertd_badhook"] and "misconfigured" in lines["ilertd_badhook"]

    daemon = make_daemon(env={"PYTHONPATH": str(site)}).start()
    assert "ilertd_broken" in daemon.log()
    assert daemon.event(summary="still works", alertKey="a").status_code == 202
    source = daemon.post("/api/alert-sources", {"name": "tool", "integrationType": "MYTOOL"}).json()
    url = f"/api/v1/events/mytool/{source['integrationKey']}"
    opened = daemon.client.post(url, json={"id": "T-1", "title": "queue stuck", "state": "open"})
    assert opened.status_code == 202, opened.text
    incident_id = opened.json()[0]["incidentId"]
    assert daemon.get(f"/api/incidents/{incident_id}").json()["summary"] == "queue stuck"
    closed = daemon.client.post(url, json={"id": "t-1", "state": "closed"})
    assert closed.json()[0]["responseCode"] == "INCIDENT_RESOLVED"
    # A resolve that matches nothing is still a 2xx: tools re-send on anything else.
    again = daemon.client.post(url, json={"id": "t-1", "state": "closed"})
    assert again.status_code == 202
    assert again.json()[0]["responseCode"] == "NO_OPEN_INCIDENT_WITH_KEY"
    bad = daemon.client.post(url, content=b"{not json")
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_PAYLOAD"
    mismatch = daemon.client.post(f"/api/v1/events/mytool/{daemon.integration_key}", json={})
    assert mismatch.status_code == 400 and mismatch.json()["code"] == "INTEGRATION_TYPE_MISMATCH"
    unknown = daemon.client.post(f"/api/v1/events/nosuchtool/{daemon.integration_key}", json={})
    assert unknown.status_code == 404
    daemon.stop()


def test_second_serve_on_the_same_database_is_refused(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    first = make_daemon().start()
    second = subprocess.run(first.command(), cwd=first.directory, env=first.environment(),
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 1
    assert "in use by another ilertd" in second.stderr
    assert first.event(summary="still serving", alertKey="x").status_code == 202
    first.stop()


def test_user_add_and_token_create_work_against_a_running_daemon(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon().start()
    added = run_cli(["user", "add", "oncall", "--email", "oncall@example.com"], daemon.directory)
    assert added.returncode == 0, added.stderr
    user_id = int(added.stdout.strip())
    token = run_cli(["token", "create", "oncall"], daemon.directory)
    assert token.returncode == 0
    assert len(token.stdout.strip().splitlines()) == 1
    me = daemon.get("/api/users/current", token=token.stdout.strip())
    assert me.status_code == 200 and me.json()["id"] == user_id and me.json()["role"] == "USER"
    duplicate = run_cli(["user", "add", "oncall"], daemon.directory)
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    missing = run_cli(["token", "create", "nobody"], daemon.directory)
    assert missing.returncode == 1 and "nobody" in missing.stderr
    daemon.stop()


def test_check_config_and_migrate(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[server]\nport = 9000\n")
    assert run_cli(["check-config", str(good)], tmp_path).returncode == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nhost = '127.0.0.1'\nprot = 9000\n")
    checked = run_cli(["check-config", str(bad)], tmp_path)
    assert checked.returncode == 2
    assert f"{bad}:3: server.prot: unknown key; did you mean 'port'?" in checked.stderr
    shipped = Path(__file__).parent.parent / "etc" / "ilertd.toml"
    assert run_cli(["check-config", str(shipped)], tmp_path).returncode == 0
    first = run_cli(["migrate"], tmp_path)
    assert first.returncode == 0 and "0001_initial" in first.stdout
    assert (tmp_path / "data" / "ilertd.db").exists()
    again = run_cli(["migrate"], tmp_path)
    assert again.returncode == 0 and "up to date" in again.stdout
    refused = run_cli(["serve", "--config", str(bad)], tmp_path)
    assert refused.returncode == 1 and "server.prot" in refused.stderr


def test_manual_clock_is_refused_off_loopback(tmp_path: Path) -> None:
    refused = run_cli(["serve", "--manual-clock", "--host", "0.0.0.0", "--port", "0"], tmp_path)
    assert refused.returncode == 1
    assert "loopback" in refused.stderr


def test_the_example_distribution_installs_with_pip_and_serves_its_integration(
    tmp_path: Path, make_daemon: Callable[..., DaemonProcess]
) -> None:
    # Built from a copy: building writes into the source tree, and the clone must stay clean.
    source = tmp_path / "example-plugin"
    shutil.copytree(EXAMPLE_PLUGIN, source)
    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(site), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    listing = run_cli(["plugins"], tmp_path, {"PYTHONPATH": str(site)})
    line = next(line for line in listing.stdout.splitlines() if line.startswith("example "))
    assert "enabled" in line and "ticket" in line
    daemon = make_daemon(env={"PYTHONPATH": str(site)}).start()
    source_row = daemon.post("/api/alert-sources", {"name": "tickets", "integrationType": "TICKET"}).json()
    url = f"/api/v1/events/ticket/{source_row['integrationKey']}"
    opened = daemon.client.post(url, json={"id": "T-7", "title": "queue stuck", "state": "open"})
    assert opened.status_code == 202, opened.text
    assert daemon.get(f"/api/incidents/{opened.json()[0]['incidentId']}").json()["summary"] == "queue stuck"
    refused = daemon.client.post(url, json={"id": 7})
    assert refused.status_code == 400 and refused.json()["code"] == "INVALID_PAYLOAD"
    daemon.stop()
