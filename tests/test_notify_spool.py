"""The Nagios/Icinga 2 notification script's spool: what ilertd cannot take now (down, restarting,
a 5xx) waits on disk and is delivered later, in order, by the next run or `--flush`."""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.daemon import DaemonProcess
from tests.loopback import HttpReceiver, Request, free_port
from tests.test_integration_nagios import (
    NOTIFY,
    SCRIPT,
    fixture_env,
    make_source,
    open_incidents_of,
    run_script,
)

QUICK = ("--attempts", "1", "--backoff", "0")


class RestartableDaemon(DaemonProcess):
    """`ilertd serve` that comes back at the port of its first start, as after a restart."""

    port = 0

    def command(self) -> list[str]:
        argv = super().command()
        argv[argv.index("--port") + 1] = str(self.port)
        return argv

    def start(self) -> RestartableDaemon:
        super().start()
        self.port = int(self.url.rsplit(":", 1)[1])
        return self


def service(name: str, **macros: str) -> dict[str, str]:
    return {**fixture_env(name), **{f"NAGIOS_{macro}": value for macro, value in macros.items()}}


def incidents_by_key(daemon: DaemonProcess, key: str) -> dict[str, dict[str, Any]]:
    (source,) = [s for s in daemon.get("/api/alert-sources").json() if s.get("integrationKey") == key]
    found = daemon.get("/api/incidents", params={"max-results": 100}).json()
    return {i["alertKey"]: i for i in found if i["alertSource"]["id"] == source["id"]}


@contextmanager
def down_with_a_source(tmp_path: Path) -> Iterator[tuple[RestartableDaemon, str, tuple[str, ...]]]:
    """A daemon with a Nagios source, stopped: (the daemon, the source's key, the script's address
    arguments for it); stopped again at the end, whatever the test started."""
    daemon = RestartableDaemon(tmp_path / "daemon").start()
    try:
        key = make_source(daemon)
        address = ("--url", daemon.url, "--key", key, *QUICK)
        daemon.stop()
        yield daemon, key, address
    finally:
        daemon.stop()


def test_what_is_spooled_while_ilertd_is_down_is_flushed_in_order(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    with down_with_a_source(tmp_path) as (daemon, key, address):
        for env in (service("service_problem"), service("host_problem"), service("service_recovery")):
            result = run_script(env, *address, spool=spool)
            assert result.returncode == 0, result.stderr
            assert "spooled to" in result.stderr and "cannot reach" in result.stderr
        assert len(list(spool.glob("*.json"))) == 3
        daemon.start()
        flushed = run_script({}, "--flush", spool=spool)
        assert flushed.returncode == 0, flushed.stderr
        assert list(spool.glob("*.json")) == []
        # The RECOVERY came after its PROBLEM: the incident opened, then resolved.
        incidents = incidents_by_key(daemon, key)
        assert incidents["web-1/HTTP"]["status"] == "RESOLVED"
        assert incidents["web-1"]["status"] != "RESOLVED" and incidents["web-1"]["priority"] == "HIGH"
        lines = flushed.stdout.splitlines()
        assert [line.split(" (")[0] for line in lines] == [
            "ilertd-notify: PROBLEM for web-1/HTTP", "ilertd-notify: PROBLEM for web-1",
            "ilertd-notify: RECOVERY for web-1/HTTP"]


def test_the_next_notification_delivers_the_spool_first(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    with down_with_a_source(tmp_path) as (daemon, key, address):
        assert run_script(service("service_problem"), *address, spool=spool).returncode == 0
        daemon.start()
        result = run_script(service("service_recovery"), *address, spool=spool)
        assert result.returncode == 0, result.stderr
        assert "PROBLEM for web-1/HTTP (spooled since" in result.stdout
        assert "RECOVERY for web-1/HTTP: 202" in result.stdout and "INCIDENT_RESOLVED" in result.stdout
        assert list(spool.glob("*.json")) == [] and open_incidents_of(daemon, key) == []


def test_a_spooled_notification_ilertd_refuses_or_too_old_is_dropped_with_the_reason(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    down = f"http://127.0.0.1:{free_port()}"
    spooled = run_script(service("service_problem"), "--url", down, "--key", "k", *QUICK, spool=spool)
    assert spooled.returncode == 0, spooled.stderr
    too_old = run_script({}, "--flush", "--max-age", "0", spool=spool)
    assert too_old.returncode == 1
    assert "PROBLEM for web-1/HTTP, spooled since" in too_old.stderr and "older than 0 h" in too_old.stderr
    assert list(spool.glob("*.json")) == []

    daemon = DaemonProcess(tmp_path / "daemon").start()
    try:
        down_then_up = ("--url", daemon.url, "--key", "no-such-key", *QUICK)
        daemon.stop()
        assert run_script(service("service_problem"), *down_then_up, spool=spool).returncode == 0
        daemon = RestartableDaemon(tmp_path / "daemon")
        daemon.port = int(down_then_up[1].rsplit(":", 1)[1])
        daemon.start()
        refused = run_script({}, "--flush", spool=spool)
        assert refused.returncode == 1
        assert "dropped: ilertd refused it: HTTP 404 UNKNOWN_INTEGRATION_KEY" in refused.stderr
        assert list(spool.glob("*.json")) == []
    finally:
        daemon.stop()


class FailingForOneKey(HttpReceiver):
    """ilertd answering 500 to the notifications of web-1/HTTP only."""

    def answer(self, request: Request) -> tuple[int, Any]:  # type: ignore[override]
        if request.json()["dedup_key"] == "web-1/HTTP":
            return 500, {"code": "INTERNAL_ERROR", "message": "boom"}
        return 202, [{"alertKey": request.json()["dedup_key"], "responseCode": "NEW_INCIDENT_CREATED"}]


def test_a_key_ilertd_fails_on_keeps_its_order_and_holds_back_no_other(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    receiver = FailingForOneKey()
    try:
        address = ("--url", f"http://127.0.0.1:{receiver.port}", "--key", "k", *QUICK)
        problem = run_script(service("service_problem"), *address, spool=spool)
        assert problem.returncode == 0 and "HTTP 500 INTERNAL_ERROR: boom" in problem.stderr
        other = run_script(service("host_problem"), *address, spool=spool)
        assert other.returncode == 0 and "PROBLEM for web-1: 202" in other.stdout
        recovery = run_script(service("service_recovery"), *address, spool=spool)
        assert recovery.returncode == 0
        assert "after earlier notifications still spooled: HTTP 500" in recovery.stderr
    finally:
        receiver.close()
    # The PROBLEM was tried again before the host's; the RECOVERY never overtook it.
    sent = [(r.json()["notification_type"], r.json()["dedup_key"]) for r in receiver.requests]
    assert sent == [("PROBLEM", "web-1/HTTP"), ("PROBLEM", "web-1/HTTP"), ("PROBLEM", "web-1"),
                    ("PROBLEM", "web-1/HTTP")]
    assert [json.loads(path.read_text())["body"]["notification_type"]
            for path in sorted(spool.glob("*.json"))] == ["PROBLEM", "RECOVERY"]


def test_without_the_default_spool_dir_the_users_own_temporary_one_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """/var/spool is root's: when /var/spool/ilertd-notify was not made for Nagios's user, a page
    waits in a directory of that user's own under the temporary directory, never in someone else's."""
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    monkeypatch.setattr(NOTIFY, "SPOOL_DIR", str(blocked / "ilertd-notify"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    spool = NOTIFY.Spool(None, 24.0)
    own = tmp_path / f"ilertd-notify-{os.getuid()}"
    assert spool.writable_dir() == own and stat.S_IMODE(own.stat().st_mode) == 0o700
    path = spool.put("http://127.0.0.1:1/api/v1/events/nagios/k", {"dedup_key": "web-1"}, time.time_ns())
    assert path is not None and path.parent == own and spool.files() == [path]
    own.chmod(0o755)  # another user's could look so too: not trusted with a page, nor read
    assert spool.writable_dir() is None and "0700" in spool.problem
    assert spool.files() == []


def test_the_shipped_timer_and_cron_line_flush_the_script_nagios_runs() -> None:
    folder = SCRIPT.parent
    command = re.findall(r"^\s*command_line\s+(.+)$", (folder / "ilertd.cfg").read_text(), re.MULTILINE)[0]
    service = (folder / "ilertd-notify-flush.service").read_text()
    assert f"ExecStart={command} --flush" in service and "Type=oneshot" in service
    assert "Unit=" not in (timer := (folder / "ilertd-notify-flush.timer").read_text())
    assert "OnUnitActiveSec=1min" in timer and "WantedBy=timers.target" in timer
    (line,) = [x for x in (folder / "ilertd-notify.cron").read_text().splitlines() if x and x[0] != "#"]
    assert line.split(None, 6)[6].startswith(f"{command} --flush")
