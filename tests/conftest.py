"""Fixtures shared by the tests: a daemon per test (in this process, or a real one in a subprocess
where a process is needed), and no actor left running after one."""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import peewee
import pykka
import pytest


def _write_bytecode() -> None:
    """Every process of the run writes the bytecode it compiles, next to its source as Python does
    by default: with PYTHONDONTWRITEBYTECODE set, as CI sets it, every subprocess daemon, command
    and pytest worker compiled the project and the tests again, a quarter of a second a daemon
    start. Not in a pycache prefix: that moves every installed package's bytecode too, so a fresh
    clone's first run compiled all of them (about 2.5 s of CPU) in each process that started
    before another had written them, pip's own bytecode in site-packages unused."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False


_write_bytecode()

from ilertd.store import db as store_db  # noqa: E402
from ilertd.store.db import migrate, open_database  # noqa: E402
from tests.daemon import ApiClient, DaemonProcess  # noqa: E402
from tests.inprocess import InProcessDaemon  # noqa: E402
from tests.loopback import HttpReceiver, SmtpServer  # noqa: E402
from tests.paging import Paging  # noqa: E402

# Given out first: xdist hands tests to its workers in collection order and never moves one a
# worker already holds, so the schemathesis run (about a minute beside the others), given out in
# the middle of the collection, kept its worker busy for up to 20 s after the others had run out
# of work. Alternated whole-suite runs: 114-123 s in collection order, 106-118 s with it first.
# The browser tests, last in the collection, were the tail in the same way (two workers each
# starting Chromium while the third had finished), and the two-node tests are the next longest:
# with them first the three workers' last tests ended 1.5 s apart instead of 6 s (131.3 s -> 124.6 s
# for the whole suite with PostgreSQL, one run each, on this 2-core VM).
GIVEN_OUT_FIRST = ("tests/test_openapi_fuzz.py", "tests/test_ui_browser.py", "tests/test_ha.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first (GIVEN_OUT_FIRST); the others keep their order."""
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in GIVEN_OUT_FIRST)


@pytest.fixture(autouse=True)
def root_logging_kept() -> Iterator[None]:
    """What a test does to the root logger is undone after it: `ilertd`'s own `configure_logging`
    (a CLI command run in-process) put a handler on the test's captured stderr there, and a later
    test's daemon thread logging through it printed "--- Logging error ---" (a closed file)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A test's in-process daemon finishes what it has in hand (a page being sent, a shift being
    logged) within the test: logged by its threads as the test's log capture closed, a line
    printed "--- Logging error ---" (the test passing all the same). The one running, whether a
    fixture made it or the test itself."""
    yield
    daemon = InProcessDaemon.current
    if daemon is not None and daemon.running:
        daemon.settle(5.0)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[peewee.Database]:
    """A migrated SQLite store in a temporary directory, for tests of the store alone."""
    database = open_database(f"sqlite:///{tmp_path / 'ilertd.db'}")
    migrate(database)
    yield database
    database.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database on the PostgreSQL server of ILERTD_TEST_POSTGRES_URL, dropped after the
    test: tests on PostgreSQL run side by side, each on its own database."""
    server = os.environ.get("ILERTD_TEST_POSTGRES_URL", "")
    if not server:
        pytest.skip("needs ILERTD_TEST_POSTGRES_URL (see .ci/run)")
    psycopg2 = pytest.importorskip("psycopg2")
    name = f"ilertd_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(server)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


@pytest.fixture(autouse=True)
def _stop_actors() -> Iterator[None]:
    yield
    # A test that leaves an actor running would hang pytest after the last test.
    pykka.ActorRegistry.stop_all(timeout=5)


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    started: list[DaemonProcess] = []

    def make(name: str = "ilertd", **kwargs: object) -> DaemonProcess:
        daemon = DaemonProcess(tmp_path / name, **kwargs)  # type: ignore[arg-type]
        started.append(daemon)
        return daemon

    yield make
    for daemon in started:
        if daemon.process is not None and daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait(10)
        daemon.stop()


@pytest.fixture
def daemon(make_daemon: Callable[..., DaemonProcess]) -> Iterator[DaemonProcess]:
    running = make_daemon().start()
    yield running
    running.stop()


def paging_config(directory: Path, smtp: SmtpServer, http: HttpReceiver) -> Path:
    """Every channel pointed at loopback servers: e-mail, SMS (a JSON gateway), push (ntfy), voice."""
    config = directory / "ilertd.toml"
    config.write_text(f'''
[channels.email]
url = "{smtp.url()}"
[channels.sms]
url = "json://127.0.0.1:{http.port}/sms/{{contact}}"
[channels.push]
url = "ntfy://127.0.0.1:{http.port}/{{contact}}"
[twilio]
account_sid = "{http.twilio_sid}"
auth_token = "{http.twilio_token}"
from_number = "+15550001111"
api_base_url = "http://127.0.0.1:{http.port}"
''')
    return config


@contextmanager
def paging_with(directory: Path, start: Callable[[Path], ApiClient]) -> Iterator[Paging]:
    """Loopback channel servers, and a daemon started by `start(config)` that pages through them."""
    smtp = SmtpServer().start()
    http = HttpReceiver()
    try:
        daemon = start(paging_config(directory, smtp, http))
        try:
            yield Paging(daemon, smtp, http)
        finally:
            daemon.stop()  # type: ignore[attr-defined]
    finally:
        smtp.stop()
        http.close()


@pytest.fixture
def paging(tmp_path: Path, make_daemon: Callable[..., DaemonProcess]) -> Iterator[Paging]:
    with paging_with(tmp_path, lambda config: make_daemon(config=config).start()) as ready:
        yield ready


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., InProcessDaemon]]:
    """`make_daemon` for in-process daemons (`config`, `env`, `clock_start`); each is stopped after
    the test. One runs at a time: the store binds its models to one database per process."""
    made: list[InProcessDaemon] = []

    def make(name: str = "inprocess", **kwargs: object) -> InProcessDaemon:
        daemon = InProcessDaemon(tmp_path / name, **kwargs)  # type: ignore[arg-type]
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.stop()


@pytest.fixture
def app_paging(tmp_path: Path, make_app: Callable[..., InProcessDaemon]) -> Iterator[Paging]:
    """`paging` with the daemon in this process (an ASGI transport) instead of a subprocess."""
    with paging_with(tmp_path, lambda config: make_app(config=config).start()) as ready:
        yield ready


@pytest.fixture(params=["sqlite", "postgresql"])
def paging_either_store(request: pytest.FixtureRequest, tmp_path: Path,
                        make_app: Callable[..., InProcessDaemon]) -> Iterator[Paging]:
    """`app_paging` on each store in turn (PostgreSQL skipped without a server): for what pages
    and answers read back from the outbox, which the two stores must read alike."""
    env = {}
    if request.param == "postgresql":
        env["ILERTD_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    with paging_with(tmp_path, lambda config: make_app(config=config, env=env).start()) as ready:
        yield ready


@pytest.fixture(params=["sqlite", "postgresql"])
def either_store(request: pytest.FixtureRequest) -> InProcessDaemon:
    """An in-process daemon on each store in turn (PostgreSQL skipped without a server, as
    `postgres_url` is): for behaviour the two stores must share. The database is made before
    `make_app`, so that the daemon is stopped before its database is dropped."""
    env = {}
    if request.param == "postgresql":
        env["ILERTD_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    make_app: Callable[..., InProcessDaemon] = request.getfixturevalue("make_app")
    return make_app(env=env).start()


@pytest.fixture
def app(make_app: Callable[..., InProcessDaemon]) -> Iterator[InProcessDaemon]:
    """The daemon in this process behind an ASGI transport: for tests that need no process."""
    running = make_app().start()
    yield running
    running.stop()


@pytest.fixture
def impatient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every store opened from now on gives up on a held write lock after 100 ms instead of 10 s."""
    monkeypatch.setitem(store_db.SQLITE_PRAGMAS, "busy_timeout", 100)
