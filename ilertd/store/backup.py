"""Copying a SQLite store whole, while a daemon serves it (`ilertd backup`), and back (`ilertd restore`).

Copying `ilertd.db` with `cp` beside a daemon is not a backup: the newest commits are in the
write-ahead log beside it, and a checkpoint may write the file while it is read. SQLite's online
backup copies the pages as one read transaction sees them (the log's included), and a reader
never holds up the daemon's writes. Copying a file back over a store is worse: a write-ahead log
left beside it would be applied to pages it does not belong to. A restore therefore goes through
the same API into the store's own connection, which writes through the log as any commit does.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import peewee

from ilertd.store.db import MIGRATIONS_DIR, is_sqlite, store_damaged
from ilertd.store.files import FILE_MODE, create_private

# A table every ilertd store has had from its first migration on.
IDENTIFYING_TABLE = "incident"


class BackupError(RuntimeError):
    """The copy cannot be made or used; the message says why."""


def _sqlite_only(db: peewee.Database) -> None:
    if not is_sqlite(db):
        raise BackupError("the store is on PostgreSQL: back it up and restore it with pg_dump and"
                          " pg_restore (README, \"Backups\")")


def backup_to(db: peewee.Database, target: Path) -> int:
    """A consistent copy of the store at `target` (0600; written beside it under a temporary name
    and renamed, so `target` is never a partial copy); refused where `target` exists. Its size
    in bytes."""
    _sqlite_only(db)
    if target.exists():
        raise BackupError(f"{target} exists: name a new file (a backup never overwrites one)")
    temporary = target.with_name(f".{target.name}.partial")
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        # 0600 before SQLite writes anything: the copy holds the signing secret and token hashes.
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except OSError as error:  # no such directory, not one's to write in, a read-only file system
        raise BackupError(f"cannot write to {target.parent}: {error.strerror}") from None
    try:
        copy = sqlite3.connect(temporary)
        try:
            db.connection().backup(copy)
            size = _checked(copy, temporary)
        except sqlite3.Error as error:  # a full disk, an unreadable store
            raise BackupError(f"copying to {target} failed: {error}") from None
        finally:
            copy.close()
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return size


@dataclass(frozen=True)
class Restored:
    size: int
    # Where a store SQLite could not open was moved before the copy went in, if it was.
    damaged_moved_to: Path | None


def restore_from(db: peewee.Database, source: Path, store: Path, suffix: str) -> Restored:
    """Replace the store's content with the backup at `source`, checked first (nothing is changed
    when it is not an ilertd store); the caller holds the store lock. `store` is the store's file:
    one SQLite cannot open (damaged, or no database at all), with its write-ahead log, is renamed
    `<name>.damaged-<suffix>` and the backup goes into a new file, where the restore failed on the
    very damage it is there to mend."""
    _sqlite_only(db)
    if not source.is_file():
        raise BackupError(f"{source}: no such file")
    # Percent-encoded: SQLite reads a "#" or "?" in a URI's path as its end, and opened (creating
    # it where missing) a file other than the one named, read-write, and restored that instead.
    backup = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        size = _checked(backup, source)
        moved_to = _damaged_store_aside(db, store, suffix)
        _same_page_size(backup, db, source)
        try:
            backup.backup(db.connection())
        except sqlite3.Error as error:  # SQLite undoes a copy that fails part way
            raise BackupError(f"copying {source} into the store failed: {error}") from None
    finally:
        backup.close()
    return Restored(size, moved_to)


def _damaged_store_aside(db: peewee.Database, store: Path, suffix: str) -> Path | None:
    try:
        db.execute_sql("SELECT count(*) FROM sqlite_master").fetchone()
        return None
    except peewee.DatabaseError as error:
        if not store_damaged(error):
            raise
    db.close()
    aside = store.with_name(f"{store.name}.damaged-{suffix}")
    for extension in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.rename(f"{store}{extension}", f"{aside}{extension}")
    os.rename(store, aside)
    create_private(store)
    return aside


def _same_page_size(backup: sqlite3.Connection, db: peewee.Database, source: Path) -> None:
    """SQLite cannot copy pages of one size into a store in WAL mode that has pages of another."""
    theirs = int(backup.execute("PRAGMA page_size").fetchone()[0])
    ours = int(db.execute_sql("PRAGMA page_size").fetchone()[0])
    pages = int(db.execute_sql("PRAGMA page_count").fetchone()[0])
    if pages and theirs != ours:
        raise BackupError(f"{source} has pages of {theirs} bytes and the store of {ours}: restore it into an"
                          " empty data directory (move the store's files aside first)")


def _checked(connection: sqlite3.Connection, path: Path) -> int:
    """The size in bytes of an intact ilertd store, else BackupError."""
    try:
        verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
        found = connection.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
                                   (IDENTIFYING_TABLE,)).fetchone()[0]
        pages = int(connection.execute("PRAGMA page_count").fetchone()[0])
        page_size = int(connection.execute("PRAGMA page_size").fetchone()[0])
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path}: not a SQLite database ({error})") from None
    if verdict != "ok":
        raise BackupError(f"{path}: the copy is damaged ({verdict})")
    if not found:
        raise BackupError(f"{path}: not an ilertd store (it has no {IDENTIFYING_TABLE} table)")
    _known_schema(connection, path)
    return pages * page_size


def _known_schema(connection: sqlite3.Connection, path: Path) -> None:
    """BackupError for a copy a newer release migrated: restored, it took the store's place, and
    only then was it refused, leaving that store in the data directory."""
    known = {migration.stem for migration in MIGRATIONS_DIR.glob("[0-9]*.py")}
    try:
        applied = {name for (name,) in connection.execute("SELECT name FROM schema_migration")}
    except sqlite3.DatabaseError:
        return  # a store of no migration yet: migrated as it is restored
    unknown = sorted(applied - known)
    if unknown:
        raise BackupError(f"{path}: taken by a newer ilertd (migrations {', '.join(unknown)} are unknown to"
                          " this one); restore it with that release or a later one; nothing changed")
