"""The paging measurements' events: their bodies, sent one at a time at a pace or all at once, timed."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

EVENTS_PATH = "/api/events"


def event_body(integration_key: str, alert_key: str, summary: str) -> bytes:
    return json.dumps({"integrationKey": integration_key, "eventType": "ALERT", "summary": summary,
                       "alertKey": alert_key}).encode()


def _connect(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    connection.connect()
    assert connection.sock is not None
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def _post(connection: http.client.HTTPConnection, body: bytes) -> int:
    # http.client sends a small body in the same write as the headers: one segment per event.
    connection.request("POST", EVENTS_PATH, body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    return response.status


@dataclass
class Fired:
    """When each event went out and its reply came back (monotonic seconds), and its status."""

    sent_at: list[float]
    replied_at: list[float]
    statuses: list[int]
    failures: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(1 for s in self.statuses if s == 202)


_NO_LOCK = contextlib.nullcontext()


def _post_timed(fired: Fired, i: int, connection: http.client.HTTPConnection, url: str, body: bytes,
                lock: Any) -> http.client.HTTPConnection:
    """Send event `i`, keeping its times; a failure is recorded and answered with a new connection."""
    fired.sent_at[i] = time.monotonic()
    try:
        fired.statuses[i] = _post(connection, body)
    except (OSError, http.client.HTTPException) as error:
        with lock:
            fired.failures.append(f"event {i}: {type(error).__name__}: {error}")
        connection.close()
        connection = _connect(url)
    fired.replied_at[i] = time.monotonic()
    return connection


def send_paced(url: str, bodies: Sequence[bytes], rate: float) -> Fired:
    """One event at a time on one keep-alive connection, the i-th sent no earlier than i/rate s in."""
    fired = Fired([0.0] * len(bodies), [0.0] * len(bodies), [0] * len(bodies))
    connection = _connect(url)
    try:
        began = time.monotonic()
        for i, body in enumerate(bodies):
            pause = began + i / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            connection = _post_timed(fired, i, connection, url, body, _NO_LOCK)
    finally:
        connection.close()
    return fired


def send_at_once(url: str, bodies: Sequence[bytes], connections: int) -> Fired:
    """Every event as fast as `connections` keep-alive connections allow, all opened beforehand.

    Threads in this process, not the load generator: the time of the very first request is
    the start of the measurement, and each request's times are kept.
    """
    fired = Fired([0.0] * len(bodies), [0.0] * len(bodies), [0] * len(bodies))
    queue = iter(range(len(bodies)))
    lock = threading.Lock()
    start = threading.Barrier(connections + 1)

    def work() -> None:
        try:
            connection = _connect(url)
        except OSError as error:
            with lock:
                fired.failures.append(f"connect: {type(error).__name__}: {error}")
            # Everyone waiting at the barrier is released with an error instead of hanging.
            start.abort()
            return
        try:
            start.wait()
            while True:
                with lock:
                    i = next(queue, None)
                if i is None:
                    return
                connection = _post_timed(fired, i, connection, url, bodies[i], lock)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, name=f"burst-{n}", daemon=True) for n in range(connections)]
    for thread in threads:
        thread.start()
    try:
        start.wait(timeout=30)
    finally:
        for thread in threads:
            thread.join(120)
    return fired
