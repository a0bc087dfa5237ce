"""Serving HTTP: uvicorn on the daemon's listening socket, in a thread of its own, with our limits."""

from __future__ import annotations

import socket
import threading
from typing import Any

import uvicorn

from ilertd.config.settings import ServerConfig
from ilertd.errors import StartError
from ilertd.web.connections import ConnectionLimits, connection_bound, protocol_class, raise_open_files_limit


class HttpServer:
    def __init__(self, config: ServerConfig, listener: socket.socket) -> None:
        self.config = config
        self.listener = listener
        self.server: uvicorn.Server | None = None
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
        server = self.server = uvicorn.Server(uvicorn.Config(
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
            self.server.should_exit = True
            self.thread.join(15)
