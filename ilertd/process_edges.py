"""The daemon process's edges: its listening socket (and its host as a URL, loopback or not) and
the signals that stop it or make it show its threads."""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import threading
from types import FrameType

import pykka.debug

from ilertd.errors import StartError

logger = logging.getLogger("ilertd")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def listening_socket(host: str, port: int) -> socket.socket:
    """A listening socket on `host` (IPv4 or IPv6) and `port` (0 picks one), or why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host.strip("[]"), port), family=family)
    except OSError as error:
        raise StartError(f"cannot listen on {host}:{port}: {error}") from None


def install_signal_handlers(stop_requested: threading.Event) -> None:
    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("received %s", signal.Signals(signum).name)
        stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    # `kill -USR1` logs every thread's stack: how a deadlocked actor is found in production.
    signal.signal(signal.SIGUSR1, pykka.debug.log_thread_tracebacks)
