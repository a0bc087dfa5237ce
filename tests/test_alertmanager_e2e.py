"""The real Prometheus Alertmanager in front of a real `ilertd serve`: alerts, incidents, a page, resolves."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from ilertd.plugins.alertmanager import label_fingerprint
from tests import integration_helpers as helpers
from tests.conftest import paging_with
from tests.daemon import DaemonProcess
from tests.loopback import free_port
from tests.paging import Paging

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
DEADLINE_S = 20.0
POLL_S = 0.1


def wait_until(what: str, check: Callable[[], Any], log: Callable[[], str],
               timeout: float = DEADLINE_S) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what`, with the logs, at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{log()}")
        time.sleep(POLL_S)


class Alertmanager:
    """`prometheus-alertmanager` on a free loopback port with its own storage and no cluster."""

    def __init__(self, binary: str, directory: Path, webhook_url: str) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = directory / "alertmanager.log"
        self.process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)
        self.config = directory / "alertmanager.yml"
        # One group per alertname, flushed after 1 s; repeat_interval long: no re-sends in the test.
        self.config.write_text(f"""
route:
  receiver: ilertd
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: ilertd
    webhook_configs:
      - url: "{webhook_url}"
        send_resolved: true
""")

    def start(self) -> Alertmanager:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [self.binary, f"--config.file={self.config}", f"--storage.path={self.directory / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
                 "--log.level=debug"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.directory,
            )
        wait_until("Alertmanager to be ready", self._ready, self.log)
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"Alertmanager exited with {self.process.returncode}\n{self.log()}")
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        reply = httpx.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=5.0)
        assert reply.status_code == 200, reply.text

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None


@pytest.fixture
def alertmanager_binary() -> str:
    """Debian's package installs it as /usr/bin/prometheus-alertmanager (upstream calls it alertmanager)."""
    binary = ALERTMANAGER if Path(ALERTMANAGER).exists() else shutil.which("prometheus-alertmanager")
    if binary is None:
        pytest.skip("prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)")
    return binary


@pytest.fixture
def paging_daemon(tmp_path: Path, make_daemon: Callable[..., DaemonProcess]) -> Iterator[Paging]:
    """A real `ilertd serve` on the wall clock (Alertmanager keeps real time), paging via loopback."""
    def start(config: Path) -> DaemonProcess:
        return make_daemon(config=config, manual_clock=False).start()

    with paging_with(tmp_path, start) as ready:
        yield ready


def _alerts(now: datetime, ends_at: datetime | None) -> list[dict[str, Any]]:
    alerts = []
    for host in ("db-a", "db-b"):
        alert: dict[str, Any] = {
            "labels": {"alertname": "E2EDiskFull", "instance": host, "severity": "critical"},
            "annotations": {"summary": f"E2E disk full on {host}", "description": "/var is at 99%"},
            "generatorURL": "http://prometheus.example.com/graph?g0.expr=disk",
            # The same start in both posts: Alertmanager merges them into one alert per label set.
            "startsAt": (now - timedelta(minutes=1)).isoformat().replace("+00:00", "Z"),
        }
        if ends_at is not None:
            alert["endsAt"] = ends_at.isoformat().replace("+00:00", "Z")
        alerts.append(alert)
    return alerts


def test_alertmanager_pages_through_ilertd_and_resolves(
    alertmanager_binary: str, paging_daemon: Paging, tmp_path: Path,
) -> None:
    started = time.monotonic()
    api = paging_daemon.daemon
    user = paging_daemon.user("ada", [("SMS", 0, "HIGH_PRIORITY")])
    (phone,) = [c["target"] for c in api.get(f"/api/users/{user}/contacts").json()]
    policy = api.post("/api/escalation-policies", {
        "name": "db on-call", "repeating": False, "frequency": 0,
        "escalationRules": [{"escalationTimeout": 30, "users": [{"id": user}]}]})
    assert policy.status_code == 201, policy.text
    key = helpers.new_source(api, "PROMETHEUS", "alertmanager", escalationPolicy={"id": policy.json()["id"]})
    assert isinstance(api, DaemonProcess)
    webhook_url = f"{api.url}/api/v1/events/alertmanager/{key}"

    manager = Alertmanager(alertmanager_binary, tmp_path / "alertmanager", webhook_url)
    try:
        manager.start()

        def logs() -> str:
            return f"--- alertmanager ---\n{manager.log()}\n--- ilertd ---\n{api.log()}"

        now = datetime.now(UTC)
        alerts = _alerts(now, ends_at=None)
        manager.post_alerts(alerts)
        # The real Alertmanager's fingerprints are the keys: the same hash ilertd computes.
        keys = {label_fingerprint(a["labels"]): a["annotations"]["summary"] for a in alerts}

        def opened() -> dict[str, dict[str, Any]]:
            listed = api.get("/api/incidents").json()
            return {i["alertKey"]: i for i in listed} if {i["alertKey"] for i in listed} == set(keys) else {}

        incidents = wait_until("ilertd to open one incident per alert", opened, logs)
        assert {k: i["summary"] for k, i in incidents.items()} == keys
        assert {i["priority"] for i in incidents.values()} == {"HIGH"}
        assert {i["status"] for i in incidents.values()} == {"PENDING"}

        def paged() -> list[Any]:
            return [request for request in paging_daemon.http.to("/sms/")
                    if phone in request.path and b"E2E disk full" in request.body]

        wait_until("the page to reach the loopback SMS gateway", paged, logs)

        manager.post_alerts(_alerts(now, ends_at=datetime.now(UTC) - timedelta(seconds=1)))

        def resolved() -> bool:
            listed = api.get("/api/incidents").json()
            return len(listed) == 2 and all(i["status"] == "RESOLVED" for i in listed)

        wait_until("ilertd to resolve both incidents", resolved, logs)
        assert "Notify for alerts failed" not in manager.log(), "ilertd answered every flush with a 2xx"
    finally:
        manager.stop()
    print(f"Alertmanager end to end: {time.monotonic() - started:.1f}s")
