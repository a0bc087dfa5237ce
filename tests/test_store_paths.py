"""The store is the file in the data directory that the lock and the 0600 mode are given, whatever
characters the directory's path holds."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from ilertd.cli import main


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_data_directory_whose_path_holds_a_hash_or_question_mark_holds_its_own_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """peewee read the store's URL with the path ending at a "#" (or "?", a traceback): the data
    directories `a#1` and `a#2` both stored in the file `a` beside them, 0644, while the lock and
    the 0600 went to empty files inside; two daemons there both led the one store."""
    previous = os.umask(0o022)
    try:
        for number, name in enumerate(("a#1", "a#2", "b?x=1")):
            data = tmp_path / name / "data"
            monkeypatch.setenv("STATE_DIRECTORY", str(data))
            code, _, err = cli(capsys, "user", "add", f"user-{number}")
            assert code == 0, err
            with sqlite3.connect(data / "ilertd.db") as connection:
                users = {row[0] for row in connection.execute("SELECT username FROM user")}
            assert users == {"admin", f"user-{number}"}
            assert stat.S_IMODE((data / "ilertd.db").stat().st_mode) == 0o600
    finally:
        os.umask(previous)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a#1", "a#2", "b?x=1"]


def test_an_in_memory_sqlite_store_is_a_config_error_not_a_store_that_vanishes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """check-config took `sqlite:///:memory:`; serve then printed a first-run token for a store gone
    with its connection, and failed in tracebacks."""
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "data"))
    config = tmp_path / "ilertd.toml"
    config.write_text('[database]\nurl = "sqlite:///:memory:"\n')
    code, _, err = cli(capsys, "check-config", str(config))
    assert code == 2 and "database.url" in err and "in-memory" in err, err
    code, out, err = cli(capsys, "--config", str(config), "serve", "--port", "0")
    assert code == 1 and "database.url" in err and "in-memory" in err, err
    assert "token" not in out + err
