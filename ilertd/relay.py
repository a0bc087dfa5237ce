"""The leader's side of the writes followers take: woken by NOTIFY (or its poll every second), it
claims what followers queued, runs each request through this node's own HTTP application
in-process, as if it had come in here, and stores the answer for the follower to return."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from datetime import UTC, datetime, timedelta
from select import select as wait_readable
from typing import Any

import peewee

from ilertd.app.sent_when_received import served_as_received
from ilertd.store import forwarded
from ilertd.store.db import close_quietly, is_sqlite
from ilertd.store.forwarded import Forwarded
from ilertd.web.fastpath import ASGIApp
from ilertd.web.follower import FORWARDED

logger = logging.getLogger("ilertd")

POLL_SECONDS = 1.0
# Requests served at once: each waits on the actors, the store or a thread of the pool.
MAX_IN_FLIGHT = 64
# Answers nobody fetched (a queued event's; a follower that died waiting) are kept this long.
KEEP_ANSWERS = timedelta(minutes=10)
PRUNE_EVERY = timedelta(minutes=1)
LEADER_CHANGED = (503, {
    "status": 503, "code": "LEADER_CHANGED",
    "message": "the leader stopped while carrying this out; it may have been carried out: look before"
               " retrying",
})


def wall_now() -> datetime:
    return datetime.now(UTC)


class Relay:
    """Started when this node leads on PostgreSQL, stopped before its actors stop."""

    def __init__(self, db: peewee.Database, node: str, app: ASGIApp) -> None:
        self.db = db
        self.node = node
        self.app = app
        self._stopping = threading.Event()
        # Written to by `stop`: wakes the wait for a NOTIFY at once, not at its next poll.
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._thread: threading.Thread | None = None
        self._listener: Any = None
        self._next_prune = wall_now()
        self.served = 0

    def start(self) -> None:
        """Take what the last leader left, then serve; nothing to do for a lone daemon on SQLite
        (or when serving already)."""
        if is_sqlite(self.db) or self._thread is not None:
            return
        requeued, abandoned = forwarded.take_over(LEADER_CHANGED, wall_now())
        if requeued or abandoned:
            logger.warning("relay: the last leader left %d events unanswered (taken again) and %d other"
                           " requests (answered LEADER_CHANGED)", requeued, abandoned)
        self._thread = threading.Thread(target=self._run, name="ilertd-relay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._wake_writer.send(b"x")
            self._thread.join(timeout=60)
            self._thread = None
        self._wake_reader.close()
        self._wake_writer.close()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve_forever())
        finally:
            loop.close()
            self._close_listener()
            if not self.db.is_closed():
                self.db.close()

    async def _serve_forever(self) -> None:
        """Claim what is waiting, up to MAX_IN_FLIGHT at once, and serve each as it comes: a slow
        request (an event waiting on its incident) holds up none behind it."""
        in_flight: set[asyncio.Task[None]] = set()
        while not self._stopping.is_set():
            try:
                room = MAX_IN_FLIGHT - len(in_flight)
                requests = await asyncio.to_thread(self._claim, room) if room > 0 else []
                for request in requests:
                    task = asyncio.create_task(self._serve_and_answer(request))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                if not requests:
                    await asyncio.to_thread(self._wait_for_work, 0.05 if room <= 0 else POLL_SECONDS)
            except Exception:
                logger.exception("relay: a round failed; trying again in a second")
                self._close_listener()
                await asyncio.to_thread(self._stopping.wait, POLL_SECONDS)
        await asyncio.gather(*in_flight, return_exceptions=True)

    def _claim(self, room: int) -> list[Forwarded]:
        self._listen()  # before the look: a NOTIFY sent after it is not missed
        return forwarded.claim(self.node, wall_now(), limit=room)

    def _wait_for_work(self, seconds: float) -> None:
        if wall_now() >= self._next_prune:
            forwarded.prune(wall_now() - KEEP_ANSWERS)
            self._next_prune = wall_now() + PRUNE_EVERY
        listener = self._listen()
        readable, _, _ = wait_readable([listener, self._wake_reader], [], [], seconds)
        if listener in readable:
            listener.poll()
            listener.notifies.clear()

    async def _serve_and_answer(self, request: Forwarded) -> None:
        status, headers, body = await self._serve(request)
        try:
            await asyncio.to_thread(forwarded.answer, request.id, status, headers, body, wall_now())
            self.served += 1
        except Exception:
            # The next leader's take-over settles it (an event is run again; the rest LEADER_CHANGED).
            logger.exception("relay: the answer to %s %s could not be stored", request.method, request.path)

    def _listen(self) -> Any:
        if self._listener is None:
            import psycopg2  # only on PostgreSQL

            connection = psycopg2.connect(dbname=self.db.database, **self.db.connect_params)
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f"LISTEN {forwarded.CHANNEL}")
            self._listener = connection
        return self._listener

    def _close_listener(self) -> None:
        if self._listener is not None:
            close_quietly(self._listener, "relay: the listener")
            self._listener = None

    async def _serve(self, request: Forwarded) -> tuple[int, list[tuple[str, str]], bytes]:
        """The request through this node's application, as the follower received it (as of what had
        been sent then)."""
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "method": request.method, "scheme": "http", "path": request.path,
            "raw_path": request.path.encode(), "query_string": request.query.encode("latin-1"),
            "root_path": "",
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in request.headers],
            "client": (request.client, 0), "server": ("ilertd-relay", 0), FORWARDED: True,
        }
        sent_body = False
        finished = asyncio.Event()
        status = 500
        headers: list[tuple[str, str]] = []
        parts: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": request.body, "more_body": False}
            await finished.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers.extend((k.decode("latin-1"), v.decode("latin-1"))
                               for k, v in message.get("headers", []))
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))
                if not message.get("more_body", False):
                    finished.set()

        try:
            # A reply it carries answers what had been sent when the follower took it.
            with served_as_received(request.last_sent_seq):
                await self.app(scope, receive, send)  # type: ignore[arg-type]
        except Exception:
            logger.exception("relay: %s %s for %s failed", request.method, request.path, request.client)
            return 500, [("content-type", "application/json")], (
                b'{"status":500,"code":"INTERNAL_ERROR","message":"an unexpected error; see the log"}')
        finally:
            finished.set()
        return status, headers, b"".join(parts)
