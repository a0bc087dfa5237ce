"""Real servers on loopback SMTP (aiosmtpd), HTTP (SMS gateway, ntfy, Twilio)."""

from __future__ import annotations

import asyncio
import base64
import email
import json
import logging
import socket
import threading
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

# aiosmtpd logs every connection at INFO from its own thread, also after the test that started it
# has ended and its log capture closed ("--- Logging error ---" on the suite's stderr); as the
# daemon's listener does (ilertd.plugins.smtp_in), the tests keep its warnings only.
logging.getLogger("mail.log").setLevel(logging.WARNING)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Inbox:
    def __init__(self, answer_after_s: float = 0.0) -> None:
        # A slow server: each message is answered this long after it arrived.
        self.answer_after_s = answer_after_s
        # Every message that arrived, answered or not (its sender may have died meanwhile).
        self.messages: list[Message] = []
        self.answered = 0
        # Messages arriving after this many are held unanswered, until it is None again.
        self.hold_after: int | None = None
        # The client address of each message's connection: messages of one session share it.
        self.peers: list[Any] = []
        # Recipients refused at RCPT with 550.
        self.refused: set[str] = set()
        # Messages a session may carry, as some servers limit them: MAIL past it is refused 421.
        self.per_session: int | None = None
        self._session_counts: dict[int, int] = {}
        self.lock = threading.Lock()

    async def handle_MAIL(self, _server: SMTP, session: Session, envelope: Envelope, address: str,
                          _options: list[str]) -> str:
        count = self._session_counts[id(session)] = self._session_counts.get(id(session), 0) + 1
        if self.per_session is not None and count > self.per_session:
            return "421 4.7.0 too many messages in this session"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, _server: SMTP, _session: Session, envelope: Envelope, address: str,
                          _options: list[str]) -> str:
        if address in self.refused:
            return "550 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        with self.lock:
            self.messages.append(email.message_from_bytes(content))
            self.peers.append(session.peer)
            arrived = len(self.messages)
        if self.answer_after_s:
            await asyncio.sleep(self.answer_after_s)
        while self.hold_after is not None and arrived > self.hold_after:
            await asyncio.sleep(0.01)
        with self.lock:
            self.answered += 1
        return "250 OK"


class SmtpServer:
    """aiosmtpd on a fixed loopback port, so it can go down and come back at the same address."""

    def __init__(self, answer_after_s: float = 0.0) -> None:
        self.port = free_port()
        self.inbox = _Inbox(answer_after_s)
        self.controller: Controller | None = None

    def start(self) -> SmtpServer:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[Message]:
        with self.inbox.lock:
            return list(self.inbox.messages)

    def hold_after(self, count: int | None) -> None:
        """Hold the messages arriving after the first `count` unanswered (their sender waits)
        until `hold_after(None)`."""
        self.inbox.hold_after = count

    @property
    def answered(self) -> int:
        """How many messages were answered 250 (of `messages`, those that arrived)."""
        with self.inbox.lock:
            return self.inbox.answered

    @property
    def peers(self) -> list[Any]:
        with self.inbox.lock:
            return list(self.inbox.peers)

    def url(self) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=ilertd@example.com&to={{contact}}&mode=insecure"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class HttpReceiver:
    """Records every request; answers Twilio's Calls API, everything else with 200 `{}`. A
    subclass's `answer` may give `(status, JSON value or bytes)` or `(status, body, headers)`."""

    twilio_sid: str = "ACtest"
    twilio_token: str = "twilio-secret"
    requests: list[Request] = field(default_factory=list)
    failing: bool = False

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                request = Request("POST", unquote(self.path), dict(self.headers), self.rfile.read(length))
                receiver.requests.append(request)
                status, reply, *headers = receiver.answer(request)
                # An answer may be bytes as they are (a proxy's HTML), and bring headers of its own.
                body = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
                try:
                    self.send_response(status)
                    for name, value in (headers[0] if headers else {}).items():
                        self.send_header(name, value)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # an answer held past the client's timeout: the client has gone

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        # A short poll: `close()` (shutdown) waits for the loop to notice, 0.5 s by default.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    def answer(self, request: Request) -> tuple[int, dict[str, Any]]:
        if self.failing:
            return 503, {"error": "unavailable"}
        if request.path.endswith("/Calls.json"):
            expected = base64.b64encode(f"{self.twilio_sid}:{self.twilio_token}".encode()).decode()
            if request.headers.get("Authorization") != f"Basic {expected}":
                return 401, {"code": 20003, "message": "Authenticate"}
            return 201, {"sid": f"CA{len(self.requests):032d}", "status": "queued"}
        return 200, {}

    def to(self, prefix: str) -> list[Request]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
