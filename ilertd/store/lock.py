"""One daemon per SQLite store: a lock file beside it, held whatever is done to that file meanwhile.

The daemon flocks `<db>.lock` for its life. A lock belongs to the file's inode, not to its name:
deleted (an operator clearing a "stale" lock, a tmp cleaner) or replaced by another file, the
lock went on holding a file no one could find any more, and a second `serve` made a new one,
locked it and led the same store too, every page going out twice. So a lock is taken only on
the file the path still names once locked; the serving daemon looks every `WATCH_INTERVAL` for
its file at the path and, missing or replaced, locks it again there (logging an error); and a
`serve`, or a command that writes the store (`migrate`, `restore`), that finds the store open
(its WAL there) but the lock file missing, or not the one its last holder left, waits
`DISPLACED_GRACE` for a daemon that lost its file to take it back before it takes the store
itself. The database file and its -wal and -shm are never opened here: closing any descriptor
of them would drop the POSIX locks SQLite holds on them.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import peewee

from ilertd.store.db import is_sqlite, sqlite_file
from ilertd.store.files import open_private, writable

logger = logging.getLogger(__name__)

# How often a serving daemon makes sure the path still names the file it holds locked.
WATCH_INTERVAL = 1.0
# What a lock file holds once its holder let go of it (a pid while held).
RELEASED = "released"
# How long a starting daemon leaves a daemon whose lock file went to lock it again: three looks.
DISPLACED_GRACE = 3 * WATCH_INTERVAL


class StoreLockedError(RuntimeError):
    """Another ilertd daemon already serves this database."""


class StoreLock:
    """Held for the life of a daemon on a SQLite file: a second `serve` on it is refused. On
    PostgreSQL it holds nothing: a second node starts as a follower (ilertd.leadership).

    `serving`: the holder is a daemon, which keeps its lock file at the path while it holds it. A
    command holds it for moments only and does not; both, taking it, wait for a daemon that may
    have lost its file (see the module's note)."""

    def __init__(self, db: peewee.Database, url: str, serving: bool = False) -> None:
        self._db = db
        self._serving = serving
        self._file: IO[str] | None = None
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        path = sqlite_file(url) if is_sqlite(db) else None
        self._store = path
        self._lock_path = path.with_name(path.name + ".lock") if path is not None else None

    def acquire(self) -> None:
        if self._lock_path is None:
            return
        self._file = self._lock_unless_displaced()
        if self._serving:
            self._stop.clear()
            self._watcher = threading.Thread(target=self._watch, name="store-lock", daemon=True)
            self._watcher.start()

    def release(self) -> None:
        if self._watcher is not None:
            self._stop.set()
            self._watcher.join()
            self._watcher = None
        if self._file is not None:
            # Let go of on purpose: the store is not served on this file (`_maybe_held_elsewhere`).
            with contextlib.suppress(OSError):
                self._file.seek(0)
                self._file.truncate()
                self._file.write(RELEASED)
                self._file.flush()
            self._close(self._file)
            self._file = None

    def _lock_unless_displaced(self) -> IO[str]:
        """The lock file, locked once a daemon that may have lost its file had `DISPLACED_GRACE` to
        lock it again (StoreLockedError naming its pid when it did). A command waits as `serve`
        does: taken at once, a `migrate` or `restore` ran beside the daemon that lost its file."""
        assert self._lock_path is not None
        existed = self._lock_path.exists()
        handle, previous = self._lock_named_file()
        if not self._maybe_held_elsewhere(existed, previous):
            return handle
        self._close(handle)
        logger.warning("lock file %s: %s while the store is open; waiting %.0f s for a daemon"
                       " that lost it to lock it again", self._lock_path,
                       "missing" if not existed else "not the one its last holder left",
                       DISPLACED_GRACE)
        time.sleep(DISPLACED_GRACE)
        handle, _ = self._lock_named_file()
        return handle

    def _lock_named_file(self) -> tuple[IO[str], str]:
        """The lock file the path names, locked, holding this process's pid, and what it held
        before; StoreLockedError naming the holder's pid when another process holds it."""
        assert self._lock_path is not None
        while True:
            handle = open_private(self._lock_path)
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _content(handle)
                handle.close()
                pid = holder if holder.isdigit() else "unknown"  # one locked, its pid not yet written
                raise StoreLockedError(
                    f"the database is in use by another ilertd (pid {pid});"
                    f" lock file {self._lock_path}"
                ) from None
            if self._names(handle):
                break
            # Deleted or replaced between the open and the lock: that file locks nothing.
            self._close(handle)
        previous = _content(handle)
        try:
            with writable(self._lock_path):
                handle.seek(0)
                handle.truncate()
                handle.write(str(os.getpid()))
                handle.flush()
        except BaseException:
            # Closing flushes the pid again, and fails as the write did; the file is closed
            # (and the lock let go) all the same.
            with contextlib.suppress(OSError):
                handle.close()
            raise
        return handle, previous

    def _names(self, handle: IO[str]) -> bool:
        """Whether the lock path names the file `handle` has open."""
        assert self._lock_path is not None
        try:
            named = os.stat(self._lock_path)
        except FileNotFoundError:
            return False
        held = os.fstat(handle.fileno())
        return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)

    def _maybe_held_elsewhere(self, existed: bool, previous: str) -> bool:
        """Whether a daemon may serve the store on a lock file no longer at the path: the store is
        open somewhere (its WAL exists while a connection is open; after a crash too) and the
        lock file was missing, or holds neither RELEASED nor the pid of a process that has ended
        (a crashed holder's) or of this one (an empty file put in its place, say)."""
        assert self._store is not None
        if not self._store.with_name(self._store.name + "-wal").exists():
            return False
        if not existed:
            return True
        if previous == RELEASED:
            return False
        holder = int(previous) if previous.isdigit() else None
        return holder is None or (holder != os.getpid() and _running(holder))

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_INTERVAL):
            try:
                self._keep_at_path()
            except Exception:
                logger.exception("lock file %s: could not check it", self._lock_path)

    def _keep_at_path(self) -> None:
        """Lock the file at the path again when it is no longer the one held."""
        assert self._file is not None
        if self._names(self._file):
            return
        try:
            handle, _ = self._lock_named_file()
        except StoreLockedError as error:
            logger.error("lock file %s was replaced while this daemon served the store, and %s:"
                         " two daemons may be serving it", self._lock_path, error)
            return
        self._close(self._file)
        self._file = handle
        logger.error("lock file %s was deleted or replaced while this daemon served the store;"
                     " locked it again (pid %d)", self._lock_path, os.getpid())

    @staticmethod
    def _close(handle: IO[str]) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        with contextlib.suppress(OSError):
            handle.close()


def _content(handle: IO[str]) -> str:
    handle.seek(0)
    return handle.read().strip()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


@contextmanager
def unserved(db: peewee.Database, url: str) -> Iterator[None]:
    """The store held as `serve` holds it, for a command that must not change it under a daemon:
    one serving it refuses the command (StoreLockedError). `db` has no connection open: its WAL
    would be taken for the store open elsewhere, and the command kept waiting for nobody."""
    lock = StoreLock(db, url)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()

