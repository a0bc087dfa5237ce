"""A loopback JSON SMS gateway inside the benchmark process: records when each page arrived, and where.

ilertd's SMS channel is pointed at `json://127.0.0.1:PORT/sms/{contact}`, so each page is a POST
whose path carries the contact's number. The arrival time is taken on `time.monotonic()` of
this process, the same clock the event sender reads, so the two subtract without skew.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

PREFIX = "/sms/"


@dataclass(frozen=True)
class Page:
    at: float
    number: str
    reference: str


class SmsGateway:
    """A threaded HTTP server answering every POST with 200 `{}`; `pages` is what it received."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pages: list[Page] = []
        self.unexpected: list[str] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.1 lets a client keep its connection; apprise may or may not.
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:
                # Taken once the request line and headers are in: the page has reached the gateway.
                at = time.monotonic()
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                gateway.record(at, self.path, body)
                reply = b"{}"
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, name="sms-gateway", daemon=True)
        self.thread.start()

    def url(self) -> str:
        """The apprise URL for ilertd's `[channels.sms]`."""
        return f"json://127.0.0.1:{self.port}{PREFIX}{{contact}}"

    def record(self, at: float, raw_path: str, body: bytes) -> None:
        path = unquote(urlsplit(raw_path).path)
        if not path.startswith(PREFIX):
            with self._lock:
                self.unexpected.append(path)
            return
        try:
            reference = str(json.loads(body).get("reference", ""))
        except (ValueError, AttributeError):
            reference = ""
        with self._lock:
            self._pages.append(Page(at, path[len(PREFIX):], reference))

    @property
    def pages(self) -> list[Page]:
        with self._lock:
            return list(self._pages)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def __enter__(self) -> SmsGateway:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
