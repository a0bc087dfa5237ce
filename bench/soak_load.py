"""The soak section's load: events at a steady rate, each with an alert key of its own, alternately to
two nodes; an event not acknowledged (202) after a connection error or a 5xx goes to the other node
with the same key, until one acknowledges it or the run gives up on it.

Each event has a fresh connection: a node may be killed between two events, and a kept-alive socket
to it would only fail the next event for a reason of the benchmark's own.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

EVENTS_PATH = "/api/events"
# A follower holds an event up to 3 s while nobody leads, and waits up to 30 s for a leader that
# claimed one: an answer later than this is not coming.
REQUEST_TIMEOUT_S = 45.0
# Between two tries of one event: both nodes may be unreachable for a moment (one killed, the
# other restarting), and a tight loop would only burn the CPU the nodes need.
RETRY_PAUSE_S = 0.05
# Events waiting for an answer at once: a takeover holds every event for about 3 s.
WORKERS = 256


@dataclass(frozen=True)
class Ack:
    """An acknowledged event: which node answered 202, with what, and when (monotonic seconds)."""

    node: int
    response_code: str
    incident_id: int | None
    scheduled_at: float
    acked_at: float
    tries: int


@dataclass
class SenderCounts:
    offered: int = 0
    acks: dict[str, Ack] = field(default_factory=dict)
    # Keys given up on: never acknowledged (the run ended first), and refused with a 4xx.
    unacknowledged: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    retries: int = 0
    # Why a try did not count: "503 NOT_LEADER", "ConnectionRefusedError", ...
    failures: Counter[str] = field(default_factory=Counter)
    response_codes: Counter[str] = field(default_factory=Counter)
    first_at: float = 0.0
    last_scheduled_at: float = 0.0


def _post(url: str, body: bytes) -> tuple[int, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port,
                                            timeout=REQUEST_TIMEOUT_S)
    try:
        connection.request("POST", EVENTS_PATH, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _code(reply: bytes) -> tuple[str, int | None]:
    """(responseCode or error code, incidentId) of a JSON answer."""
    try:
        document = json.loads(reply)
    except ValueError:
        return "not JSON", None
    if not isinstance(document, dict):
        return "not an object", None
    code = document.get("responseCode") or document.get("code") or "?"
    incident = document.get("incidentId")
    return str(code), incident if isinstance(incident, int) else None


class EventSender:
    """Event n goes first to node n mod len(urls), then round the nodes until a 202."""

    def __init__(self, urls: Sequence[str], event_of: Callable[[int], tuple[str, bytes]],
                 rate: float) -> None:
        self.urls = list(urls)
        self.event_of = event_of
        self.rate = rate
        self.counts = SenderCounts()
        self._lock = threading.Lock()
        self._stop_sending = threading.Event()
        self._give_up = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="soak-event")
        self._scheduler = threading.Thread(target=self._schedule, name="soak-scheduler", daemon=True)

    def start(self) -> EventSender:
        self.counts.first_at = time.monotonic()
        self._scheduler.start()
        return self

    def stop_sending(self) -> None:
        """No new events; those under way go on."""
        self._stop_sending.set()
        self._scheduler.join()

    def finish(self, grace_s: float) -> float:
        """Wait up to `grace_s` for the events under way, then give up on the rest; the wait."""
        began = time.monotonic()
        self.stop_sending()
        deadline = began + grace_s
        while time.monotonic() < deadline and self.in_flight():
            time.sleep(0.05)
        self._give_up.set()
        self._pool.shutdown(wait=True)
        return time.monotonic() - began

    def in_flight(self) -> int:
        with self._lock:
            done = len(self.counts.acks) + len(self.counts.unacknowledged) + len(self.counts.refused)
            return self.counts.offered - done

    def _schedule(self) -> None:
        started = self.counts.first_at
        number = 0
        while True:
            due = started + number / self.rate
            if self._stop_sending.wait(max(0.0, due - time.monotonic())):
                return
            with self._lock:
                self.counts.offered += 1
                self.counts.last_scheduled_at = due
            self._pool.submit(self._deliver, number, due)
            number += 1

    def _deliver(self, number: int, scheduled_at: float) -> None:
        key, body = self.event_of(number)
        node = number % len(self.urls)
        tries = 0
        while True:
            tries += 1
            try:
                status, reply = _post(self.urls[node], body)
            except (OSError, http.client.HTTPException) as error:
                failure = type(error).__name__
            else:
                code, incident = _code(reply)
                if status == 202:
                    with self._lock:
                        acked = Ack(node, code, incident, scheduled_at, time.monotonic(), tries)
                        self.counts.acks[key] = acked
                        self.counts.response_codes[code] += 1
                    return
                if status < 500:
                    with self._lock:
                        self.counts.refused[key] = f"{status} {code}"
                        self.counts.failures[f"{status} {code}"] += 1
                    return
                failure = f"{status} {code}"
            with self._lock:
                self.counts.failures[failure] += 1
                if self._give_up.is_set():
                    self.counts.unacknowledged.append(key)
                    return
                self.counts.retries += 1
            node = (node + 1) % len(self.urls)
            time.sleep(RETRY_PAUSE_S)
