"""Commands on a store they must not migrate: one a newer release migrated, one a daemon serves."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ilertd.cli import main
from ilertd.store.db import open_database, pending_migrations
from ilertd.store.lock import StoreLock
from tests.daemon import DaemonProcess


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_store_a_newer_release_migrated_is_refused_by_migrate_and_serve(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Before, `migrate` said the store was up to date and `serve` started, then answered every
    event 503 (the newer schema held a column this code never writes)."""
    data = tmp_path / "data"
    monkeypatch.setenv("STATE_DIRECTORY", str(data))
    assert cli(capsys, "migrate")[0] == 0
    with sqlite3.connect(data / "ilertd.db") as connection:
        connection.execute("INSERT INTO schema_migration (name, applied) VALUES ('0099_future',"
                           " '2030-01-01 00:00:00')")
    code, out, err = cli(capsys, "migrate")
    assert (code, out) == (1, "")
    assert err.startswith("ilertd: the database was migrated by a newer ilertd (migrations 0099_future"), err
    served = subprocess.run([sys.executable, "-m", "ilertd", "serve", "--port", "0"], capture_output=True,
                            text=True, timeout=60, env={**os.environ, "STATE_DIRECTORY": str(data)})
    assert served.returncode == 1, served.stderr
    assert "Traceback" not in served.stderr, served.stderr
    assert "ilertd: the database was migrated by a newer ilertd" in served.stderr, served.stderr
    assert "serving on" not in served.stdout


def test_migrate_is_refused_while_a_daemon_serves_the_store(
        daemon: DaemonProcess, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """As `restore` is: the daemon serving it would go on writing the schema it started with."""
    monkeypatch.setenv("STATE_DIRECTORY", str(daemon.data_dir))
    code, out, err = cli(capsys, "migrate")
    assert (code, out) == (1, "")
    assert err.startswith(f"ilertd: the database is in use by another ilertd (pid {daemon.process.pid})"), err
    assert daemon.event(alertKey="after", summary="still served").status_code == 202


def test_a_command_that_would_migrate_a_store_an_older_daemon_serves_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Any command opening the store migrates it: with migrations to apply and the store held (by
    a daemon of an older release), it is refused and migrates nothing; held by none, it migrates."""
    data = tmp_path / "data"
    monkeypatch.setenv("STATE_DIRECTORY", str(data))
    assert cli(capsys, "migrate")[0] == 0
    with sqlite3.connect(data / "ilertd.db") as connection:
        connection.execute("DELETE FROM schema_migration WHERE name = '0019_open_alert_keys'")
    url = f"sqlite:///{data / 'ilertd.db'}"
    older = StoreLock(open_database(url), url)
    older.acquire()
    try:
        for command in (["migrate"], ["user", "list"], ["user", "add", "zed"], ["export"]):
            code, _, err = cli(capsys, *command)
            assert code == 1 and "in use by another ilertd" in err, (command, err)
        assert pending_migrations(open_database(url)) == ["0019_open_alert_keys"]
    finally:
        older.release()
    assert cli(capsys, "user", "list")[0] == 0
    assert pending_migrations(open_database(url)) == []
