"""Which node leads a shared database: the PostgreSQL advisory lock on a connection of its own, the
follower's retry every second and its promotion, and this node's row in the node table."""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import peewee

from ilertd.store.db import PG_LOCK_ID, is_sqlite
from ilertd.store.nodes import FOLLOWER, LEADER, remove_node, took_the_lead, upsert_node

logger = logging.getLogger("ilertd")

# How often a follower tries the lock: the longest a takeover waits once the leader's session is gone.
RETRY_SECONDS = 1.0
# How often a node refreshes its row; `ilertd status` counts a node up for 15 s after its last one.
BEAT_SECONDS = 3.0


def wall_now() -> datetime:
    """The machine's clock, not the daemon's (manual in tests): liveness is about real seconds."""
    return datetime.now(UTC)


def node_name(port: int | None) -> str:
    """`hostname:port`, what an operator finds the node by; a uuid for a daemon with no socket."""
    return f"{socket.gethostname()}:{port}" if port else uuid.uuid4().hex


class Leadership:
    """On PostgreSQL, the session that holds PG_LOCK_ID leads; when it ends (its process died, its
    connection closed) PostgreSQL frees the lock and a follower's next try takes it. On SQLite the
    file lock already keeps a second daemon out: the one daemon always leads.

    `promote` starts what a leader runs, in the calling thread (the start's or the watcher's);
    `lost` is called when the leader's own lock connection breaks: it cannot know whether another
    node leads now, so it must stop acting (the daemon stops, and its restart comes back as a follower)."""

    def __init__(self, db: peewee.Database, name: str, promote: Callable[[], None],
                 lost: Callable[[], None]) -> None:
        self.db = db
        self.name = name
        self.started_at = wall_now()
        self._promote = promote
        self._lost = lost
        self._leading = threading.Event()
        self._stopping = threading.Event()
        self._lock_connection: Any = None
        self._thread: threading.Thread | None = None
        self._next_beat = 0.0

    @property
    def leading(self) -> bool:
        return self._leading.is_set()

    @property
    def role(self) -> str:
        return LEADER if self.leading else FOLLOWER

    def try_lead(self) -> bool:
        """Take the lead if nobody holds it; promote this node if so."""
        if self.leading:
            return True
        if not is_sqlite(self.db) and not self._take_lock():
            return False
        logger.info("leadership: %s leads", self.name)
        try:
            self._promote()
        except Exception:
            # Half a leader holding the lock is worse than none: stop, and free the lock by exiting.
            self._stopping.set()
            self._lost()
            raise
        self._leading.set()
        took_the_lead(self.name)
        self.beat()
        return True

    def beat(self) -> None:
        """This node's row: its role, seen now."""
        upsert_node(self.name, self.role, self.started_at, wall_now())
        self._next_beat = time.monotonic() + BEAT_SECONDS

    def start(self) -> None:
        """The watcher: a follower's tries, a leader's check of its lock, and every node's beat."""
        self.beat()
        self._thread = threading.Thread(target=self._watch, name="ilertd-leadership", daemon=True)
        self._thread.start()

    def stop_watching(self) -> None:
        """No promotion from now on (the daemon is stopping); the lock, if held, is kept."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def release(self) -> None:
        """Last, after the actors stopped: another node may lead from now on."""
        try:
            remove_node(self.name)
        except peewee.DatabaseError as error:
            logger.warning("leadership: cannot remove node %s: %s", self.name, error)
        self._close_lock_connection()
        self._leading.clear()

    # --- the watcher ---------------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._stopping.wait(RETRY_SECONDS):
            try:
                if self.leading:
                    if not self._lock_alive():
                        logger.critical("leadership: the lock's connection is gone; %s stops leading"
                                        " (another node may lead now)", self.name)
                        self._lost()
                        return
                else:
                    self.try_lead()
                if time.monotonic() >= self._next_beat:
                    self.beat()
            except Exception:
                logger.exception("leadership: %s could not try the lock or write its row", self.name)
                if not self.leading:
                    self._close_lock_connection()
                if not self.db.is_closed():
                    self.db.close()  # this thread's connection: a fresh one on the next round
        if not self.db.is_closed():
            self.db.close()

    def _take_lock(self) -> bool:
        if self._lock_connection is None:
            import psycopg2  # only on PostgreSQL

            connection = psycopg2.connect(dbname=self.db.database, **self.db.connect_params)
            connection.autocommit = True
            self._lock_connection = connection
        with self._lock_connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", (PG_LOCK_ID,))
            return bool(cursor.fetchone()[0])

    def _lock_alive(self) -> bool:
        if self._lock_connection is None:
            return True  # SQLite: the file lock lives as long as the process
        try:
            with self._lock_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
            return True
        except Exception:
            return False

    def _close_lock_connection(self) -> None:
        if self._lock_connection is not None:
            try:
                self._lock_connection.close()
            except Exception:
                logger.debug("leadership: closing the lock connection failed", exc_info=True)
            self._lock_connection = None
