"""Serving HTTP: uvicorn on the daemon's listening socket, in a thread of its own, with our limits."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from typing import Any

import uvicorn

from ilertd.config.settings import ServerConfig
from ilertd.errors import StartError
from ilertd.web.accepting import AcceptingAll
from ilertd.web.connections import ConnectionLimits, connection_bound, protocol_class, raise_open_files_limit


class _Server(uvicorn.Server):
    """uvicorn's server, woken by `exit_now` at once rather than at its next tick (a tenth of a
    second): a stop, and so every restart, takes that much less."""

    _loop: asyncio.AbstractEventLoop | None = None
    _wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's startup, with each listening socket served by `AcceptingAll` instead of the
        loop's own server (which accepts one connection per turn of the loop)."""
        await super().startup(sockets=[])
        config, loop = self.config, asyncio.get_running_loop()

        def protocol() -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state, _loop=loop)

        self.servers = [AcceptingAll(loop, listener, protocol, config.backlog)  # type: ignore[list-item]
                        for listener in sockets or []]

    def exit_now(self) -> None:
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: the server has gone already
                loop.call_soon_threadsafe(wake.set)


class HttpServer:
    def __init__(self, config: ServerConfig, listener: socket.socket) -> None:
        self.config = config
        self.listener = listener
        self.server: _Server | None = None
        self.thread: threading.Thread | None = None

    def start(self, app: Any) -> None:
        """Serve `app`; return once uvicorn is accepting connections (StartError if it cannot)."""
        config = self.config
        limits = ConnectionLimits(
            max_connections=connection_bound(config.max_connections, raise_open_files_limit()),
            header_timeout=config.header_timeout,
            body_timeout=config.body_timeout,
            keepalive_timeout=config.keepalive_timeout,
        )
        server = self.server = _Server(uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            http=protocol_class(limits),
            timeout_keep_alive=config.keepalive_timeout,
            workers=1,
            lifespan="off",
            access_log=False,
            log_config=None,
            server_header=False,
            timeout_graceful_shutdown=10,
        ))
        listener = self.listener
        # Off the main thread uvicorn installs no signal handlers: shutdown order stays the daemon's.
        self.thread = threading.Thread(target=lambda: server.run(sockets=[listener]), name="http",
                                       daemon=True)
        self.thread.start()
        while not server.started:
            if not self.thread.is_alive():
                raise StartError(f"HTTP could not listen on {config.host}:{config.port}")
            self.thread.join(0.02)

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.exit_now()
            self.thread.join(15)
