"""systemd integration: sd_notify (READY, WATCHDOG, STOPPING) and the watchdog loop."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping

logger = logging.getLogger(__name__)


class Notifier:
    """Sends sd_notify datagrams to `$NOTIFY_SOCKET`; does nothing when not run by systemd."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        # An abstract socket is written "@name" and addressed with a leading NUL byte.
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_usec = _positive_int(env.get("WATCHDOG_USEC"))
        watchdog_pid = _positive_int(env.get("WATCHDOG_PID"))
        if watchdog_pid is not None and watchdog_pid != os.getpid():
            self.watchdog_usec = None
        self._socket: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, state: str) -> None:
        if not self.address:
            return
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.sendto(state.encode(), self.address)
        except OSError as error:
            logger.warning("sd_notify %r failed: %s", state, error)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class Watchdog:
    """Pings systemd at half of `WATCHDOG_USEC`, but only while `healthy()` says the daemon works.

    If the supervisor wedges, the pings stop and systemd restarts the service: a hung daemon
    must not look alive.
    """

    def __init__(self, notifier: Notifier, healthy: Callable[[float], bool]) -> None:
        self.notifier = notifier
        self.healthy = healthy
        self.interval = (notifier.watchdog_usec or 0) / 2_000_000
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)

    def start(self) -> None:
        if self.interval > 0 and self.notifier.enabled:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                alive = self.healthy(self.interval)
            except Exception:
                logger.exception("watchdog health check failed")
                alive = False
            if alive:
                self.notifier.notify("WATCHDOG=1")
            else:
                logger.error("the supervisor did not answer; withholding the watchdog ping")
            self._stop.wait(self.interval)


def _positive_int(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    number = int(value)
    return number if number > 0 else None
