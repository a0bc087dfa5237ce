"""The `[smtp_in]` listener: aiosmtpd's Controller on a socket of its own, drained on stop."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from typing import TYPE_CHECKING, Any

from aiosmtpd.controller import Controller

if TYPE_CHECKING:
    from ilertd.plugins.smtp_in import MailHandler

# Its lines are the plugin's: one logger for everything `[smtp_in]` says.
logger = logging.getLogger("ilertd.plugins.smtp_in")

# How long `stop` waits for mails whose events are being committed before it cuts them off.
DRAIN_SECONDS = 15.0
READY_SECONDS = 10.0


class _BoundController(Controller):
    """aiosmtpd's Controller serving a socket already bound: a port in use fails at once with
    the system's reason, not after aiosmtpd's ready timeout."""

    def __init__(self, handler: MailHandler, listener: socket.socket, **kwargs: Any) -> None:
        self.listener = listener
        host, port = listener.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, **kwargs)

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self.listener, ssl=self.ssl_context)


class MailListener:
    """aiosmtpd's Controller (a thread and event loop of its own) on host:port."""

    def __init__(self, handler: MailHandler, host: str, port: int, server_name: str,
                 max_message_bytes: int) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.server_name = server_name
        self.max_message_bytes = max_message_bytes
        self.controller: Controller | None = None
        # Set when `stop` starts refusing new connections (a test waits on it).
        self.draining = threading.Event()

    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            listener = socket.create_server((self.host.strip("[]"), self.port), family=family)
        except OSError as error:
            raise RuntimeError(f"[smtp_in] cannot listen on {self.host}:{self.port}: {error}") from None
        # The banner's name is given, so aiosmtpd does not look up the host's FQDN (a DNS query).
        controller = _BoundController(self.handler, listener, server_hostname=self.server_name,
                                      ident="ilertd", data_size_limit=self.max_message_bytes,
                                      ready_timeout=READY_SECONDS)
        try:
            controller.start()
        except Exception:
            if controller.loop.is_running():  # it listens but did not answer in time
                controller.stop(no_assert=True)
            elif not controller.loop.is_closed():
                controller.loop.close()
            listener.close()
            raise
        self.controller = controller

    def stop(self, drain_seconds: float = DRAIN_SECONDS) -> None:
        """Stop listening, let mails being committed get their reply, then end the thread."""
        controller, self.controller = self.controller, None
        if controller is None:
            return
        try:
            drain = self._drain(controller, drain_seconds)
            drained = asyncio.run_coroutine_threadsafe(drain, controller.loop)
            if not drained.result(drain_seconds + READY_SECONDS):
                logger.warning("smtp_in: mails were still being taken after %.0f s; their senders "
                               "get no reply and will retry", drain_seconds)
        except Exception:
            logger.exception("smtp_in: draining the listener failed")
        controller.stop()

    async def _drain(self, controller: Controller, timeout: float) -> bool:
        server = controller.server
        if server is not None:
            server.close()
        self.draining.set()
        return await self.handler.drain(timeout)
