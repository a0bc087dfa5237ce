"""The whole daemon in the test's process, served through an ASGI transport: no socket, no subprocess."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import httpx2 as httpx
import pykka

from ilertd.config import Config, load_config
from ilertd.daemon import Daemon, ServeOptions
from tests.asgi_client import ASGIApp, EventLoopThread, asgi_client
from tests.daemon import CHEAP_PASSWORDS, CLOCK_START, ApiClient
from tests.first_start import begin_as_first_started

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


class _Log(logging.Handler):
    """Keeps the daemon's log lines as text, like the subprocess daemon's stderr."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter(LOG_FORMAT))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # pragma: no cover - as logging.Handler.handleError, never raise
            self.handleError(record)


class InProcessDaemon(ApiClient):
    """Store, clock (manual), actors and the application of `ilertd serve`, minus the listener.

    `daemon` is the real `ilertd.daemon.Daemon` (a new one on each `start()`): `daemon.tracker`,
    `daemon.clock`, `daemon.plugins` and `daemon.db` are there for tests that look inside.
    `stop()` then `start()` is a clean restart on the same data directory, as SIGTERM and a new
    `ilertd serve` would be (a kill -9 needs a real process: `DaemonProcess`). `config` is a
    `Config`, or a file read with `env`'s `ILERTD_*` overrides as `ilertd serve --config` would
    (those two beside `CHEAP_PASSWORDS`).
    On the default SQLite store the first `start()` begins from a copy of
    `tests.first_start.first_started_data()` unless `fresh` asks for a first start of its own.

    Only one may run at a time in a process: the store binds its models to one database. That
    one is `InProcessDaemon.current`, however the test made it.
    """

    current: ClassVar[InProcessDaemon | None] = None

    def __init__(self, directory: Path, config: Config | Path | None = None,
                 clock_start: str = CLOCK_START, env: Mapping[str, str] | None = None,
                 fresh: bool = False) -> None:
        if not isinstance(config, Config) or env:
            file = config if isinstance(config, Path) else None
            config = load_config(file, {**CHEAP_PASSWORDS, **(env or {})})
        self.directory = directory
        self.data_dir = directory / "data"
        self.config = config
        self.options = ServeOptions(manual_clock=True, clock_start=clock_start)
        self.fresh = fresh
        self.daemon = self._new_daemon()
        self._client: httpx.Client | None = None
        self._loop: EventLoopThread | None = None
        self.web_app: ASGIApp = None
        self._log = _Log()
        self.admin_token = ""
        self.integration_key = ""

    def _new_daemon(self) -> Daemon:
        return Daemon(self.config, self.options, directory=self.data_dir)

    @property
    def url(self) -> str:
        """The base URL of the daemon's links (`alertUrl`, feed and TwiML URLs); the client's too."""
        return self.daemon.config.public_url

    def start(self) -> InProcessDaemon:
        assert self._client is None, "the daemon is running"
        if self.daemon.services is not None:  # a restart: a fresh daemon, as a new process would be
            self.daemon = self._new_daemon()
        elif not (self.fresh or self.config.database.url or self.data_dir.exists()):
            begin_as_first_started(self.data_dir)
        self._attach_log()
        try:
            self.daemon.start(listen=False)
        except BaseException:
            self.daemon.stop()
            self._detach_log()
            raise
        assert self.daemon.services is not None
        # One event loop serves every request, as uvicorn's would, for the daemon's life.
        self._loop = EventLoopThread()
        assert self.daemon.web_app is not None
        self.web_app = self.daemon.web_app
        self._client = self.browser()
        text = (self.data_dir / "first-run.txt").read_text()
        self.admin_token = re.search(r"admin token: (\S+)", text).group(1)  # type: ignore[union-attr]
        self.integration_key = re.search(  # type: ignore[union-attr]
            r"default integration key: (\S+)", text).group(1)
        InProcessDaemon.current = self
        return self

    def browser(self) -> httpx.Client:
        """A new client of the daemon with cookies of its own (another browser, another user)."""
        assert self._loop is not None, "the daemon is not running"
        return asgi_client(self.web_app, self._loop, self.url)

    @property
    def running(self) -> bool:
        return self._client is not None

    def settle(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the daemon to have nothing in hand (see `quiet`)."""
        self.daemon.tracker.wait_idle(timeout)

    def quiet(self) -> None:
        """Wait until every message, due timer and queued write has been handled (no clock move)."""
        assert self.daemon.tracker.wait_idle(), "the daemon did not become idle"

    def log(self) -> str:
        """Every line the daemon logged since it was first started (across restarts)."""
        return "\n".join(self._log.lines) + ("\n" if self._log.lines else "")

    def stop(self) -> int:
        """Stop as SIGTERM would; 0 when every actor of the daemon is gone (a clean exit's status).

        Safe to call again, or on a daemon never started."""
        if self._client is None:
            return 0
        client, self._client = self._client, None
        if InProcessDaemon.current is self:
            InProcessDaemon.current = None
        try:
            client.close()
            if self._loop is not None:
                self._loop.close()
                self._loop = None
        finally:
            try:
                self.daemon.stop()
            finally:
                self._detach_log()
        left = pykka.ActorRegistry.get_all()
        assert not left, f"actors still running after stop: {left}"
        return 0

    def _attach_log(self) -> None:
        # The daemon logs INFO and up under `ilertd` (as `configure_logging` sets for `serve`).
        logger = logging.getLogger("ilertd")
        self._saved_level = logger.level
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
        logging.getLogger().addHandler(self._log)

    def _detach_log(self) -> None:
        logging.getLogger().removeHandler(self._log)
        logging.getLogger("ilertd").setLevel(self._saved_level)
