"""The daemon process's edges: its listening socket (and its host as a URL, loopback or not) and
the signals that stop it or make it show its threads."""

from __future__ import annotations

import logging
import signal
import socket
import threading
from types import FrameType

import pykka.debug

from ilertd.errors import StartError

logger = logging.getLogger("ilertd")


def host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def listening_socket(host: str, port: int) -> socket.socket:
    """A listening socket on `host` (IPv4 or IPv6) and `port` (0 picks one), or why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host.strip("[]"), port), family=family)
    except OSError as error:
        raise StartError(f"cannot listen on {host}:{port}: {error}") from None


def handle_signals(stop_requested: threading.Event) -> None:
    """SIGTERM and SIGINT ask for the stop (`wait_for_stop` sees it); SIGUSR1 logs every thread's stack."""

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("received %s", signal.Signals(signum).name)
        stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    # `kill -USR1` logs every thread's stack: how a deadlocked actor is found in production.
    signal.signal(signal.SIGUSR1, pykka.debug.log_thread_tracebacks)


# How often the main thread looks for a stop that a signal asked for.
STOP_POLL_S = 0.5


def wait_for_stop(stop_requested: threading.Event) -> None:
    """Until a signal (or the daemon itself) asks for the stop. A signal for the process goes to any
    of its threads, and Python runs its handler in the main thread only once that thread runs
    again: blocked in a wait without a timeout it never did, and SIGTERM went unheeded until
    systemd's SIGKILL."""
    while not stop_requested.wait(STOP_POLL_S):
        pass

