"""Per-integration-key event rate limit (`limits.events_per_minute_per_key`), by clock minute."""

from __future__ import annotations

import math
import threading
from datetime import datetime

from ilertd.actors.clock import Clock
from ilertd.errors import ApiError


class RateLimiter:
    """Fixed one-minute windows. Called from the HTTP event loop and from plugins' own threads
    (the SMTP listener): one lock keeps each count exact."""

    def __init__(self, per_minute: int, clock: Clock) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._windows: dict[str, tuple[datetime, int]] = {}
        self._lock = threading.Lock()

    def check(self, key: str, events: int = 1) -> None:
        """Count `events` more for `key` this minute; 429 (taking none of them) if that is over."""
        if self.per_minute <= 0:
            return
        now = self.clock.now()
        window = now.replace(second=0, microsecond=0)
        with self._lock:
            start, count = self._windows.get(key, (window, 0))
            if start != window:
                start, count = window, 0
                if len(self._windows) > 100_000:
                    self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
            if count + events <= self.per_minute or count == 0:
                # A first payload larger than the whole limit is still taken: refusing it
                # for ever would make a tool re-send it for ever.
                self._windows[key] = (start, count + events)
                return
        retry = max(1, math.ceil(60 - (now - start).total_seconds()))
        raise ApiError(
            429, "RATE_LIMITED",
            f"more than {self.per_minute} events this minute for this integration key",
            headers={"Retry-After": str(retry)},
        )
