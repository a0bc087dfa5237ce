"""One real first start per test process, whose data directory test daemons begin from."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from ilertd.config import Config
from ilertd.daemon import Daemon, ServeOptions
from tests.daemon import CLOCK_START

# What a first start leaves in the data directory and a later start reads again.
FIRST_START_FILES = ("ilertd.db", "first-run.txt")
_first_started: Path | None = None


def first_started_data() -> Path:
    """A data directory as a real first start of the daemon left it (migrated store, admin, default
    source, secret key), made once per test process. A daemon started on a copy of it starts as
    after a restart: a first start's migrations and password hash cost a third of a second, paid
    once here instead of by every test (the first start itself has tests of its own, which ask
    for a fresh data directory)."""
    global _first_started
    if _first_started is None:
        home = Path(tempfile.mkdtemp(prefix="ilertd-first-start-"))
        atexit.register(shutil.rmtree, home, ignore_errors=True)
        daemon = Daemon(Config(), ServeOptions(manual_clock=True, clock_start=CLOCK_START),
                        directory=home / "data")
        try:
            daemon.start(listen=False)
        finally:
            daemon.stop()
        _first_started = home / "data"
    return _first_started


def begin_as_first_started(data_dir: Path) -> None:
    """Give a new data directory (SQLite store, not created yet) the first start's files."""
    data_dir.mkdir(parents=True, mode=0o700)
    for name in FIRST_START_FILES:
        shutil.copy2(first_started_data() / name, data_dir / name)
