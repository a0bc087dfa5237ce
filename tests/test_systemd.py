"""Running under systemd: the unit verifies, sd_notify READY/WATCHDOG/STOPPING, a wedged supervisor."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ilertd.actors.clock import ManualClock
from ilertd.actors.messages import Ping, Sweep
from ilertd.actors.runtime import Runtime
from ilertd.actors.supervisor import Supervisor
from ilertd.config import with_credentials
from ilertd.store.committer import Committer
from ilertd.store.db import migrate, open_database
from ilertd.systemd import Notifier, Watchdog
from ilertd.tracker import WorkTracker
from tests.daemon import DaemonProcess

UNIT = Path(__file__).parent.parent / "ilertd.service"


class NotifySocket:
    """The receiving end systemd would hold: a datagram socket collecting sd_notify messages."""

    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="ilertd-notify-", dir="/tmp")
        self.path = str(Path(self.directory) / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)

    def receive(self, timeout: float) -> str | None:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(4096).decode()
        except TimeoutError:
            return None

    def wait_for(self, wanted: str, timeout: float = 30.0) -> list[str]:
        """Messages up to and including the first that contains `wanted`."""
        seen: list[str] = []
        while True:
            message = self.receive(timeout)
            if message is None:
                raise AssertionError(f"no {wanted!r} after {seen}")
            seen.append(message)
            if wanted in message:
                return seen

    def close(self) -> None:
        self.sock.close()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    sock = NotifySocket()
    yield sock
    sock.close()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze (Debian: systemd)")
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    text = UNIT.read_text()
    for needed in ("Type=notify", "NotifyAccess=main", "WatchdogSec=", "Restart=on-failure",
                   "StartLimitIntervalSec=0",
                   "DynamicUser=yes", "StateDirectory=ilertd", "ConfigurationDirectory=ilertd",
                   "LoadCredential=", "ProtectSystem=strict", "ProtectHome=yes",
                   "NoNewPrivileges=yes", "PrivateTmp=yes", "RestrictAddressFamilies=",
                   "SystemCallFilter=@system-service"):
        assert needed in text, needed
    # An installer points ExecStart at wherever pip put the script; verify checks it exists.
    script = Path(sys.executable).parent / "ilertd"
    assert script.exists()
    unit = tmp_path / "ilertd.service"
    unit.write_text(text.replace("/usr/local/bin/ilertd", str(script)))
    verified = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                              text=True, timeout=60)
    assert verified.returncode == 0, verified.stderr
    assert "ilertd.service" not in verified.stderr, verified.stderr


def test_the_units_optional_credentials_are_searched_for_so_a_missing_one_is_no_failed_start() -> None:
    """systemd fails a start whose absolute LoadCredential= path is missing (status 243), and the
    unit named two optional secrets by absolute path that README's steps never create: a fresh
    install restarted every 2 s for ever. A file name is searched for in /etc/credstore/ and
    friends, and skipped where there is none; README's step to give one writes that name there."""
    readme = (UNIT.parent / "README.md").read_text()
    loaded = [line.split("=", 1)[1] for line in UNIT.read_text().splitlines()
              if line.startswith("LoadCredential=")]
    assert {entry.split(":", 1)[0] for entry in loaded} == {"security.secret_key", "twilio.auth_token"}
    for entry in loaded:
        source = entry.split(":", 1)[1]
        assert not source.startswith("/") and "/" not in source, entry
        assert f"/etc/credstore/{source}" in readme or f"`{source}`" in readme, entry
    assert "install -m 0600 /dev/stdin /etc/credstore/ilertd.secret_key" in readme


def test_serve_notifies_ready_watchdog_and_stopping(
    make_daemon: Callable[..., DaemonProcess], notify_socket: NotifySocket
) -> None:
    daemon = make_daemon(env={"NOTIFY_SOCKET": notify_socket.path, "WATCHDOG_USEC": "200000"})
    daemon.start()
    assert "READY=1" in notify_socket.wait_for("READY=1")[-1]
    # The store and HTTP were up before READY: the API answers.
    assert daemon.event(summary="up", alertKey="a").status_code == 202
    pings = [notify_socket.wait_for("WATCHDOG=1", timeout=5) for _ in range(4)]
    assert all(p[-1] == "WATCHDOG=1" for p in pings)
    daemon.terminate()
    notify_socket.wait_for("STOPPING=1")
    assert daemon.wait() == 0


def test_sigusr1_logs_every_thread_stack(make_daemon: Callable[..., DaemonProcess]) -> None:
    daemon = make_daemon().start()
    assert daemon.process is not None
    daemon.process.send_signal(signal.SIGUSR1)
    assert daemon.event(summary="still serving", alertKey="a").status_code == 202
    daemon.stop()
    log = daemon.log()
    assert "Current state of MainThread" in log
    assert "Current state of committer" in log


def test_a_wedged_supervisor_stops_the_watchdog_pings(
    tmp_path: Path, notify_socket: NotifySocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'ilertd.db'}")
    migrate(db)
    tracker = WorkTracker()
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC), tracker)
    committer = Committer(db, tracker)
    committer.start()
    supervisor = Supervisor.start(Runtime(db, clock, committer, tracker, ""), 10, 30)
    supervisor.ask(Ping(), timeout=10)
    notifier = Notifier({"NOTIFY_SOCKET": notify_socket.path, "WATCHDOG_USEC": "100000"})

    def supervisor_answers(timeout: float) -> bool:
        try:
            return bool(supervisor.ask(Ping(), timeout=timeout))
        except Exception:
            return False

    watchdog = Watchdog(notifier, supervisor_answers)
    watchdog.start()
    try:
        assert notify_socket.wait_for("WATCHDOG=1", timeout=5)[-1] == "WATCHDOG=1"
        # Wedge the supervisor where production would: a store query that never returns.
        release = threading.Event()
        monkeypatch.setattr("ilertd.store.incidents.escalation_deadlines",
                            lambda reader, until=None: release.wait(30) and [])
        supervisor.tell(Sweep())
        # Drain the pings sent before the wedge took hold; ten seconds of them means no wedge.
        for _ in range(100):
            if notify_socket.receive(0.3) is None:
                break
        else:
            raise AssertionError("the sweep did not wedge the supervisor")
        assert notify_socket.receive(1.0) is None, "the watchdog pinged for a wedged supervisor"
        release.set()
        assert notify_socket.wait_for("WATCHDOG=1", timeout=5)[-1] == "WATCHDOG=1"
    finally:
        release.set()
        watchdog.stop()
        supervisor.stop(timeout=10)
        committer.stop()
        notifier.close()
        db.close()


def test_credentials_set_keys_unless_the_environment_does(tmp_path: Path) -> None:
    (tmp_path / "security.secret_key").write_text("from-credential\n")
    (tmp_path / "twilio.auth_token").write_text("tw-secret")
    (tmp_path / "unrelated").write_text("ignored")
    merged = with_credentials({"ILERTD_TWILIO_AUTH_TOKEN": "from-env", "PATH": "/bin"}, tmp_path)
    assert merged["ILERTD_SECURITY_SECRET_KEY"] == "from-credential"
    assert merged["ILERTD_TWILIO_AUTH_TOKEN"] == "from-env"
    assert merged["PATH"] == "/bin"
    assert not any("UNRELATED" in k for k in merged)
    assert with_credentials({"A": "1"}, None) == {"A": "1"}


def test_credentials_directory_reaches_a_running_daemon(
    tmp_path: Path, make_daemon: Callable[..., DaemonProcess]
) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "limits.events_per_minute_per_key").write_text("2")
    daemon = make_daemon(env={"CREDENTIALS_DIRECTORY": str(credentials)}).start()
    assert daemon.event(summary="1", alertKey="a").status_code == 202
    assert daemon.event(summary="2", alertKey="a").status_code == 202
    limited = daemon.event(summary="3", alertKey="a")
    assert limited.status_code == 429
    assert limited.json()["code"] == "RATE_LIMITED"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # The limit is per integration key: another source is not affected.
    other = daemon.post("/api/alert-sources", {"name": "other"}).json()["integrationKey"]
    assert daemon.event(key=other, summary="x", alertKey="a").status_code == 202
    # The next clock minute opens a new window.
    daemon.advance("PT1M")
    assert daemon.event(summary="4", alertKey="a").status_code == 202
    assert daemon.get("/api/incidents/1").json()["eventCount"] == 3
    daemon.stop()
