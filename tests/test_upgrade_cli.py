"""Commands on a store they must not migrate: one a newer release migrated, one a daemon serves."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ilertd.cli import main


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
