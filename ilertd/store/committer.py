"""The group-commit writer: one thread drains queued write units into shared transactions.

Every incident change goes through here, in submission order, so an actor can move on while
its write is queued and a reply is sent only once the COMMIT that holds it has returned.
Batching many units per transaction is what makes durable ingestion fast on SQLite.

SQLite copies its write-ahead log into the database in whichever COMMIT finds 1,000 pages of log,
before that COMMIT returns: at 20 events/s every 45th or so event's reply waited 20-27 ms for it
(3-4 ms otherwise), and so did its page. The writer folds the log itself once it has nothing
queued and its batch's replies are on their way (at most once a second), so below about a
hundred events a second a COMMIT never does. Under load it seldom runs dry and SQLite's own
takes over: a checkpointing thread beside it made the log grow (the writer could never start
it again) and a storm of escalations 17 % slower.

Rows of one kind go in as one multi-row INSERT rather than an `executemany`: the sqlite3 driver
lets go of the interpreter lock around every statement step, and under load taking it back took
about 1.7 ms each time (the HTTP and actor threads hold it meanwhile), so a batch cost a step per
row; now it costs a step per kind of row. On SQLite, a batch of only new rows goes in as one
statement (see ilertd.store.row_sets).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import peewee

from ilertd.metrics import Metrics
from ilertd.store.db import is_sqlite, transaction_error, write_transaction
from ilertd.store.row_sets import RowSets
from ilertd.store.statements import BARRIER, Statement, Statements, is_insert, multi_row_inserts
from ilertd.tracker import WorkTracker

logger = logging.getLogger(__name__)

MAX_BATCH = 512
# After the store refused a write, what needed it (an escalation, a page's mark or its outcome, a
# heartbeat's ALERT, a shift reminder) tries again this much later: a short outage then delays a
# page by seconds, and each try logs one line.
WRITE_RETRY = timedelta(seconds=5)
# Units an actor's batch queues in one `submit_many`: enough to take the submitters' lock rarely,
# few enough that the first pages of a storm are not held back for the rest of its batch.
WRITES_TOGETHER = 128
# How often at most the writer folds the log when it runs dry: each fold makes the next COMMIT
# start the log again, which syncs its header (0.7 ms here), and under load a run dry is brief.
FOLD_EVERY_S = 1.0
# Owners whose finished tickets may pile up in `_newest` before they are dropped at once.
STALE_TICKETS = 50_000


class NotLeadingError(RuntimeError):
    """A write refused because this node no longer leads: another node may have written meanwhile."""


@dataclass(frozen=True)
class WriteUnit:
    """Writes that commit together or not at all, and who to tell once they did (or failed)."""

    owner: int
    statements: tuple[Statement, ...]
    done: Callable[[BaseException | None], None]


class FailureLog:
    """Failed writes in a row (a full disk, a store gone away) are one fault: its first failure
    of each kind is logged with the traceback, the others in a line each, and the end of the run
    once. (A full disk logged a whole traceback for every event refused meanwhile.)"""

    # Kinds of error kept per run for "seen before": a run of many kinds logs each one whole.
    KINDS = 16

    def __init__(self) -> None:
        self.in_a_row = 0
        self._kinds: set[str] = set()

    def failed(self, owner: int, error: BaseException) -> None:
        self.in_a_row += 1
        kind = f"{type(error).__name__}: {error}"
        if kind not in self._kinds and len(self._kinds) < self.KINDS:
            self._kinds.add(kind)
            logger.error("write for incident %s failed", owner, exc_info=error)
        else:
            logger.error("write for incident %s failed: %s (%d writes failed in a row; the first "
                         "of this kind was logged with its traceback)", owner, kind, self.in_a_row)

    def succeeded(self) -> None:
        if self.in_a_row:
            logger.warning("writes succeed again, after %d failed in a row", self.in_a_row)
            self.in_a_row = 0
            self._kinds.clear()


class Committer:
    """Waiting for an owner's writes is by ticket: each unit gets the next number as it is queued,
    units finish in that order, so "every write of these owners has landed" is one comparison
    with the newest ticket among them, however many owners a batch read waits for.

    Submitting and finishing take different locks. Every actor submits, and the writer used to
    clear each finished unit's ticket under the one lock they shared: a writer losing the
    interpreter lock inside that loop held up every submitter (a third of an incident host's
    time in a burst of escalations went to waiting for it). Now a finished unit's ticket simply
    stays behind, older than `_finished`, and is dropped in bulk once they pile up.
    """

    def __init__(self, db: peewee.Database, tracker: WorkTracker, metrics: Metrics | None = None) -> None:
        self._db = db
        self._tracker = tracker
        self._metrics = metrics if metrics is not None else Metrics()
        self._failures = FailureLog()
        self._queue: queue.SimpleQueue[tuple[int, WriteUnit] | None] = queue.SimpleQueue()
        # Taken by submitters only (and by the writer's rare pruning of `_newest`).
        self._submitting = threading.Lock()
        # Taken by the writer once per batch and by those waiting for it.
        self._lock = threading.Condition()
        self._next_ticket = 1
        # The newest queued ticket of each owner; tickets up to `_finished` are stale, and harmless.
        self._newest: dict[int, int] = {}
        # Every unit with a ticket up to this one has finished (committed or failed, told).
        self._finished = 0
        # The database's SQL and parameter conversion, one for the daemon: the actors build their
        # statements with it, and the row sets recognise them by it.
        self.statements = Statements(db)
        self._row_sets = RowSets(self.statements)
        self._thread = threading.Thread(target=self._run, name="committer", daemon=True)
        self._stopped = threading.Event()
        # PostgreSQL checkpoints by itself, off every session's COMMIT.
        self._folds = is_sqlite(db)
        self._folded_at = 0.0
        self._may_write: Callable[[], bool] | None = None
        self._refusing = False

    def guard_with(self, may_write: Callable[[], bool]) -> None:
        """`may_write` is asked before each transaction (the fence of ilertd.fencing): a node whose
        lease was taken (stopped past it, its lock's session ended) resumed with writes queued, and
        committed an escalation over the new leader's. Once it says no, every unit is refused."""
        self._may_write = may_write

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Commit everything queued so far, then end the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def submit(self, unit: WriteUnit) -> None:
        self.submit_many((unit,))

    def submit_many(self, units: Sequence[WriteUnit]) -> None:
        """Queue `units` in their order, in one hold of the submitters' lock: an actor's batch
        submits once, where a submit per unit made its threads queue up for the lock (a
        contended hold cost ten times an uncontended one in an escalation storm)."""
        if self._stopped.is_set():
            for unit in units:
                unit.done(RuntimeError("the store is shutting down"))
            return
        self._tracker.begin(len(units))
        with self._submitting:
            ticket = self._next_ticket
            self._next_ticket += len(units)
            newest, put = self._newest, self._queue.put
            for unit in units:
                newest[unit.owner] = ticket
                # Queued under the lock, so the queue holds the units in ticket order.
                put((ticket, unit))
                ticket += 1

    def wait_flushed(self, owner: int, timeout: float = 30.0) -> bool:
        """Block until no write of `owner` is queued: a fresh actor then reads what the last one wrote."""
        return self.wait_flushed_all((owner,), timeout)

    def wait_flushed_all(self, owners: Iterable[int], timeout: float = 30.0) -> bool:
        """`wait_flushed` for many owners at once, as a batch read needs it."""
        # A submit racing this read is of a write the caller did not wait for.
        newest = self._newest
        ticket = max((newest.get(owner, 0) for owner in owners), default=0)
        if self._finished >= ticket:
            return True
        with self._lock:
            return self._lock.wait_for(lambda: self._finished >= ticket, timeout)

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
                        queued = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if queued is None:
                        stop_after = True
                        break
                    batch.append(queued)
                self._commit(batch)
                self._finished_up_to(batch)
                if self._folds and self._queue.empty():
                    self._fold_log()
                if stop_after:
                    break
        finally:
            self._stopped.set()
            self._fail_remaining()
            self._db.close()

    def _fold_log(self) -> None:
        """A PASSIVE checkpoint: it waits for no reader, and the driver lets go of the interpreter
        lock while it copies, so the replies just let go are sent meanwhile."""
        now = time.monotonic()
        if now - self._folded_at < FOLD_EVERY_S:
            return
        self._folded_at = now
        try:
            self._db.execute_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except peewee.DatabaseError:
            # Not folded now: SQLite's own checkpoint at 1,000 pages still bounds the log.
            logger.warning("store: a checkpoint of the write-ahead log failed", exc_info=True)

    def _fail_remaining(self) -> None:
        leftovers: list[tuple[int, WriteUnit]] = []
        while True:
            try:
                queued = self._queue.get_nowait()
            except queue.Empty:
                break
            if queued is not None:
                leftovers.append(queued)
        for _, unit in leftovers:
            self._finish(unit, RuntimeError("the store is shutting down"))
        self._finished_up_to(leftovers)

    def _commit(self, batch: list[tuple[int, WriteUnit]]) -> None:
        if self._may_write is not None and not self._may_write():
            if not self._refusing:
                self._refusing = True
                logger.error("store: this node no longer leads; its writes are dropped (the leader's stand)")
            for _, unit in batch:
                self._finish(unit, NotLeadingError("this node no longer leads"))
            return
        began = time.perf_counter()
        units = [unit for _, unit in batch]
        try:
            if not self._row_sets.write(self._db, units):
                self._write(units)
        except Exception as raised:
            if len(batch) == 1:
                error = transaction_error(raised)
                self._failures.failed(batch[0][1].owner, error)
                self._finish(batch[0][1], error)
                return
            # One bad unit must not fail its neighbours: retry each in its own transaction.
            for queued in batch:
                self._commit([queued])
            return
        # Committed batches only: a failed one is timed again as the single-unit retries.
        self._metrics.commit_took(time.perf_counter() - began)
        self._failures.succeeded()
        for _, unit in batch:
            self._finish(unit, None)

    def _write(self, units: list[WriteUnit]) -> None:
        """The general way: each run of statements in its turn, in one transaction."""
        with write_transaction(self._db):
            cursor = self._db.cursor()
            for sql, rows in _runs(units):
                if len(rows) > 1 and is_insert(sql):
                    for many_sql, params in multi_row_inserts(sql, rows):
                        cursor.execute(many_sql, params)
                else:
                    cursor.executemany(sql, rows)

    def _finish(self, unit: WriteUnit, error: BaseException | None) -> None:
        try:
            unit.done(error)
        except Exception:
            logger.exception("completion of a write for incident %s failed", unit.owner)
        finally:
            self._tracker.end()

    def _finished_up_to(self, batch: list[tuple[int, WriteUnit]]) -> None:
        """Every unit of `batch` has been told: wake who waits for them, in one hold of the lock."""
        if not batch:
            return
        finished = batch[-1][0]
        with self._lock:
            self._finished = finished
            self._lock.notify_all()
        if len(self._newest) > STALE_TICKETS:
            with self._submitting:
                self._newest = {owner: t for owner, t in self._newest.items() if t > finished}


class WriteQueue:
    """The writes of an actor's batch, queued WRITES_TOGETHER at a time in one `submit_many`:
    the submitters' lock is taken rarely, and the batch's first writes do not wait for its end.
    `flush` queues the rest: at the batch's end, and before anyone waits for them to land."""

    def __init__(self, committer: Committer) -> None:
        self._committer = committer
        self._units: list[WriteUnit] = []

    def submit(self, unit: WriteUnit) -> None:
        self._units.append(unit)
        if len(self._units) >= WRITES_TOGETHER:
            self.flush()

    def flush(self) -> None:
        if self._units:
            units, self._units = self._units, []
            self._committer.submit_many(units)


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
