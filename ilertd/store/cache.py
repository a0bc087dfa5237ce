"""Read-through caches of store rows shared by threads, safe against a write racing a read."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

_ABSENT = object()


class GuardedCache(Generic[K, V]):
    """Values by key, read from the store once and kept until a write invalidates them.

    Readers take `lookup` (what is cached, what is missing, and the generation), read the
    missing ones without the lock, then `keep` them. Every write calls `invalidate` after its
    COMMIT, which bumps the generation first: a read that began before it is not kept, since it
    may hold what the writer just replaced. At most `size` values are kept, the oldest dropped.

    A cache without a size may be told it holds every row (`keep(..., every=True)`): `complete`
    then says so until an invalidation of everything.
    """

    def __init__(self, size: int | None = None) -> None:
        self._values: dict[K, V] = {}
        self._size = size
        self._generation = 0
        self._complete = False
        self._lock = threading.Lock()

    @property
    def complete(self) -> bool:
        return self._complete

    def peek(self, key: K) -> V | None:
        """The cached value of `key`, if any; lock-free, for a caller on the event loop."""
        return self._values.get(key)

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)

    def lookup(self, keys: Iterable[K]) -> tuple[dict[K, V], list[K], int]:
        # Without the lock: every actor looks up here, and threads queueing on a lock each wait
        # for its holder to get the interpreter lock back. One dict read is atomic, and the
        # generation is read before anything else: what is missing and read from the store
        # after an invalidation began is still refused by `keep`.
        generation = self._generation
        values = self._values
        found: dict[K, V] = {}
        missing: list[K] = []
        for key in keys:
            value = values.get(key, _ABSENT)
            if value is _ABSENT:
                missing.append(key)
            else:
                found[key] = value  # type: ignore[assignment]
        return found, missing, generation

    def keep(self, generation: int, values: dict[K, V], every: bool = False) -> None:
        """Keep `values` read since `lookup` gave `generation`; with `every`, they are every row."""
        with self._lock:
            if generation != self._generation:
                return
            self._values.update(values)
            self._complete = self._complete or (every and self._size is None)
            if self._size is not None:
                while len(self._values) > self._size:
                    del self._values[next(iter(self._values))]

    def invalidate(self, key: K | None = None) -> None:
        """Forget one key, or everything."""
        with self._lock:
            self._generation += 1
            if key is None:
                self._values.clear()
                self._complete = False
            else:
                self._values.pop(key, None)
