"""The group-commit writer: one thread drains queued write units into shared transactions.

Every incident change goes through here, in submission order, so an actor can move on while
its write is queued and a reply is sent only once the COMMIT that holds it has returned.
Batching many units per transaction is what makes durable ingestion fast on SQLite.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import peewee

from ilertd.store.db import write_transaction
from ilertd.store.statements import BARRIER, Statement
from ilertd.tracker import WorkTracker

logger = logging.getLogger(__name__)

MAX_BATCH = 512


@dataclass(frozen=True)
class WriteUnit:
    """Writes that commit together or not at all, and who to tell once they did (or failed)."""

    owner: int
    statements: tuple[Statement, ...]
    done: Callable[[BaseException | None], None]


class Committer:
    def __init__(self, db: peewee.Database, tracker: WorkTracker) -> None:
        self._db = db
        self._tracker = tracker
        self._queue: queue.SimpleQueue[WriteUnit | None] = queue.SimpleQueue()
        self._pending: Counter[int] = Counter()
        self._pending_lock = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="committer", daemon=True)
        self._stopped = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Commit everything queued so far, then end the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def submit(self, unit: WriteUnit) -> None:
        if self._stopped.is_set():
            unit.done(RuntimeError("the store is shutting down"))
            return
        with self._pending_lock:
            self._pending[unit.owner] += 1
        self._tracker.begin()
        self._queue.put(unit)

    def wait_flushed(self, owner: int, timeout: float = 30.0) -> bool:
        """Block until no write of `owner` is queued: a fresh actor then reads what the last one wrote."""
        with self._pending_lock:
            return self._pending_lock.wait_for(lambda: self._pending[owner] == 0, timeout)

    def wait_flushed_all(self, owners: Iterable[int], timeout: float = 30.0) -> bool:
        """`wait_flushed` for many owners at once, as a batch read needs it."""
        owners = tuple(owners)
        with self._pending_lock:
            return self._pending_lock.wait_for(lambda: not any(self._pending[o] for o in owners), timeout)

    def _run(self) -> None:
        self._db.connect(reuse_if_open=True)
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    break
                batch = [first]
                stop_after = False
                while len(batch) < MAX_BATCH:
                    try:
                        unit = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if unit is None:
                        stop_after = True
                        break
                    batch.append(unit)
                self._commit(batch)
                if stop_after:
                    break
        finally:
            self._stopped.set()
            self._fail_remaining()
            self._db.close()

    def _fail_remaining(self) -> None:
        leftovers: list[WriteUnit] = []
        while True:
            try:
                unit = self._queue.get_nowait()
            except queue.Empty:
                break
            if unit is not None:
                leftovers.append(unit)
        for unit in leftovers:
            self._finish(unit, RuntimeError("the store is shutting down"))

    def _commit(self, batch: list[WriteUnit]) -> None:
        try:
            with write_transaction(self._db):
                cursor = self._db.cursor()
                for sql, rows in _runs(batch):
                    cursor.executemany(sql, rows)
        except Exception as error:
            if len(batch) == 1:
                logger.exception("write for incident %s failed", batch[0].owner)
                self._finish(batch[0], error)
                return
            # One bad unit must not fail its neighbours: retry each in its own transaction.
            for unit in batch:
                self._commit([unit])
            return
        for unit in batch:
            self._finish(unit, None)

    def _finish(self, unit: WriteUnit, error: BaseException | None) -> None:
        try:
            unit.done(error)
        except Exception:
            logger.exception("completion of a write for incident %s failed", unit.owner)
        finally:
            with self._pending_lock:
                self._pending[unit.owner] -= 1
                if self._pending[unit.owner] <= 0:
                    del self._pending[unit.owner]
                    self._pending_lock.notify_all()
            self._tracker.end()



def _runs(batch: list[WriteUnit]) -> list[tuple[str, list[tuple[object, ...]]]]:
    """The batch's statements as executemany runs: by kind (rows before the rows that reference
    them) between barriers, in submission order within a kind, consecutive equal SQL in one run."""
    runs: list[tuple[str, list[tuple[object, ...]]]] = []
    segment: defaultdict[int, list[Statement]] = defaultdict(list)

    def flush() -> None:
        for kind in sorted(segment):
            for statement in segment[kind]:
                if runs and runs[-1][0] == statement.sql:
                    runs[-1][1].append(statement.params)
                else:
                    runs.append((statement.sql, [statement.params]))
        segment.clear()

    for unit in batch:
        for statement in unit.statements:
            if statement.kind == BARRIER:
                flush()
                runs.append((statement.sql, [statement.params]))
            else:
                segment[statement.kind].append(statement)
    flush()
    return runs
