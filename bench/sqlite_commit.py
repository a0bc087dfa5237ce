"""The SQLite baseline: the rate of one group-commit writer fed by 64 threads that await each commit."""

from __future__ import annotations

import queue
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

PRODUCERS = 64
MAX_BATCH = 4096
WARM_UP_S = 0.5
SCHEMA = """
CREATE TABLE incident (
    id INTEGER PRIMARY KEY,
    alert_source INTEGER NOT NULL,
    alert_key TEXT NOT NULL,
    alert_key_identity TEXT NOT NULL,
    summary TEXT NOT NULL,
    status TEXT NOT NULL,
    priority TEXT NOT NULL,
    report_time TEXT NOT NULL,
    next_escalation_at TEXT,
    event_count INTEGER NOT NULL,
    labels TEXT NOT NULL
)
"""
INSERT = ("INSERT INTO incident (alert_source, alert_key, alert_key_identity, summary, status, priority,"
          " report_time, next_escalation_at, event_count, labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")

Row = tuple[Any, ...]
Item = tuple[Row, threading.Event] | None


class _Writer(threading.Thread):
    """Drains the queue: every waiting row goes into one IMMEDIATE transaction, then all are acked."""

    def __init__(self, path: Path, inbox: queue.SimpleQueue[Item]) -> None:
        super().__init__(name="sqlite-writer", daemon=True)
        self.path = path
        self.inbox = inbox
        self.rows = 0
        self.commits = 0

    def run(self) -> None:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            finished = False
            while not finished:
                item = self.inbox.get()
                batch: list[tuple[Row, threading.Event]] = []
                while item is not None:
                    batch.append(item)
                    if len(batch) >= MAX_BATCH:
                        break
                    try:
                        item = self.inbox.get_nowait()
                    except queue.Empty:
                        break
                finished = item is None
                if not batch:
                    continue
                connection.execute("BEGIN IMMEDIATE")
                connection.executemany(INSERT, [row for row, _ in batch])
                connection.execute("COMMIT")
                self.rows += len(batch)
                self.commits += 1
                for _, done in batch:
                    done.set()
        finally:
            connection.close()


def _row(producer: int, sequence: int) -> Row:
    key = f"p{producer}-{sequence}"
    return (1, key, key, "bench", "PENDING", "HIGH", "2026-01-05 09:00:00.000000",
            "2026-01-05 09:30:00.000000", 1, '{"team":"bench"}')


def measure(seconds: float) -> dict[str, Any]:
    """Rows/s acknowledged over `seconds`, after a short warm-up, and the mean rows per commit."""
    with tempfile.TemporaryDirectory(prefix="bench-sqlite-") as scratch:
        path = Path(scratch) / "commit.db"
        setup = sqlite3.connect(path)
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute(SCHEMA)
        setup.commit()
        setup.close()
        inbox: queue.SimpleQueue[Item] = queue.SimpleQueue()
        writer = _Writer(path, inbox)
        stop = threading.Event()

        def produce(index: int) -> None:
            done = threading.Event()
            sequence = 0
            while not stop.is_set():
                done.clear()
                inbox.put((_row(index, sequence), done))
                while not done.wait(1.0):
                    if not writer.is_alive():
                        return
                sequence += 1

        producers = [threading.Thread(target=produce, args=(i,), name=f"producer-{i}", daemon=True)
                     for i in range(PRODUCERS)]
        writer.start()
        try:
            for thread in producers:
                thread.start()
            time.sleep(WARM_UP_S)
            rows0, commits0, t0 = writer.rows, writer.commits, time.monotonic()
            time.sleep(seconds)
            rows1, commits1, t1 = writer.rows, writer.commits, time.monotonic()
        finally:
            stop.set()
            for thread in producers:
                thread.join()
            inbox.put(None)
            writer.join()
    rows, commits = rows1 - rows0, commits1 - commits0
    return {
        "rows_per_s": rows / (t1 - t0),
        "commits_per_s": commits / (t1 - t0),
        "rows_per_commit": rows / commits if commits else 0.0,
        "seconds": t1 - t0,
        "producers": PRODUCERS,
        "columns": 11,
    }
