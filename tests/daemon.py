"""A real `ilertd serve` in a subprocess on an ephemeral loopback port, driven by the manual clock."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx

START_TIMEOUT = 30.0
CLOCK_START = "2026-01-05T09:00:00Z"
# Test daemons hash web UI passwords at argon2's least cost: at the default cost (about 0.2 s of
# CPU a hash or a login) the suite's hundred-odd of them took a tenth of its CPU. Tests that set
# their own `[security]` cost, and tests/test_passwords.py, hash at the cost they name.
CHEAP_PASSWORDS = {"ILERTD_SECURITY_PASSWORD_MEMORY_KIB": "8", "ILERTD_SECURITY_PASSWORD_TIME_COST": "1",
                   "ILERTD_SECURITY_PASSWORD_PARALLELISM": "1"}


class ApiClient:
    """The HTTP helpers every test daemon offers, over `client` (a socket or an ASGI transport)."""

    _client: httpx.Client | None
    admin_token: str
    integration_key: str

    @property
    def client(self) -> httpx.Client:
        assert self._client is not None, "the daemon is not running"
        return self._client

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.admin_token}"}

    # --- HTTP helpers ------------------------------------------------------------------------

    def event(self, key: str | None = None, **fields: Any) -> httpx.Response:
        body = {"integrationKey": key or self.integration_key, "eventType": "ALERT", **fields}
        return self.client.post("/api/events", json=body)

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, headers=self.auth(token), **kwargs)

    def post(self, path: str, body: Any = None, token: str | None = None) -> httpx.Response:
        return self.client.post(path, json=body, headers=self.auth(token))

    def put(self, path: str, body: Any = None, token: str | None = None) -> httpx.Response:
        return self.client.put(path, json=body, headers=self.auth(token))

    def delete(self, path: str, token: str | None = None) -> httpx.Response:
        return self.client.delete(path, headers=self.auth(token))

    def advance(self, duration: str) -> str:
        response = self.post("/api/_clock", {"advance": duration})
        assert response.status_code == 200, response.text
        return response.json()["now"]

    def now(self) -> str:
        return self.advance("PT0S")

    def log_types(self, incident_id: int) -> list[str]:
        response = self.get(f"/api/incidents/{incident_id}/log-entries", params={"max-results": 100})
        assert response.status_code == 200, response.text
        return [entry["logEntryType"] for entry in response.json()]


class DaemonProcess(ApiClient):
    """One data directory; `start()` may be called again after `kill()`/`stop()` (a restart).

    On the default SQLite store the first `start()` begins from a copy of
    `tests.first_start.first_started_data()` unless `fresh` asks for a first start of its own."""

    def __init__(self, directory: Path, env: dict[str, str] | None = None,
                 config: Path | None = None, manual_clock: bool = True, fresh: bool = False) -> None:
        self.directory = directory
        self.data_dir = directory / "data"
        self.extra_env = env or {}
        self.config = config
        self.manual_clock = manual_clock
        self.fresh = fresh
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.stdout = ""
        self.stderr_path = directory / "stderr.log"
        self.admin_token = ""
        self.integration_key = ""
        self._client: httpx.Client | None = None

    def command(self) -> list[str]:
        argv = [sys.executable, "-m", "ilertd", "serve", "--port", "0"]
        if self.config is not None:
            argv += ["--config", str(self.config)]
        if self.manual_clock:
            argv += ["--manual-clock", "--clock-start", CLOCK_START]
        return argv

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ILERTD_")}
        env["STATE_DIRECTORY"] = str(self.data_dir)
        env.update(CHEAP_PASSWORDS)
        env.update(self.extra_env)
        return env

    def start(self) -> DaemonProcess:
        self.directory.mkdir(parents=True, exist_ok=True)
        if not (self.fresh or self.data_dir.exists() or self._store_configured()):
            from tests.first_start import begin_as_first_started  # it imports this module
            begin_as_first_started(self.data_dir)
        stderr = open(self.stderr_path, "a")  # noqa: SIM115 - owned by the child for its life
        self.process = subprocess.Popen(
            self.command(), cwd=self.directory, env=self.environment(),
            stdout=subprocess.PIPE, stderr=stderr, text=True,
        )
        stderr.close()
        deadline = time.monotonic() + START_TIMEOUT
        lines: list[str] = []
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"ilertd exited before serving:\n{self.log()}")
            lines.append(line)
            match = re.search(r"serving on (http://\S+)", line)
            if match:
                self.url = match.group(1)
                break
        else:
            raise RuntimeError("ilertd did not start in time")
        self.stdout = "".join(lines)
        first_run = self.data_dir / "first-run.txt"
        text = first_run.read_text()
        self.admin_token = re.search(r"admin token: (\S+)", text).group(1)  # type: ignore[union-attr]
        self.integration_key = re.search(  # type: ignore[union-attr]
            r"default integration key: (\S+)", text
        ).group(1)
        self._client = httpx.Client(base_url=self.url, timeout=30.0)
        return self

    def _store_configured(self) -> bool:
        """Whether the store may be other than the data directory's SQLite file."""
        return (any(key.startswith(("ILERTD_DATABASE", "CREDENTIALS_DIRECTORY")) for key in self.extra_env)
                or (self.config is not None and "[database" in self.config.read_text()))

    def log(self) -> str:
        return self.stderr_path.read_text() if self.stderr_path.exists() else ""

    # --- ending ------------------------------------------------------------------------------

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        assert self.process is not None
        self._close_client()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._close_pipe()

    def _close_pipe(self) -> None:
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()

    def terminate(self) -> None:
        """SIGTERM without waiting: requests in flight meet the shutdown."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        finally:
            self._close_client()
            self._close_pipe()

    def stop(self, timeout: float = 30.0) -> int:
        if self.process is None or self.process.poll() is not None:
            self._close_client()
            self._close_pipe()
            return self.process.returncode if self.process else 0
        self._close_client()
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self._close_pipe()
