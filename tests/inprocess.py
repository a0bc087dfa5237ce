"""The whole daemon in the test's process, served through an ASGI transport: no socket, no subprocess."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.testclient import TestClient

from ilertd.config import Config, load_config
from ilertd.daemon import Daemon, ServeOptions
from ilertd.web.app import build_app
from tests.daemon import CLOCK_START, ApiClient


class InProcessDaemon(ApiClient):
    """Store, clock (manual), actors and the application of `ilertd serve`, minus the listener.

    `daemon` is the real `ilertd.daemon.Daemon`: `daemon.tracker`, `daemon.clock`,
    `daemon.plugins` and `daemon.db` are there for tests that look inside.
    """

    def __init__(self, directory: Path, config: Config | Path | None = None,
                 clock_start: str = CLOCK_START) -> None:
        if isinstance(config, Path):
            config = load_config(config, {})
        self.directory = directory
        self.data_dir = directory / "data"
        self.daemon = Daemon(config or Config(), ServeOptions(manual_clock=True, clock_start=clock_start),
                             directory=self.data_dir)
        self._client: TestClient | None = None
        self.admin_token = ""
        self.integration_key = ""

    def start(self) -> InProcessDaemon:
        self.daemon.start(listen=False)
        assert self.daemon.services is not None
        # raise_server_exceptions off: a 500 is an answer the tests want to see, as a client would.
        self._client = TestClient(build_app(self.daemon.services), base_url=self.daemon.config.public_url,
                                  raise_server_exceptions=False)
        text = (self.data_dir / "first-run.txt").read_text()
        self.admin_token = re.search(r"admin token: (\S+)", text).group(1)  # type: ignore[union-attr]
        self.integration_key = re.search(  # type: ignore[union-attr]
            r"default integration key: (\S+)", text).group(1)
        return self

    def quiet(self) -> None:
        """Wait until every message, due timer and queued write has been handled (no clock move)."""
        assert self.daemon.tracker.wait_idle(), "the daemon did not become idle"

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self.daemon.stop()
