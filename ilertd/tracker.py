"""Counts work in flight (queued messages, due timers, queued writes) so a test clock can wait for quiet."""

from __future__ import annotations

import threading


class WorkTracker:
    """`begin()` before handing work on, `end()` once it is handled; `wait_idle()` waits for zero."""

    def __init__(self, counting: bool = True) -> None:
        # Only the manual clock waits for quiet; under the real clock nothing does, and the
        # lock taken three times per event is then pure cost.
        self.counting = counting
        self._count = 0
        self._idle = threading.Condition(threading.Lock())

    def begin(self, count: int = 1) -> None:
        if not self.counting:
            return
        with self._idle:
            self._count += count

    def end(self) -> None:
        if not self.counting:
            return
        with self._idle:
            self._count -= 1
            if self._count <= 0:
                self._count = 0
                self._idle.notify_all()

    @property
    def in_flight(self) -> int:
        return self._count

    def wait_idle(self, timeout: float = 30.0) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._count == 0, timeout)
