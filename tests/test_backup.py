"""`ilertd backup FILE` copies the SQLite store while a daemon serves it; `ilertd restore FILE`
puts a copy back, refused while a daemon serves the store and for a file that is not a store."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ilertd.cli import main
from ilertd.store.models import database_proxy
from tests.daemon import DaemonProcess


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def incident_keys(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        return {key for (key,) in connection.execute("SELECT alert_key FROM incident")}


def dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as connection:
        return list(connection.iterdump())


def served_keys(daemon: DaemonProcess) -> set[str]:
    keys: set[str] = set()
    while True:
        page = daemon.get("/api/incidents", params={"start-index": len(keys), "max-results": 100}).json()
        keys |= {incident["alertKey"] for incident in page}
        if len(page) < 100:
            return keys


def test_a_backup_beside_a_busy_daemon_holds_what_was_acknowledged_and_restores(
        make_daemon: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    daemon: DaemonProcess = make_daemon()  # type: ignore[operator]
    daemon.start()
    monkeypatch.setenv("STATE_DIRECTORY", str(daemon.data_dir))
    for i in range(30):
        assert daemon.event(alertKey=f"before-{i}", summary="acknowledged before").status_code == 202
    # The daemon keeps taking events while the copy is made: a reader holds up no writer.
    busy, stop = [], threading.Event()

    def keep_posting() -> None:
        while not stop.is_set():
            busy.append(daemon.event(alertKey=f"during-{len(busy)}", summary="while copying").status_code)

    poster = threading.Thread(target=keep_posting)
    poster.start()
    backup = tmp_path / "copies" / "ilertd-backup.db"
    backup.parent.mkdir()
    try:
        code, out, err = cli(capsys, "backup", str(backup))
    finally:
        stop.set()
        poster.join(30)
    assert code == 0, err
    assert out.startswith("backed up ") and str(backup) in out
    assert busy and set(busy) == {202}
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert [p.name for p in backup.parent.iterdir()] == ["ilertd-backup.db"]
    with sqlite3.connect(backup) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    copied = incident_keys(backup)
    assert {f"before-{i}" for i in range(30)} <= copied

    # A backup never overwrites a file.
    code, _, err = cli(capsys, "backup", str(backup))
    assert code == 1 and "exists" in err
    assert incident_keys(backup) == copied

    # Restoring beside the daemon is refused: it holds the store.
    assert daemon.event(alertKey="after-the-backup", summary="not in the copy").status_code == 202
    code, _, err = cli(capsys, "restore", str(backup))
    assert code == 1 and "in use by another ilertd" in err
    assert daemon.stop() == 0

    code, out, err = cli(capsys, "restore", str(backup))
    assert code == 0, err
    assert out.startswith("restored ")
    daemon.start()
    assert served_keys(daemon) == copied
    # The restored store takes events as before.
    assert daemon.event(alertKey="after-the-restore", summary="taken as before").status_code == 202


def test_a_file_that_is_not_a_store_is_not_restored_and_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "data"))
    db = tmp_path / "data" / "ilertd.db"
    assert cli(capsys, "migrate")[0] == 0
    before = dump(db)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    large_pages = tmp_path / "large-pages.db"
    with sqlite3.connect(large_pages) as connection:
        connection.execute("PRAGMA page_size = 8192")
        connection.execute("CREATE TABLE incident (id INTEGER PRIMARY KEY)")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    # Taken by a newer release: restored, it replaced the store, and was refused only then.
    newer = tmp_path / "newer.db"
    assert cli(capsys, "backup", str(newer))[0] == 0
    with sqlite3.connect(newer) as connection:
        connection.execute("INSERT INTO schema_migration (name, applied) VALUES ('0099_future', '2030-01-01')"
                           )
    for path, reason in ((garbage, "not a SQLite database"), (other, "not an ilertd store"),
                         (large_pages, "has pages of 8192 bytes and the store of 4096"),
                         (tmp_path / "missing.db", "no such file"),
                         (newer, "taken by a newer ilertd (migrations 0099_future are unknown to this one)")):
        code, _, err = cli(capsys, "restore", str(path))
        assert code == 1 and reason in err, err
    assert dump(db) == before


def test_backing_up_where_there_is_no_store_makes_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "mistyped"))
    code, _, err = cli(capsys, "backup", str(tmp_path / "copy.db"))
    assert code == 1 and f"no store at {tmp_path / 'mistyped' / 'ilertd.db'}" in err, err
    assert not (tmp_path / "mistyped").exists() and not (tmp_path / "copy.db").exists()


def test_a_backup_or_a_store_where_nothing_can_be_written_is_an_error_not_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A backup into a directory that does not exist, and any command on a data directory the
    file system refuses (here under a file, as a read-only one or another user's would), ended in
    an OSError's traceback."""
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "data"))
    assert cli(capsys, "migrate")[0] == 0
    code, _, err = cli(capsys, "backup", str(tmp_path / "no-such-dir" / "copy.db"))
    assert (code, err) == (1, f"ilertd: cannot back up: cannot write to {tmp_path / 'no-such-dir'}: "
                              "No such file or directory\n")
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "a-file" / "data"))
    unwritable = f"ilertd: cannot write {tmp_path / 'a-file' / 'data'}: Not a directory (the data directory"
    for command in (["migrate"], ["export"], ["user", "add", "zed"], ["restore", str(tmp_path / "x.db")],
                    ["serve", "--port", "0"]):
        code, _, err = cli(capsys, *command)
        assert code == 1 and err.splitlines()[-1].startswith(unwritable), (command, err)


def test_a_postgresql_store_is_backed_up_with_its_own_tools(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "ilertd.toml"
    config.write_text('[database]\nurl = "postgresql://ilertd@127.0.0.1:1/ilertd"\n')
    bound = database_proxy.obj
    try:
        for command in ("backup", "restore"):
            code, _, err = cli(capsys, "--config", str(config), command, str(tmp_path / "copy.db"))
            assert code == 1 and "pg_dump" in err, err
    finally:
        # The command bound the models to that server (never reached); bound back for what follows.
        database_proxy.initialize(bound)
    assert not (tmp_path / "copy.db").exists()


def test_a_damaged_store_stops_the_daemon_with_what_to_do_not_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("STATE_DIRECTORY", str(data))
    assert cli(capsys, "migrate")[0] == 0
    backup = tmp_path / "backup.db"
    assert cli(capsys, "backup", str(backup))[0] == 0
    store = data / "ilertd.db"
    with sqlite3.connect(store) as connection:  # everything into the file: no newer page in a log
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    damaged = bytearray(store.read_bytes())
    damaged[100:4096] = b"\xab" * (4096 - 100)  # the first page's tree: where every table is named
    store.write_bytes(bytes(damaged))
    served = subprocess.run([sys.executable, "-m", "ilertd", "serve", "--port", "0"], capture_output=True,
                            text=True, timeout=60, env={**os.environ, "STATE_DIRECTORY": str(data)})
    assert served.returncode == 1, served.stderr
    assert "Traceback" not in served.stderr, served.stderr
    assert "database error: " in served.stderr and "`ilertd restore FILE`" in served.stderr, served.stderr
    # What it says to do mends it: the damaged file is kept aside, the backup goes into a new one.
    code, out, err = cli(capsys, "restore", str(backup))
    assert code == 0, err
    (aside,) = [p for p in data.glob("ilertd.db.damaged-*") if not p.name.endswith(("-wal", "-shm"))]
    assert f"moved to {aside}" in out and aside.read_bytes() == bytes(damaged)
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert dump(store) == dump(backup)


def test_a_backup_whose_name_holds_a_hash_or_question_mark_is_the_one_restored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The name went into an SQLite URI unescaped: `restore 'backup#2.db'` restored `backup`, and
    with no `backup` made an empty one, world-readable, and said the restore succeeded."""
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    assert cli(capsys, "user", "add", "old-user")[0] == 0
    assert cli(capsys, "backup", "backup")[0] == 0
    assert cli(capsys, "user", "add", "new-user")[0] == 0
    for name in ("backup#2.db", "backup?mode=rw.db"):
        assert cli(capsys, "backup", name)[0] == 0
    assert cli(capsys, "user", "delete", "new-user")[0] == 0
    for name in ("backup#2.db", "backup?mode=rw.db"):
        code, _, err = cli(capsys, "restore", name)
        assert code == 0, err
        assert "new-user" in cli(capsys, "user", "list")[1], name
        assert cli(capsys, "user", "delete", "new-user")[0] == 0
    (tmp_path / "backup").unlink()
    code, _, err = cli(capsys, "restore", "backup#2.db")
    assert code == 0, err
    assert not (tmp_path / "backup").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="runs as root, as README's restore does with sudo")
def test_a_restore_run_as_root_leaves_the_store_to_the_owner_of_the_data_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`sudo ilertd restore FILE` into the service's state directory made a new store and lock file
    root's, 0600: the service (a DynamicUser) could not open its store, restarting every 2 s."""
    data = tmp_path / "data"
    monkeypatch.setenv("STATE_DIRECTORY", str(data))
    assert cli(capsys, "migrate")[0] == 0
    backup = tmp_path / "backup.db"
    assert cli(capsys, "backup", str(backup))[0] == 0
    for path in data.iterdir():
        path.unlink()
    service_user = 65534  # nobody, as the service's own user
    os.chown(data, service_user, service_user)
    code, _, err = cli(capsys, "restore", str(backup))
    assert code == 0, err
    owners = {path.name: path.stat().st_uid for path in data.iterdir()}
    assert owners["ilertd.db"] == service_user and owners["ilertd.db.lock"] == service_user, owners
    assert set(owners.values()) == {service_user}, owners
