"""A data directory on a full file system: `serve`, `migrate` and the data directory's own files
say "No space left on device" / "database or disk is full", never a traceback or another error."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ilertd.actors.clock import make_manual_clock
from ilertd.app.bootstrap import FirstRun, write_first_run
from ilertd.cli import main
from ilertd.errors import StartError
from ilertd.tracker import WorkTracker
from tests.test_store_unavailable import SmallDisk

FULL = "No space left on device (free space on its file system, then start ilertd again)"


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    disk = SmallDisk(tmp_path / "disk", "2m")
    yield disk
    disk.unmount()


def test_serve_on_a_full_file_system_says_so(tiny_disk: SmallDisk) -> None:
    """The lock file's pid was written unguarded: an OSError's traceback."""
    data = tiny_disk.path / "data"
    data.mkdir()
    tiny_disk.fill()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ILERTD_")}
    served = subprocess.run([sys.executable, "-m", "ilertd", "serve", "--port", "0"], capture_output=True,
                            text=True, timeout=60, env={**environment, "STATE_DIRECTORY": str(data)})
    assert served.returncode == 1 and "Traceback" not in served.stderr, served.stderr
    assert served.stderr.splitlines()[-1] == f"ilertd: cannot write {data / 'ilertd.db.lock'}: {FULL}"


def test_the_data_directorys_own_files_on_a_full_file_system_say_so(tiny_disk: SmallDisk) -> None:
    """first-run.txt and the manual clock's file went out as an OSError's traceback."""
    tiny_disk.fill()
    first = FirstRun(admin_token="t" * 8192, admin_password="p", integration_key="k")
    with pytest.raises(StartError) as raised:
        write_first_run(tiny_disk.path, first, "http://127.0.0.1:8080")
    assert str(raised.value) == f"cannot write {tiny_disk.path / 'first-run.txt'}: {FULL}"
    with pytest.raises(StartError) as raised:
        make_manual_clock(tiny_disk.path, "2026-01-05T09:00:00Z", WorkTracker())
    assert str(raised.value) == f"cannot write {tiny_disk.path / 'manual-clock'}: {FULL}"
    assert sorted(p.name for p in tiny_disk.path.iterdir()) == ["filler"]


def test_migrate_with_too_little_room_says_the_disk_is_full(
        tiny_disk: SmallDisk, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A COMMIT that SQLite rolled back itself made peewee's ROLLBACK fail, and that error, "cannot
    rollback - no transaction is active", was the one printed."""
    monkeypatch.setenv("STATE_DIRECTORY", str(tiny_disk.path / "data"))
    tiny_disk.fill()
    os.truncate(tiny_disk.filler, tiny_disk.filler.stat().st_size - 100 * 4096)
    capsys.readouterr()
    code = main(["migrate"])
    err = capsys.readouterr().err
    assert code == 1
    assert err == "ilertd: database error: database or disk is full\n", err
