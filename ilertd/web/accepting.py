"""Accepting connections: every one waiting on the listening socket in one turn of the event loop.

uvloop (libuv, since "unix: don't accept() connections in a loop", 2022) accepts one connection
per turn of its loop. Under load a turn runs every ready request for up to a fifth of a second,
so 64 connections opened at once were accepted over 9-12 s, and the first request of each waited
that long. Here a reader on the listening socket accepts all that wait, and each is then served by
the loop exactly as one it had accepted itself (`connect_accepted_socket`).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable

logger = logging.getLogger(__name__)

# Out of file descriptors (or kernel memory): stop accepting for this long, as asyncio does.
RETRY_AFTER_S = 1.0
_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class AcceptingAll:
    """Serves one listening socket; `close()` stops accepting (uvicorn's server list calls it)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, listener: socket.socket,
                 protocol_factory: Callable[[], asyncio.Protocol], backlog: int) -> None:
        self.loop = loop
        self.listener = listener
        self.protocol_factory = protocol_factory
        self.pending: set[asyncio.Task[object]] = set()
        self._closed = False
        listener.setblocking(False)
        listener.listen(backlog)
        loop.add_reader(listener.fileno(), self.accept_waiting)

    def accept_waiting(self) -> int:
        """Accept every connection waiting now; how many were."""
        accepted = 0
        while not self._closed:
            try:
                connection, _address = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                break
            except ConnectionAbortedError:
                continue  # the client gave up before it was accepted
            except OSError as error:
                if error.errno in _RESOURCES:
                    logger.error("cannot accept connections for %.0f s: %s", RETRY_AFTER_S, error)
                    self.loop.remove_reader(self.listener.fileno())
                    self.loop.call_later(RETRY_AFTER_S, self._resume)
                    break
                raise
            accepted += 1
            self._serve(connection)
        return accepted

    def _serve(self, connection: socket.socket) -> None:
        connection.setblocking(False)
        if connection.family in (socket.AF_INET, socket.AF_INET6):
            # Small replies leave at once, as from a connection the loop accepted itself.
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        task = self.loop.create_task(self.loop.connect_accepted_socket(self.protocol_factory, connection))
        self.pending.add(task)
        task.add_done_callback(lambda done: self._served(done, connection))

    def _served(self, task: asyncio.Task[object], connection: socket.socket) -> None:
        self.pending.discard(task)
        failed = task.cancelled() or task.exception() is not None
        if failed:
            # Reset between accept() and its transport: nobody to answer.
            logger.debug("connection lost before it was served: %r", task)
            connection.close()

    def _resume(self) -> None:
        if not self._closed:
            self.loop.add_reader(self.listener.fileno(), self.accept_waiting)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.loop.remove_reader(self.listener.fileno())

    async def wait_closed(self) -> None:
        """Nothing is left to wait for once accepting stops (uvicorn waits on its servers' connections)."""
