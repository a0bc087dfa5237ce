"""Which node leads a shared database: the PostgreSQL advisory lock on a connection of its own, the
follower's retry every second and its promotion, the leader's watch on its lock, and the node rows."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import peewee

from ilertd.fencing import Fence
from ilertd.store.db import PG_LOCK_ID, close_quietly, is_sqlite
from ilertd.store.nodes import (
    FOLLOWER,
    LEADER,
    LOCK_SESSION_PREFIX,
    end_session,
    lock_holder,
    node_row,
    remove_node,
    took_the_lead,
    upsert_node,
)

logger = logging.getLogger("ilertd")

# How often a follower tries the lock: the longest a takeover waits once the leader's session is gone.
RETRY_SECONDS = 1.0
# How often a node refreshes its row; `ilertd status` counts a node up for 15 s after its last one.
# Every second (it was 3 s): a leader's pause is measured from its last refresh, so a beat every
# 3 s (plus the watcher's wait) deposed a leader paused for 14.5 s, under its 15 s lease.
BEAT_SECONDS = 1.0
# The leader's lease: a lock holder whose row was not refreshed for this long (stopped, hung, its
# watcher wedged) has its lock session ended by a follower, which takes over. A pause of up to
# about 13 s is survived. Node rows carry each node's own wall clock: the nodes' clocks must
# agree within a few seconds.
LEASE_SECONDS = 15.0
# How long the leader's last look at its lock session stands for a provider call: an older one (the
# watcher was held up, or the whole process was stopped) is looked at again before the call.
CONFIRMED_SECONDS = 3 * RETRY_SECONDS


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
    `lost` is called, once, when the leader's own lock connection breaks: it cannot know whether
    another node leads now, so it must stop acting at once (the daemon closes its fence and stops,
    and its restart comes back as a follower). The watcher notices a broken lock session as soon as
    the server ends it (it waits on the lock's socket), and `holds_lock` looks again before each
    provider call."""

    def __init__(self, db: peewee.Database, name: str, promote: Callable[[], None],
                 lost: Callable[[], None], fence: Fence | None = None) -> None:
        self.db = db
        self.name = name
        self.started_at = wall_now()
        self._promote = promote
        self._lost = lost
        self._leading = threading.Event()
        self._stopping = threading.Event()
        self._lock_connection: Any = None
        # The lock's connection is the watcher's and the channel actors' (holds_lock): one at a time.
        self._lock_guard = threading.Lock()
        self._confirmed_at = 0.0
        self._lost_once = threading.Event()
        # Written to by stop_watching: the watcher's wait ends at once.
        self._wake_reader, self._wake_writer = os.pipe()
        self._thread: threading.Thread | None = None
        self._next_beat = 0.0
        # The channel actors' and the committer's fence: it asks holds_lock, and is closed the
        # moment the lock is lost. On SQLite the file lock lasts as long as the process: nothing to
        # ask on every commit and every send.
        self._fence = fence if fence is not None else Fence()
        if not is_sqlite(db):
            self._fence.guard_with(self.holds_lock)

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
        self._confirmed_at = time.monotonic()
        # Seen at once: a promotion slower than the lease must not look like a stalled leader.
        self.beat()
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
        with contextlib.suppress(OSError):
            os.write(self._wake_writer, b"x")
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
        if self._thread is None and self._wake_reader >= 0:
            for end in (self._wake_reader, self._wake_writer):
                with contextlib.suppress(OSError):
                    os.close(end)
            self._wake_reader = self._wake_writer = -1

    def holds_lock(self, look: bool = False) -> bool:
        """Whether this node still holds the lock, asked before each provider call. Cheap while the
        lock's socket is quiet and was looked at lately; a socket with something to read (the server
        ends a session by writing to it) or a look too old (this process was stopped for a while) is
        settled with a query (as it always is with `look`). False once the lock is lost: the daemon
        is told, once."""
        if self._lost_once.is_set():
            return False
        with self._lock_guard:
            connection = self._lock_connection
            if connection is None:
                return True  # SQLite: the file lock lives as long as the process
            recent = not look and time.monotonic() - self._confirmed_at < CONFIRMED_SECONDS
            if (recent and not _readable(connection)) or self._lock_alive():
                return True
        self._lose()
        return False

    # --- the watcher ---------------------------------------------------------------------------

    def _watch(self) -> None:
        while self._wait_round():
            try:
                if self.leading:
                    if not self.holds_lock(look=True):
                        return
                else:
                    self.follow()
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

    def follow(self) -> bool:
        """A follower's round: take the lock if it is free; if its holder has not refreshed its
        row for over LEASE_SECONDS, end the holder's lock session (it finds itself deposed when
        it runs again, and sends nothing) and take the lock. True when this node leads."""
        if self.try_lead() or is_sqlite(self.db):
            return self.leading
        holder = lock_holder(PG_LOCK_ID)
        if holder is None or not holder.node or holder.node == self.name:
            return False  # a session that names no node: not one of ours to judge
        row = node_row(holder.node)
        silent = (wall_now() - row.last_seen).total_seconds() if row is not None else 0.0
        if silent <= LEASE_SECONDS:
            return False
        logger.critical("leadership: %s holds the lock but has not been seen for %.0f s (over the"
                        " %.0f s lease): %s ends its session and takes over", holder.node, silent,
                        LEASE_SECONDS, self.name)
        end_session(holder.pid)
        return self.try_lead()

    def _wait_round(self) -> bool:
        """Wait RETRY_SECONDS, less if the leader's lock socket has something to read (its session
        was ended); False once stopping."""
        waiting = select.poll()
        with contextlib.suppress(OSError, ValueError):
            waiting.register(self._wake_reader, select.POLLIN)
        connection = self._lock_connection if self.leading else None
        if connection is not None:
            with contextlib.suppress(Exception):
                waiting.register(connection.fileno(), select.POLLIN)
        waiting.poll(RETRY_SECONDS * 1000)
        return not self._stopping.is_set()

    def _lose(self) -> None:
        if self._lost_once.is_set():
            return
        self._lost_once.set()
        self._fence.close()
        logger.critical("leadership: the lock's connection is gone; %s stops leading at once"
                        " (another node may lead now): no page is handed to a provider from now on",
                        self.name)
        self._stopping.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_writer, b"x")
        self._lost()

    def _take_lock(self) -> bool:
        if self._lock_connection is None:
            import psycopg2  # only on PostgreSQL

            params = {**self.db.connect_params, "application_name": LOCK_SESSION_PREFIX + self.name}
            connection = psycopg2.connect(dbname=self.db.database, **params)
            connection.autocommit = True
            self._lock_connection = connection
        with self._lock_connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", (PG_LOCK_ID,))
            return bool(cursor.fetchone()[0])

    def _lock_alive(self) -> bool:
        """A query on the lock's own connection, under _lock_guard: it works while its session (and
        so the lock) lives."""
        try:
            with self._lock_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        except Exception:
            return False
        self._confirmed_at = time.monotonic()
        return True

    def _close_lock_connection(self) -> None:
        with self._lock_guard:
            if self._lock_connection is not None:
                close_quietly(self._lock_connection, "leadership: the lock")
                self._lock_connection = None


def _readable(connection: Any) -> bool:
    """Whether an idle connection's socket has something to read: on the lock's connection, which
    never listens, that is the server ending the session (or gone)."""
    try:
        waiting = select.poll()
        waiting.register(connection.fileno(), select.POLLIN)
        return bool(waiting.poll(0))
    except Exception:
        return True
