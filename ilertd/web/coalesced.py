"""A transport that hands what a response writes to the socket in one send, not one per part.

uvicorn writes a response's head when the application starts it and its body when it sends it:
two `send()` system calls for every small JSON reply, each made holding the interpreter lock
(uvloop writes at once when the socket has room), and two segments for the client to read. On
the Event API at 64 connections those writes were a quarter of the daemon's interpreter time.
Writes made in one turn of the event loop are joined and sent at the end of that turn; a large
body (a streamed export) is sent as soon as the held bytes pass `FLUSH_BYTES`, so that uvloop's
write buffer and its flow control (pause_writing) still see it, and closing sends what is held
first.
"""

from __future__ import annotations

import asyncio
from typing import Any

# Held bytes past which a write goes out at once: a streamed response's chunk, not a reply's head.
FLUSH_BYTES = 64 * 1024


class CoalescedTransport:
    """Wraps one connection's transport; everything but writing and closing is passed through."""

    __slots__ = ("_held", "_held_bytes", "_loop", "_scheduled", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        self._held.append(bytes(data))
        self._held_bytes += len(data)
        if self._held_bytes >= FLUSH_BYTES:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush_scheduled)

    def writelines(self, parts: Any) -> None:
        for part in parts:
            self.write(part)

    def flush(self) -> None:
        """Send what is held now, as one write."""
        held = self._held
        if not held:
            return
        data = held[0] if len(held) == 1 else b"".join(held)
        self._held = []
        self._held_bytes = 0
        if not self.transport.is_closing():
            self.transport.write(data)

    def _flush_scheduled(self) -> None:
        self._scheduled = False
        self.flush()

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def write_eof(self) -> None:
        self.flush()
        self.transport.write_eof()

    def abort(self) -> None:
        self._held = []
        self._held_bytes = 0
        self.transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._held_bytes + self.transport.get_write_buffer_size()

    def __getattr__(self, name: str) -> Any:
        # is_closing, get_extra_info, pause_reading, resume_reading, set_write_buffer_limits, ...
        return getattr(self.transport, name)
