"""Plugins found through entry points (broken ones listed and skipped), and the CLI commands of API.md."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

import ilertd
from ilertd.cli import main
from tests.daemon import DaemonProcess
from tests.first_start import first_started_data
from tests.inprocess import InProcessDaemon

CHECKOUT = Path(ilertd.__file__).resolve().parent.parent

BUILT_INS = ("event_api", "pagerduty", "email", "sms", "voice", "push", "alertmanager", "grafana", "datadog",
             "uptimerobot", "webhook", "sentry", "cloudwatch", "zabbix", "nagios", "icinga", "smtp_in",
             "links")

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

BAD_CONFIG_PLUGIN = '''
from ilertd import hookimpl
from ilertd.hookspecs import ConfigOption, Integration


@hookimpl
def plugin_config():
    return [ConfigOption("threshold", int, 3, "alerts before it opens an incident")]


@hookimpl
def register_integrations():
    raise AssertionError("a misconfigured plugin is never asked what it provides")
'''


def install_fake_distribution(site: Path, dist: str, module: str, source: str | None = None,
                              entry_point: str | None = None, version: str = "1.0") -> None:
    """What pip leaves behind for a plugin: the module (if `source`) and a dist-info naming the
    entry point (`module`, or an object such as `tests.test_plugin_hooks:RECORDER`)."""
    if source is not None:
        (site / f"{module}.py").write_text(source)
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[ilertd.plugins]\n{module} = {entry_point or module}\n")


def on_path(site: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Path:
    """Put `site` on sys.path for this test, as an installed distribution would be; the modules
    imported from it are forgotten afterwards. The test daemons' template is made first, if this
    process has not made it yet: made later, its first start would load the plugins of `site` too
    (a startup a test of them does not expect, seen only when such a test is a process's first)."""
    first_started_data()
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()

    def forget() -> None:
        for name, module in list(sys.modules.items()):
            if str(getattr(module, "__file__", None) or "").startswith(str(site)):
                del sys.modules[name]

    request.addfinalizer(forget)
    return site


def entry_point_installer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
                          module: str) -> Callable[..., None]:
    """`install(name="OBJECT")`: an entry point `name = module:OBJECT` of a distribution of its own
    in a site on sys.path for this test, as a third party's plugin would be installed."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    on_path(site, monkeypatch, request)

    def install(**entry_points: str) -> None:
        for name, target in entry_points.items():
            install_fake_distribution(site, f"ilertd-{name}", name, entry_point=f"{module}:{target}")

    return install


def broken_site(tmp_path: Path) -> Path:
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
    install_fake_distribution(site, "ilertd-badconfig", "ilertd_badconfig", BAD_CONFIG_PLUGIN)
    # What would stop every actor, or the daemon, escaping: one plugin's failure like any other.
    install_fake_distribution(site, "ilertd-exits", "ilertd_exits", "import sys\nsys.exit(3)\n")
    install_fake_distribution(site, "ilertd-interrupts", "ilertd_interrupts", textwrap.dedent('''
        from ilertd import hookimpl

        @hookimpl
        def startup():
            raise KeyboardInterrupt
    '''))
    return site


def run_cli(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": "/usr/bin:/bin", "STATE_DIRECTORY": str(cwd / "data"), **(env or {})}
    # The ilertd under test after the given path (a plugin's site): without it the command ran the
    # ilertd installed in the environment, which may be another checkout.
    environment["PYTHONPATH"] = os.pathsep.join(
        p for p in (environment.get("PYTHONPATH", ""), str(CHECKOUT)) if p)
    return subprocess.run([sys.executable, "-m", "ilertd", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=60)


def listing(output: str) -> dict[str, str]:
    """`ilertd plugins` output: each plugin's block (its first line and the indented ones)."""
    blocks: dict[str, str] = {}
    name = ""
    for line in output.splitlines():
        if not line.startswith(" "):
            name = line.split()[0]
            blocks[name] = line
        else:
            blocks[name] += "\n" + line
    return blocks


def test_a_fresh_install_lists_the_built_in_plugins(tmp_path: Path) -> None:
    listed = run_cli(["plugins"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    blocks = listing(listed.stdout)
    assert set(blocks) == set(BUILT_INS), listed.stdout
    for name in BUILT_INS:
        assert blocks[name].startswith(f"{name} 0.1.0 (built-in): enabled"), blocks[name]
    assert "integrations: api" in blocks["event_api"] and "POST /api/events" in blocks["event_api"]
    assert "POST /v2/enqueue" in blocks["pagerduty"]
    assert "channels: EMAIL via the log (not configured)" in blocks["email"]
    assert "channels: VOICE" in blocks["voice"] and "/api/v1/twilio/voice/{id}" in blocks["voice"]
    configured = run_cli(["plugins"], tmp_path, {
        "ILERTD_CHANNELS_SMS_URL": "json://127.0.0.1:9/sms/{contact}",
        "ILERTD_PLUGINS_PAGERDUTY_ENABLED": "false",
    })
    blocks = listing(configured.stdout)
    assert "channels: SMS via apprise json://" in blocks["sms"] and "127.0.0.1" not in blocks["sms"]
    assert blocks["pagerduty"].startswith("pagerduty 0.1.0 (built-in): disabled by config")
    assert "/v2/enqueue" not in blocks["pagerduty"]


def test_broken_plugins_are_listed_as_such(tmp_path: Path) -> None:
    site = broken_site(tmp_path)
    config = tmp_path / "ilertd.toml"
    config.write_text('[plugins.ilertd_badconfig]\nthreshold = "high"\n')
    listed = run_cli(["plugins", "--config", str(config)], tmp_path, {"PYTHONPATH": str(site)})
    assert listed.returncode == 0, listed.stderr
    blocks = listing(listed.stdout)
    assert blocks["ilertd_mytool"].startswith(
        "ilertd_mytool 1.0 (entry point of distribution ilertd-mytool): enabled")
    assert "integrations: mytool" in blocks["ilertd_mytool"]
    assert ": load error" in blocks["ilertd_broken"] and "frobnicate" in blocks["ilertd_broken"]
    assert ": hook error" in blocks["ilertd_badhook"] and "misconfigured" in blocks["ilertd_badhook"]
    assert ": config error" in blocks["ilertd_badconfig"]
    assert ": load error" in blocks["ilertd_exits"] and "SystemExit: 3" in blocks["ilertd_exits"]
    assert "plugins.ilertd_badconfig.threshold: must be an integer" in blocks["ilertd_badconfig"]
    assert all(state in listed.stdout for state in BUILT_INS)
    assert "Traceback" not in listed.stdout + listed.stderr


def test_broken_plugins_are_skipped_and_the_daemon_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
    make_app: Callable[..., InProcessDaemon],
) -> None:
    on_path(broken_site(tmp_path), monkeypatch, request)
    config = tmp_path / "ilertd.toml"
    config.write_text('[plugins.ilertd_badconfig]\nthreshold = "high"\n[plugins.ilertd_mytol]\n')
    app = make_app(config=config).start()
    assert app.daemon.plugins is not None
    states = {s.name: s.state for s in app.daemon.plugins.statuses}
    assert states == {**dict.fromkeys(BUILT_INS, "enabled"), "ilertd_mytool": "enabled",
                      "ilertd_broken": "load error", "ilertd_badhook": "hook error",
                      "ilertd_badconfig": "config error", "ilertd_exits": "load error",
                      "ilertd_interrupts": "hook error"}
    assert "startup: KeyboardInterrupt" in (app.daemon.plugins.status("ilertd_interrupts") or ()).error
    log = app.log()
    assert "ilertd_broken" in log and "frobnicate" in log and "misconfigured" in log
    assert "did you mean 'plugins.ilertd_mytool'" in log, "a section for no installed plugin is reported"
    assert app.event(summary="still works", alertKey="a").status_code == 202
    source = app.post("/api/alert-sources", {"name": "tool", "integrationType": "MYTOOL"}).json()
    url = f"/api/v1/events/mytool/{source['integrationKey']}"
    opened = app.client.post(url, json={"id": "T-1", "title": "queue stuck", "state": "open"})
    assert opened.status_code == 202, opened.text
    incident_id = opened.json()[0]["incidentId"]
    assert app.get(f"/api/incidents/{incident_id}").json()["summary"] == "queue stuck"
    closed = app.client.post(url, json={"id": "t-1", "state": "closed"})
    assert closed.json()[0]["responseCode"] == "INCIDENT_RESOLVED"
    # A resolve that matches nothing is still a 2xx: tools re-send on anything else.
    again = app.client.post(url, json={"id": "t-1", "state": "closed"})
    assert again.status_code == 202
    assert again.json()[0]["responseCode"] == "NO_OPEN_INCIDENT_WITH_KEY"
    bad = app.client.post(url, content=b"{not json")
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_PAYLOAD"
    missing = app.client.post(url, json={"title": "no id"})
    assert missing.status_code == 400 and missing.json()["code"] == "INVALID_PAYLOAD"
    mismatch = app.client.post(f"/api/v1/events/mytool/{app.integration_key}", json={})
    assert mismatch.status_code == 400 and mismatch.json()["code"] == "INTEGRATION_TYPE_MISMATCH"
    unknown = app.client.post(f"/api/v1/events/nosuchtool/{app.integration_key}", json={})
    assert unknown.status_code == 404 and unknown.json()["code"] == "UNKNOWN_INTEGRATION_TYPE"


def test_a_disabled_built_in_takes_its_routes_and_integration_with_it(
    make_app: Callable[..., InProcessDaemon],
) -> None:
    app = make_app(env={"ILERTD_PLUGINS_PAGERDUTY_ENABLED": "false"}).start()
    assert app.client.post("/v2/enqueue", json={}).status_code == 404
    gone = app.client.post(f"/api/v1/events/pagerduty/{app.integration_key}", json={})
    assert gone.status_code == 404 and gone.json()["code"] == "UNKNOWN_INTEGRATION_TYPE"
    assert app.event(summary="the Event API still serves", alertKey="a").status_code == 202


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
    in_capitals = run_cli(["user", "add", "OnCall"], daemon.directory)
    assert in_capitals.returncode == 1 and 'user "OnCall" already exists as "oncall"' in in_capitals.stderr
    missing = run_cli(["token", "create", "nobody"], daemon.directory)
    assert missing.returncode == 1 and "nobody" in missing.stderr
    daemon.stop()


def test_check_config_takes_the_file_as_serve_does(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """`ilertd check-config --config /etc/ilertd/ilertd.toml`, copied from the unit's ExecStart,
    was refused with argparse's "the following arguments are required: file"."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nprot = 9000\n")
    for argv in (["check-config", "--config", str(bad)], ["--config", str(bad), "check-config"]):
        assert main(argv) == 2
        assert f"{bad}:2: server.prot: unknown key" in capsys.readouterr().err
    good = tmp_path / "good.toml"
    good.write_text("[server]\nport = 9000\n")
    assert main(["check-config", "--config", str(good)]) == 0
    assert capsys.readouterr().out == f"{good}: valid\n"
    assert main(["check-config", str(good), "--config", str(bad)]) == 2
    assert "two files named" in capsys.readouterr().err
    assert main(["check-config"]) == 2
    assert "name the settings file" in capsys.readouterr().err


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


def test_check_config_checks_plugin_sections_against_the_installed_plugins(tmp_path: Path) -> None:
    site = broken_site(tmp_path)
    config = tmp_path / "plugins.toml"
    config.write_text(textwrap.dedent('''
        [plugins.pagerduty]
        enabled = "no"
        [plugins.ilertd_badconfig]
        treshold = 5
        [plugins.ilertd_broken]
        anything = 1
        [plugins.emial]
        enabled = false
    '''))
    checked = run_cli(["check-config", str(config)], tmp_path, {
        "PYTHONPATH": str(site), "ILERTD_PLUGINS_ILERTD_BADCONFIG_THRESHOLD": "many"})
    assert checked.returncode == 2, checked.stdout
    problems = checked.stderr.splitlines()
    assert f"{config}:3: plugins.pagerduty.enabled: must be true or false, got the string \"no\"" in problems
    assert (f"{config}:5: plugins.ilertd_badconfig.treshold: unknown key; "
            "did you mean 'threshold'?") in problems
    assert (f"{config}:8: plugins.emial: unknown section: no plugin is named 'emial'; "
            "did you mean 'plugins.email'?") in problems
    assert ("environment: plugins.ilertd_badconfig.threshold: ILERTD_PLUGINS_ILERTD_BADCONFIG_THRESHOLD: "
            "must be an integer, got 'many'") in problems
    # The section of a plugin that did not load cannot be checked, and is not called unknown.
    assert not any("ilertd_broken" in p for p in problems), problems
    assert len(problems) == 4, problems
    fine = tmp_path / "fine.toml"
    fine.write_text("[plugins.pagerduty]\nenabled = false\n[plugins.ilertd_badconfig]\nthreshold = 5\n")
    assert run_cli(["check-config", str(fine)], tmp_path, {"PYTHONPATH": str(site)}).returncode == 0


def test_manual_clock_is_refused_off_loopback(tmp_path: Path) -> None:
    refused = run_cli(["serve", "--manual-clock", "--host", "0.0.0.0", "--port", "0"], tmp_path)
    assert refused.returncode == 1
    assert "loopback" in refused.stderr


def test_a_port_or_clock_start_out_of_range_is_a_usage_error_not_a_traceback(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`serve --port 99999` ended in an OverflowError from bind() (the config file's port was
    checked), `--clock-start garbage` in a ValueError from the clock."""
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "data"))
    port, start = "argument --port: must be a port from 0 to 65535", "argument --clock-start: must be an ISO"
    refused = [(["--port", value], port) for value in ("99999", "-1")]
    refused += [(["--manual-clock", "--clock-start", value], start)
                for value in ("garbage", "2026-13-01T00:00:00Z", "9999-01-01T00:00:00Z")]
    for arguments, message in refused:
        with pytest.raises(SystemExit) as exited:
            main(["serve", *arguments])
        assert exited.value.code == 2
        assert message in capsys.readouterr().err


def test_an_empty_host_is_refused_as_server_host_is(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`serve --host ""` skipped server.host's rule: it bound every interface and its links read
    `http://:PORT/...`. (A data directory no daemon can start in: the old code's start ends at once.)"""
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "a-file" / "data"))
    for value in ("", "  "):
        with pytest.raises(SystemExit) as exited:
            main(["serve", "--host", value, "--port", "0"])
        assert exited.value.code == 2
        assert "argument --host: must not be empty" in capsys.readouterr().err
