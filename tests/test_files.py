"""The data directory is private whatever the umask, and the manual clock's file is replaced atomically."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ilertd.domain.timeutil import parse_instant
from tests.daemon import DaemonProcess


@pytest.fixture
def loose_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_directory_is_0700_and_every_file_in_it_0600(
    loose_umask: None, make_daemon: Callable[..., DaemonProcess]
) -> None:
    daemon = make_daemon().start()
    assert daemon.event(summary="down", alertKey="a").status_code == 202
    data = daemon.data_dir
    names = {p.name for p in data.iterdir()}
    assert {"ilertd.db", "ilertd.db-wal", "ilertd.db-shm", "ilertd.db.lock", "first-run.txt",
            "manual-clock"} <= names
    assert mode(data) == 0o700
    assert {p.name: mode(p) for p in data.iterdir()} == dict.fromkeys(names, 0o600)
    assert daemon.stop() == 0

    # An install made under a loose umask by an older version is made private at the next start.
    os.chmod(data, 0o755)
    for path in data.iterdir():
        os.chmod(path, 0o644)
    daemon.start()
    assert mode(data) == 0o700
    assert {p.name: mode(p) for p in data.iterdir() if p.is_file()} == {
        p.name: 0o600 for p in data.iterdir() if p.is_file()}
    daemon.stop()


def test_the_manual_clock_file_is_replaced_atomically(tmp_path: Path) -> None:
    """A write that fails half-way (here: the file size limit, as a full disk would) leaves the
    time kept before, so the next start resumes it instead of failing on an empty file."""
    script = textwrap.dedent(f"""
        import resource, signal
        from datetime import timedelta
        from pathlib import Path
        from ilertd.tracker import WorkTracker
        from ilertd.actors.clock import make_manual_clock
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        clock = make_manual_clock(Path({str(tmp_path)!r}), "2026-01-05T09:00:00Z", WorkTracker())
        resource.setrlimit(resource.RLIMIT_FSIZE, (8, 8))
        try:
            clock.advance(timedelta(minutes=1))
        except OSError as error:
            print("write refused:", error.strerror)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "write refused" in done.stdout
    kept = (tmp_path / "manual-clock").read_text()
    assert parse_instant(kept) == parse_instant("2026-01-05T09:00:00Z")
    assert [p.name for p in tmp_path.iterdir()] == ["manual-clock"]
