"""The daemon: builds store, clock, plugins, actors and HTTP, starts them in one order, stops in reverse."""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import peewee
import pykka
import pykka.debug
import uvicorn

from ilertd.actors.clock import Clock, ManualClock, RealClock
from ilertd.actors.messages import Ping
from ilertd.actors.runtime import Runtime
from ilertd.actors.supervisor import Supervisor
from ilertd.actors.tracker import WorkTracker
from ilertd.config import Config
from ilertd.domain.timeutil import format_instant, parse_instant
from ilertd.plugins.manager import PluginManager
from ilertd.store import bootstrap
from ilertd.store.committer import Committer
from ilertd.store.db import StoreLock, data_dir, migrate, open_database
from ilertd.systemd import Notifier, Watchdog
from ilertd.web.app import build_app
from ilertd.web.services import Services

logger = logging.getLogger("ilertd")

MANUAL_CLOCK_FILE = "manual-clock"


class StartError(RuntimeError):
    """The daemon cannot start; the message says why and what to do."""


@dataclass(frozen=True)
class ServeOptions:
    host: str | None = None
    port: int | None = None
    manual_clock: bool = False
    clock_start: str | None = None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def make_manual_clock(directory: Path, clock_start: str | None, tracker: WorkTracker) -> ManualClock:
    """A manual clock resumes the time kept in the data dir, else `--clock-start`, else this minute."""
    saved = directory / MANUAL_CLOCK_FILE
    if saved.exists():
        start = parse_instant(saved.read_text().strip())
    elif clock_start:
        start = parse_instant(clock_start)
    else:
        start = RealClock().now().replace(second=0, microsecond=0)

    def keep(now: datetime) -> None:
        saved.write_text(format_instant(now) or "")

    keep(start)
    return ManualClock(start, tracker, on_change=keep)


class Daemon:
    def __init__(self, config: Config, options: ServeOptions) -> None:
        server = config.server
        if options.host is not None:
            server = replace(server, host=options.host)
        if options.port is not None:
            server = replace(server, port=options.port)
        self.config = replace(config, server=server)
        self.options = options
        self.directory = data_dir()
        self.stop_requested = threading.Event()
        self.db: peewee.Database | None = None
        self.lock: StoreLock | None = None
        self.tracker = WorkTracker()
        self.clock: Clock | None = None
        self.committer: Committer | None = None
        self.supervisor: Any = None
        self.runtime: Runtime | None = None
        self.http: uvicorn.Server | None = None
        self.http_thread: threading.Thread | None = None
        self.port: int | None = None
        self.notifier = Notifier()
        self.watchdog: Watchdog | None = None

    # --- the order -------------------------------------------------------------------------

    def run(self) -> int:
        if self.options.manual_clock and not is_loopback(self.config.server.host):
            raise StartError("--manual-clock is refused unless the server binds to loopback")
        self.directory.mkdir(parents=True, exist_ok=True)
        self._install_signal_handlers()
        try:
            self.start_store()
            self.start_clock()
            self.start_committer()
            plugins = self.start_plugins()
            self.start_supervisor()
            self.start_http(plugins)
            logger.info("ilertd ready: serving on http://%s:%s", self.config.server.host, self.port)
            print(f"ilertd: serving on http://{_host_for_url(self.config.server.host)}:{self.port}",
                  flush=True)
            self.notifier.notify(f"READY=1\nSTATUS=serving on port {self.port}\nMAINPID={os.getpid()}")
            self.start_watchdog()
            self.stop_requested.wait()
            logger.info("ilertd stopping")
            self.notifier.notify("STOPPING=1")
        finally:
            self.stop_watchdog()
            self.stop_http()
            self.stop_supervisor()
            self.stop_committer()
            self.stop_clock()
            self.stop_store()
            self.notifier.close()
        return 0

    # --- start and stop, one pair per subsystem --------------------------------------------

    def start_store(self) -> None:
        url = self.config.database.effective_url(self.directory)
        self.db = open_database(url)
        self.lock = StoreLock(self.db, url)
        self.lock.acquire()
        applied = migrate(self.db)
        if applied:
            logger.info("store: applied migrations %s", ", ".join(applied))
        first = bootstrap.bootstrap(self.db, RealClock().now())
        bootstrap.secret_key(self.db, self.config.security.secret_key)
        if first is not None:
            path = bootstrap.write_first_run(self.directory, first, self.config.public_url)
            print(
                "ilertd: first start.\n"
                f"  admin API token:         {first.admin_token}\n"
                f"  default integration key: {first.integration_key}\n"
                f"  (also in {path}, readable only by this user)",
                flush=True,
            )

    def stop_store(self) -> None:
        if self.lock is not None:
            self.lock.release()
        if self.db is not None and not self.db.is_closed():
            self.db.close()

    def start_clock(self) -> None:
        if self.options.manual_clock:
            self.clock = make_manual_clock(self.directory, self.options.clock_start, self.tracker)
            logger.info("clock: manual, at %s", format_instant(self.clock.now()))
        else:
            self.clock = RealClock()
        self.clock.start()

    def stop_clock(self) -> None:
        if self.clock is not None:
            self.clock.stop()

    def start_committer(self) -> None:
        assert self.db is not None
        self.committer = Committer(self.db, self.tracker)
        self.committer.start()

    def stop_committer(self) -> None:
        if self.committer is not None:
            self.committer.stop()

    def start_plugins(self) -> PluginManager:
        plugins = PluginManager()
        plugins.load_entry_points()
        for status in plugins.statuses:
            if status.state != "enabled":
                logger.error("plugin %s: %s: %s", status.name, status.state, status.error)
        return plugins

    def start_supervisor(self) -> None:
        assert self.db is not None and self.clock is not None and self.committer is not None
        runtime = Runtime(self.db, self.clock, self.committer, self.tracker, self.config.public_url)
        self.runtime = runtime
        self.supervisor = Supervisor.start(
            runtime, self.config.actors.max_live_incidents, self.config.actors.idle_seconds
        )
        # Start barrier: a failing on_start must stop the daemon now, not on the first event.
        self.supervisor.ask(Ping(), timeout=60)
        if isinstance(self.clock, ManualClock):
            # Deadlines that passed while the daemon was down fire once, at start.
            self.clock.advance(timedelta(0))

    def stop_supervisor(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop(block=True, timeout=30)

    def start_http(self, plugins: PluginManager) -> None:
        assert self.db is not None and self.clock is not None and self.runtime is not None
        server_config = self.config.server
        services = Services(
            config=self.config,
            db=self.db,
            clock=self.clock,
            tracker=self.tracker,
            supervisor=self.supervisor,
            plugins=plugins,
            public_url=self.config.public_url,
            policies=self.runtime.policies,
        )
        app = build_app(services)
        uv_config = uvicorn.Config(
            app,
            host=server_config.host,
            port=server_config.port,
            workers=1,
            lifespan="off",
            access_log=False,
            log_config=None,
            server_header=False,
            timeout_graceful_shutdown=10,
        )
        self.http = uvicorn.Server(uv_config)
        # Off the main thread uvicorn installs no signal handlers: shutdown order stays ours.
        self.http_thread = threading.Thread(target=self.http.run, name="http", daemon=True)
        self.http_thread.start()
        while not self.http.started:
            if not self.http_thread.is_alive():
                raise StartError(
                    f"HTTP could not listen on {server_config.host}:{server_config.port}"
                )
            self.http_thread.join(0.02)
        sockets = [s for server in self.http.servers for s in server.sockets]
        self.port = sockets[0].getsockname()[1] if sockets else server_config.port
        if server_config.port == 0 and not server_config.public_url:
            services.public_url = f"http://{_host_for_url(server_config.host)}:{self.port}"

    def stop_http(self) -> None:
        if self.http is not None and self.http_thread is not None:
            self.http.should_exit = True
            self.http_thread.join(15)

    def start_watchdog(self) -> None:
        supervisor = self.supervisor

        def supervisor_answers(timeout: float) -> bool:
            try:
                return bool(supervisor.ask(Ping(), timeout=timeout))
            except (pykka.Timeout, pykka.ActorDeadError):
                return False

        self.watchdog = Watchdog(self.notifier, supervisor_answers)
        self.watchdog.start()

    def stop_watchdog(self) -> None:
        if self.watchdog is not None:
            self.watchdog.stop()

    # --- signals ---------------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        def request_stop(signum: int, _frame: FrameType | None) -> None:
            logger.info("received %s", signal.Signals(signum).name)
            self.stop_requested.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        # `kill -USR1` logs every thread's stack: how a deadlocked actor is found in production.
        signal.signal(signal.SIGUSR1, pykka.debug.log_thread_tracebacks)


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
