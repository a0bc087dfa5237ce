"""The fence: whether this node may still hand a page to a provider, closed for good once it stops leading."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Fence:
    """Asked by every channel actor just before each provider call. A node that lost the lead (its
    lock's session ended: another node may lead and send the same pages) must not hand over one
    more page: the rows it has not handed over stay for the next leader, which sends them.

    `check`, when given (the leader's look at its lock session), runs on each question; the first
    False closes the fence. With none (SQLite: the file lock lasts as long as the process; a
    test's runtime) the fence holds until it is closed."""

    def __init__(self) -> None:
        self._closed = threading.Event()
        self._check: Callable[[], bool] | None = None

    def guard_with(self, check: Callable[[], bool]) -> None:
        self._check = check

    def close(self) -> None:
        """This node stopped leading: no provider call from now on."""
        self._closed.set()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def holds(self) -> bool:
        """Whether a page may be handed to a provider now."""
        if self._closed.is_set():
            return False
        check = self._check
        if check is not None and not check():
            self._closed.set()
            return False
        return True
