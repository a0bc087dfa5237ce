"""A store that will not take writes, made for real: another connection holding SQLite's write lock
(with the `impatient` fixture of conftest, a daemon gives up on it after 100 ms)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def write_lock_held(path: Path) -> Iterator[None]:
    """Another process's writer as SQLite sees it: a connection of its own holding the write lock
    (it may be let go on another thread than the one that took it)."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


class LockOnFirstSms:
    """A loopback SMS provider that, as it takes the first SMS, has another connection take the
    store's write lock (as another process holding it would): what the channel writes after
    handing that SMS on is refused until `release`."""

    def __init__(self, http: Any, path: Path) -> None:
        self._answer = http.answer
        self._path = path
        self._holder: sqlite3.Connection | None = None
        http.answer = self._lock_then_answer

    def _lock_then_answer(self, request: Any) -> Any:
        if request.path.startswith("/sms/") and self._holder is None:
            self._holder = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            self._holder.execute("BEGIN IMMEDIATE")
        return self._answer(request)

    def release(self) -> None:
        assert self._holder is not None, "no SMS was sent"
        self._holder.execute("ROLLBACK")
        self._holder.close()
