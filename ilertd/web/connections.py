"""HTTP connections: the uvicorn protocol that times out idle and slow clients and bounds how many are open.

Timeouts, one timer per connection (re-armed lazily, so a request costs a few attribute writes):

- header timeout: from the connection's opening (first request) or from the first byte of a later
  request until the request head is complete;
- body timeout: from the complete head until the complete body (not counted while the daemon
  itself stopped reading: a pipelined request waiting its turn, a body the handler has not taken);
- keep-alive timeout: from a response until the first byte of the next request (uvicorn's
  `timeout_keep_alive`, and here too, since stray bytes between requests cancel uvicorn's timer).

A connection timed out in the middle of a request, with nothing of a response sent yet, is answered
`408` with the API's envelope `{"status":408,"code":"REQUEST_TIMEOUT","message":...}` and
`connection: close`, then closed; the handler waiting for that body sees a disconnect. A connection
that sent no byte of a request (new, or between keep-alive requests), or whose previous response is
still being written, is closed without a word.

- send timeout: while a response cannot be written because the client does not read it (the
  socket's buffer full), `body_timeout` from the last time the client took any of it; then the
  connection is dropped (aborted: its unsent bytes would keep it open). Clients that never read
  their answers held connections for good, in the middle of a request, where the bound cannot
  evict them: at the bound intake was shut. One reading slowly (a large export over a slow
  link) reads on.

Bound: at most `max_connections` open. A connection arriving at the bound closes the connection
idle longest (one waiting for its first request or between keep-alive requests, never one in the
middle of a request), or, with none idle, the longest stalled one whose client has read none
of its answer since it was last looked at, to make room; only when there is neither is the new
one refused: closed at once, unread and unanswered (a 503 would cost a write per connection of
a flood, and the client sent no request to answer). So idle sockets, and clients that do not
read, cannot stop intake. Both are logged, summed, at most once a minute.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from ilertd.web.coalesced import CoalescedTransport

__all__ = [
    "RESERVED_FILES",
    "BoundedHttpProtocol",
    "ConnectionLimits",
    "connection_bound",
    "protocol_class",
    "raise_open_files_limit",
]

logger = logging.getLogger(__name__)

# Open files kept for everything but HTTP connections: the database, logs, SMTP, outbound sends.
RESERVED_FILES = 256
# Seconds between two log lines about connections closed or refused at the bound.
REPORT_INTERVAL = 60.0
# A timer may fire this much before its deadline (the loop's clock resolution) and still count.
_EARLY = 0.005

# Where a connection is: its deadline (if any) depends on it.
_NEW = 0  # open, no byte of a first request yet: idle, header deadline from the opening
_HEAD = 1  # a request head is arriving: header deadline
_BODY = 2  # head complete, body arriving: body deadline
_APP = 3  # request read, the handler answers: no deadline
_IDLE = 4  # response sent, waiting for the next request: keep-alive deadline
_CLOSED = 5  # closed (or handed to another protocol): no deadline, not counted


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int = 1000
    header_timeout: float = 10
    body_timeout: float = 60
    keepalive_timeout: float = 5


class _Pool:
    """What the connections of one server share: who is idle (oldest first), what was shed."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.idle: OrderedDict[BoundedHttpProtocol, None] = OrderedDict()
        # Connections whose answer waits for the client to read, longest waiting first.
        self.stalled: OrderedDict[BoundedHttpProtocol, None] = OrderedDict()
        self.evicted = 0
        self.refused = 0
        self.reported_at = float("-inf")
        self.head_408 = _error_answer(
            408, "REQUEST_TIMEOUT", f"the request head was not complete within {limits.header_timeout:g} s")
        self.body_408 = _error_answer(
            408, "REQUEST_TIMEOUT", f"the request body was not complete within {limits.body_timeout:g} s")

    def make_room(self) -> bool:
        """Close the connection idle longest; False (and count a refusal) when none is idle."""
        if self.idle:
            victim, _ = self.idle.popitem(last=False)
            victim.close_now()
            self.evicted += 1
            made = True
        elif (stalled := next((c for c in self.stalled if not c.reading()), None)) is not None:
            stalled.drop()
            self.evicted += 1
            made = True
        else:
            self.refused += 1
            made = False
        now = time.monotonic()
        if now - self.reported_at >= REPORT_INTERVAL:
            logger.warning(
                "HTTP connections at the bound of %d: %d idle (or not reading) closed to make room,"
                " %d new refused (none) since the last report",
                self.limits.max_connections, self.evicted, self.refused,
            )
            self.evicted = self.refused = 0
            self.reported_at = now
        return made


def _error_answer(status: int, code: str, message: str) -> bytes:
    """The headers (after the status line) and body of an error the HTTP layer answers itself,
    in the API's envelope; the connection closes after it."""
    reply = {"status": status, "code": code, "message": message}
    body = json.dumps(reply, separators=(",", ":")).encode()
    return (
        b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
        % (len(body), body)
    )


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus the deadlines and the bound; see the module docstring.

    Not used as is: `protocol_class` makes a subclass bound to the limits and to one shared pool.
    """

    pool: ClassVar[_Pool]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = self.pool.limits
        self._idle = self.pool.idle
        self._header_timeout = limits.header_timeout
        self._body_timeout = limits.body_timeout
        self._keepalive_timeout = limits.keepalive_timeout
        self._phase = _NEW
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._stalled_until = 0.0
        self._unsent = 0

    # --- the connection's life ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A response's head and body reach the socket in one write (see ilertd.web.coalesced).
        self.transport = CoalescedTransport(transport, self.loop)  # type: ignore[assignment]
        if len(self.connections) > self.pool.limits.max_connections and not self.pool.make_room():
            self.close_now()
            return
        self._deadline = self.loop.time() + self._header_timeout
        self._arm(self._deadline)
        self._idle[self] = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        self._forget()
        super().handle_websocket_upgrade()

    def send_400_response(self, msg: str) -> None:
        """A request the parser could not read (a broken head, a Transfer-Encoding it cannot
        frame): uvicorn answers in plain text; the API's contract is its JSON envelope."""
        self._forget()
        self.transport.write(b"HTTP/1.1 400 Bad Request\r\n" + _error_answer(
            400, "BAD_REQUEST", "the request could not be read as HTTP/1.1"))
        self.transport.close()

    def close_now(self) -> None:
        """Close without a word (idle, evicted, refused); no longer counted against the bound."""
        self._forget()
        self.connections.discard(self)
        self.transport.close()

    def drop(self) -> None:
        """Abort a connection whose client does not read: closing would wait for its unsent bytes."""
        self._forget()
        self.connections.discard(self)
        self.transport.abort()

    def pause_writing(self) -> None:
        HttpToolsProtocol.pause_writing(self)
        if self._phase != _CLOSED:
            self._stalled_until = deadline = self.loop.time() + self._body_timeout
            self._unsent = self.transport.get_write_buffer_size()
            self.pool.stalled[self] = None
            self._arm(deadline)

    def reading(self) -> bool:
        """Whether the client took some of its answer since this was last asked (or the stall
        began): while it does, its deadline moves on."""
        unsent = self.transport.get_write_buffer_size()
        took = unsent < self._unsent
        self._unsent = unsent
        if took:
            self._stalled_until = self.loop.time() + self._body_timeout
        return took

    def resume_writing(self) -> None:
        HttpToolsProtocol.resume_writing(self)
        self.pool.stalled.pop(self, None)

    def _forget(self) -> None:
        self._phase = _CLOSED
        self._idle.pop(self, None)
        self.pool.stalled.pop(self, None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # --- phases, from the parser's callbacks (the hot path: keep them small) -----------------

    # The base class is called directly, not through super(): these run several times a request.

    def on_message_begin(self) -> None:
        HttpToolsProtocol.on_message_begin(self)
        if self._phase != _NEW:
            # The first request's head is due `header_timeout` after the opening, not its first byte.
            self._deadline = deadline = self.loop.time() + self._header_timeout
            if self._timer is None or self._timer_at > deadline:
                self._arm(deadline)
        self._phase = _HEAD
        self._idle.pop(self, None)

    def on_headers_complete(self) -> None:
        HttpToolsProtocol.on_headers_complete(self)
        self._phase = _BODY
        self._deadline = deadline = self.loop.time() + self._body_timeout
        if self._timer is None or self._timer_at > deadline:
            self._arm(deadline)

    def on_message_complete(self) -> None:
        HttpToolsProtocol.on_message_complete(self)
        cycle = self.cycle
        if cycle is not None and cycle.response_complete and not self.pipeline:
            # Answered before the body was read (e.g. 413): uvicorn's keep-alive timer is gone.
            self._become_idle()
        else:
            self._phase = _APP

    def on_response_complete(self) -> None:
        waiting = not self.pipeline
        HttpToolsProtocol.on_response_complete(self)
        if waiting and self._phase == _APP and not self.transport.is_closing():
            self._become_idle()

    def _become_idle(self) -> None:
        self._phase = _IDLE
        self._deadline = deadline = self.loop.time() + self._keepalive_timeout
        if self._timer is None or self._timer_at > deadline:
            self._arm(deadline)
        self._idle[self] = None

    # --- the timer ---------------------------------------------------------------------------

    def _arm(self, deadline: float) -> None:
        """Make the timer fire at `deadline` or before; firing early only re-arms it."""
        timer = self._timer
        if timer is not None:
            if self._timer_at <= deadline:
                return
            timer.cancel()
        self._timer_at = deadline
        self._timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        phase = self._phase
        if phase == _CLOSED:
            return
        now = self.loop.time()
        if self.flow.write_paused:
            if now < self._stalled_until - _EARLY or self.reading():
                self._arm(self._stalled_until)
            else:
                logger.debug("HTTP connection from %s dropped: its answer unread for %g s", self.client,
                             self._body_timeout)
                self.drop()
            return
        if phase == _APP:
            return
        if phase == _BODY and self.flow.read_paused:
            # The daemon stopped reading (pipelining, a body not yet taken): not the client's delay.
            self._deadline = max(self._deadline, now + self._body_timeout)
        if now < self._deadline - _EARLY:
            self._arm(self._deadline)
            return
        self._time_out(phase)

    def _time_out(self, phase: int) -> None:
        cycle = self.cycle
        answer: bytes | None = None
        if phase == _HEAD and (cycle is None or cycle.response_complete):
            answer = self.pool.head_408
        elif phase == _BODY and not self.pipeline and cycle is not None and not cycle.response_started:
            answer = self.pool.body_408
            # The handler waiting for the body sees a disconnect; whatever it sends is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        if logger.isEnabledFor(logging.DEBUG):
            what = ("first request", "request head", "request body", "", "next request")[phase]
            logger.debug("HTTP connection from %s timed out waiting for the %s", self.client, what)
        if answer is not None and not self.transport.is_closing():
            head = [STATUS_LINE[408]]
            for name, value in self.server_state.default_headers:
                head.extend((name, b": ", value, b"\r\n"))
            head.append(answer)
            self.transport.write(b"".join(head))
        self.close_now()


def protocol_class(limits: ConnectionLimits) -> type[BoundedHttpProtocol]:
    """The class for `uvicorn.Config(http=...)`: its connections share one pool under `limits`."""
    return type("BoundedHttpProtocol", (BoundedHttpProtocol,), {"pool": _Pool(limits)})


# --- open files ---------------------------------------------------------------------------------


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard or soft == resource.RLIM_INFINITY:
        return soft
    # An unlimited hard limit (not on Linux) is refused as a soft one: aim at a generous number.
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as error:
        logger.warning("cannot raise the open-files limit from %d to %d: %s", soft, target, error)
        return soft
    return target


def connection_bound(configured: int, open_files: int) -> int:
    """`configured` max_connections, lowered to what `open_files` leaves room for (logged)."""
    if open_files == resource.RLIM_INFINITY:
        return configured
    # Half of what the reserve leaves: a request may open files of its own while it is served.
    fits = max(1, (open_files - RESERVED_FILES) // 2)
    if configured <= fits:
        return configured
    logger.warning(
        "server.max_connections lowered from %d to %d to fit the open-files limit of %d "
        "(raise LimitNOFILE / ulimit -n to allow more)",
        configured, fits, open_files,
    )
    return fits
