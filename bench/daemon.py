"""A real `ilertd serve` for the benchmark: a fresh data directory, its secrets, its URL."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from bench import client
from bench.procs import Service, environment

SERVING = r"ilertd: serving on (http://\S+)"
START_TIMEOUT_S = 60.0


def ilertd_command() -> list[str]:
    """The `ilertd` script beside this Python (the venv), else on PATH, else `python -m ilertd`."""
    beside = Path(sys.executable).parent / "ilertd"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("ilertd")
    return [found] if found else [sys.executable, "-m", "ilertd"]


class Ilertd:
    """One daemon in `root` (data in `root/data`); `start` may be called again after `stop`."""

    def __init__(self, root: Path, name: str = "ilertd", config: Path | None = None) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.name = name
        # A TOML settings file (channels for the paging section); None runs on the defaults.
        self.config = config
        self.service: Service | None = None
        self.url = ""
        self.integration_key = ""
        self.admin_token = ""
        self._starts = 0

    def launch(self, port: int = 0) -> Service:
        """Start the process and return at once (the caller waits in its own way)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._starts += 1
        argv = [*ilertd_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
        if self.config is not None:
            argv += ["--config", str(self.config)]
        self.service = Service(
            f"{self.name}-{self._starts}",
            argv,
            log_dir=self.root / "logs",
            cwd=self.root,
            env=environment(STATE_DIRECTORY=str(self.data_dir)),
        )
        return self.service.start()

    def start(self, port: int = 0) -> Ilertd:
        """Start and wait for the serving line; read the URL and the first-run secrets."""
        service = self.launch(port)
        self.url = service.wait_for_stdout(SERVING, START_TIMEOUT_S).group(1)
        self.read_secrets()
        return self

    def read_secrets(self) -> None:
        text = (self.data_dir / "first-run.txt").read_text()
        key = re.search(r"default integration key: (\S+)", text)
        token = re.search(r"admin token: (\S+)", text)
        if key is None or token is None:
            raise RuntimeError(f"{self.data_dir / 'first-run.txt'} lacks the key or the token")
        self.integration_key, self.admin_token = key.group(1), token.group(1)

    @property
    def pid(self) -> int:
        assert self.service is not None
        return self.service.pid

    def stop(self) -> int | None:
        return self.service.stop() if self.service is not None else None

    def error_lines(self) -> list[str]:
        """ERROR lines and tracebacks the daemon wrote to stderr in its latest start."""
        if self.service is None:
            return []
        return [line for line in self.service.stderr_text().splitlines()
                if " ERROR " in line or line.startswith("Traceback")]

    def warning_lines(self) -> list[str]:
        """WARNING lines of the latest start, except the log channel's pages (WARNING by design)."""
        if self.service is None:
            return []
        return [line for line in self.service.stderr_text().splitlines()
                if " WARNING " in line and " ilertd.pages: " not in line]

    def newest_incident_id(self) -> int:
        """The highest incident id in the store (0 when it holds none): with a new alert key per
        acknowledged event, at least the number of those events."""
        newest = client.get_json(f"{self.url}/api/incidents?max-results=1", self.admin_token)
        return int(newest[0]["id"]) if newest else 0

    def create_alert_source(self, name: str, integration_type: str) -> dict[str, Any]:
        """`POST /api/alert-sources` with the admin token; the created source (with its integrationKey)."""
        status, body = client.request(f"{self.url}/api/alert-sources", "POST",
                                      {"name": name, "integrationType": integration_type},
                                      {"Authorization": f"Bearer {self.admin_token}"})
        if status != 201:
            raise RuntimeError(f"creating a {integration_type} alert source got {status}: {body[:200]!r}")
        created: dict[str, Any] = json.loads(body)
        return created

    def event_body(self, alert_key: str) -> str:
        """The native event body; `alert_key` may be `load.MARK`, replaced per request."""
        return json.dumps({"integrationKey": self.integration_key, "eventType": "ALERT",
                           "summary": "bench", "alertKey": alert_key})


def template(root: Path, name: str) -> Ilertd:
    """A daemon started once on an empty store (admin, default source), then stopped with SIGTERM.

    Its data directory is what a seeded store is copied from: every schema and first-run row
    is then written by ilertd itself.
    """
    daemon = Ilertd(root, name)
    try:
        daemon.start()
    finally:
        code = daemon.stop()
    if code != 0:
        raise RuntimeError(f"the template daemon stopped with status {code}")
    return daemon
