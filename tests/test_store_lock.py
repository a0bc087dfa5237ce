"""One daemon per SQLite store, whatever is done to the lock file beside it while the daemon serves."""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import peewee
import pytest

from ilertd.cli import main
from ilertd.store import lock as store_lock
from ilertd.store.lock import RELEASED, StoreLock, StoreLockedError
from tests.conditions import wait_for
from tests.daemon import DaemonProcess


def second_serve(first: DaemonProcess) -> tuple[int, str]:
    """(exit code, stderr) of another `serve` on `first`'s data directory; one that starts serving
    is stopped, and its exit code is that of a daemon that served."""
    process = subprocess.Popen(first.command(), cwd=first.directory, env=first.environment(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    try:
        for line in process.stdout:
            if "serving on" in line:
                process.terminate()
                break
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    return process.returncode, stderr


def test_a_deleted_or_replaced_lock_file_does_not_let_a_second_daemon_lead_the_store(
        make_daemon: Callable[..., DaemonProcess]) -> None:
    """Deleted while the daemon served, the lock file was made again by a second `serve`, which
    locked it and started: two leaders on one store, every page sent twice."""
    first = make_daemon().start()
    assert first.process is not None
    lock_file = first.data_dir / "ilertd.db.lock"
    lock_file.unlink()
    code, stderr = second_serve(first)
    assert code == 1, stderr
    assert f"in use by another ilertd (pid {first.process.pid})" in stderr, stderr
    wait_for(lambda: "locked it again" in first.log(), "the first daemon to lock its file again")
    assert lock_file.read_text() == str(first.process.pid)

    replacement = first.data_dir / "replacement"
    replacement.write_text("")
    os.replace(replacement, lock_file)
    code, stderr = second_serve(first)
    assert code == 1, stderr
    assert f"in use by another ilertd (pid {first.process.pid})" in stderr, stderr
    assert first.event(summary="still the only one serving", alertKey="x").status_code == 202


def test_a_daemon_starting_while_the_lock_file_is_missing_waits_for_its_holder_to_take_it_back(
        db: peewee.Database, tmp_path: Path) -> None:
    """The store open (its WAL there) and no lock file: the holder may have lost it. The starting
    daemon gives it time to lock a new one, and is refused when it does."""
    url = f"sqlite:///{tmp_path / 'ilertd.db'}"
    (tmp_path / "ilertd.db.lock").write_text(RELEASED)
    holder = StoreLock(db, url, serving=True)
    holder.acquire()
    try:
        (tmp_path / "ilertd.db.lock").unlink()
        with pytest.raises(StoreLockedError, match=f"pid {os.getpid()}"):
            StoreLock(db, url, serving=True).acquire()
    finally:
        holder.release()


@pytest.mark.parametrize("command", [["migrate"], ["restore", "backup.db"]])
def test_a_command_writing_the_store_waits_for_a_daemon_that_lost_its_lock_file_as_serve_does(
        db: peewee.Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    """The lock file deleted under a serving daemon: for up to a second, until the daemon locked
    it again, `migrate` and `restore` took a new one and ran beside it (a restore replacing the
    store it served). They wait for it as `serve` does, and are refused naming its pid."""
    monkeypatch.setattr(store_lock, "WATCH_INTERVAL", 0.1)
    monkeypatch.setattr(store_lock, "DISPLACED_GRACE", 0.5)
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path))
    url = f"sqlite:///{tmp_path / 'ilertd.db'}"
    holder = StoreLock(db, url, serving=True)
    holder.acquire()
    try:
        (tmp_path / "ilertd.db.lock").unlink()
        capsys.readouterr()
        code = main(command)
        _, err = capsys.readouterr()
    finally:
        holder.release()
    assert code == 1, err
    assert f"ilertd: the database is in use by another ilertd (pid {os.getpid()})" in err, err


def test_a_lock_file_replaced_between_its_open_and_its_lock_is_not_taken_for_the_store(
        db: peewee.Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file opened was deleted, and another daemon made and locked a new one, before the lock
    was taken: locking the old one held nothing, and both served."""
    url = f"sqlite:///{tmp_path / 'ilertd.db'}"
    lock_file = tmp_path / "ilertd.db.lock"
    real_flock = fcntl.flock
    others: list[Any] = []

    def flock_after_another_took_the_path(fd: int, operation: int) -> None:
        if not others and operation & fcntl.LOCK_EX:
            lock_file.unlink()
            other = open(lock_file, "w")  # noqa: SIM115 - held until the test ends
            real_flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            other.write("4242")
            other.flush()
            others.append(other)
        real_flock(fd, operation)

    lock_file.write_text("")
    monkeypatch.setattr(store_lock.fcntl, "flock", flock_after_another_took_the_path)
    try:
        with pytest.raises(StoreLockedError, match="pid 4242"):
            StoreLock(db, url).acquire()
    finally:
        for other in others:
            other.close()
