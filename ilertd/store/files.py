"""Files in the data directory: private to the daemon's user whatever the umask, written atomically.

The directory holds the database (with the link-signing secret, token hashes and integration
keys), its WAL, the first-run secrets and the manual clock's time, so it is 0700 and every
file in it 0600. SQLite creates the WAL and shared-memory files with the database file's mode,
which is why the database file is created 0600 before SQLite opens it.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ilertd.errors import StartError

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


@contextlib.contextmanager
def writable(path: Path) -> Iterator[None]:
    """A file system refusing the data directory's files (a read-only one, a directory of another
    user's) as a StartError naming the file and why, where it was a traceback."""
    try:
        yield
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            hint = "free space on its file system, then start ilertd again"
        else:
            hint = "the data directory must be one the user ilertd runs as can write"
        # A write of an open file (a flush) names no file: the one being written is `path`.
        raise StartError(f"cannot write {error.filename or path}: {error.strerror} ({hint})") from None


def secure_directory(directory: Path) -> None:
    """Create `directory` if needed; make it 0700 and every file directly in it 0600."""
    with writable(directory):
        directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        os.chmod(directory, DIRECTORY_MODE)
        for entry in directory.iterdir():
            if entry.is_file() and not entry.is_symlink():
                os.chmod(entry, FILE_MODE)


def create_private(path: Path) -> None:
    """Make sure `path` exists, mode 0600, without touching its content; one root creates in a
    directory of another user's is that user's (see `owned_as_its_directory`)."""
    with writable(path):
        path.parent.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
        os.close(fd)
        os.chmod(path, FILE_MODE)
        owned_as_its_directory(path)


def owned_as_its_directory(path: Path) -> None:
    """A file root made in a directory another user owns (the service's state directory, a command
    run with sudo as README's restore says) is given to that user: a store or lock file left
    root's 0600 kept the service from opening its store after a restore (SQLite gives its own
    -wal and -shm files to the database's owner the same way)."""
    if os.geteuid() != 0:
        return
    directory = path.parent.stat()
    if directory.st_uid != 0 and path.stat().st_uid == 0:
        os.chown(path, directory.st_uid, directory.st_gid)


def open_private(path: Path, mode: str = "a+") -> IO[str]:
    """`open(path, mode)` for a file that is created 0600 (and made 0600 if it was not)."""
    create_private(path)
    return open(path, mode)


def write_private(path: Path, text: str) -> None:
    """Replace `path`'s content with `text` atomically (a temporary file, fsync, rename), 0600.

    A reader, or a daemon starting after a crash, finds the old content or the new, never a
    truncated file.
    """
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
