"""The coalesced transport: a response's parts written in one turn of the loop reach the socket as
one write, a large part at once, and what is held before a close."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from ilertd.web.coalesced import FLUSH_BYTES, CoalescedTransport


class CountedWrites:
    """A real socket transport, with the writes made on it counted."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


async def _connected() -> tuple[CoalescedTransport, CountedWrites, socket.socket]:
    ours, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
    counted = CountedWrites(transport)
    return CoalescedTransport(counted, loop), counted, theirs  # type: ignore[arg-type]


def _read_all(peer: socket.socket) -> bytes:
    with peer:
        chunks = []
        while chunk := peer.recv(1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)


def test_parts_written_in_one_turn_leave_as_one_write_in_order() -> None:
    async def scenario() -> tuple[list[bytes], bytes]:
        coalesced, counted, peer = await _connected()
        coalesced.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n")
        coalesced.write(b"{}")
        assert counted.writes == [] and coalesced.get_write_buffer_size() == 46
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        writes = list(counted.writes)
        coalesced.close()
        await asyncio.sleep(0.01)
        return writes, _read_all(peer)

    writes, received = asyncio.run(scenario())
    assert writes == [b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}"]
    assert received == writes[0]


def test_a_large_part_goes_at_once_and_close_sends_what_is_held_first() -> None:
    async def scenario() -> tuple[list[int], bytes]:
        coalesced, counted, peer = await _connected()
        coalesced.write(b"head;")
        coalesced.write(b"x" * FLUSH_BYTES)
        sizes_after_large = [len(w) for w in counted.writes]
        coalesced.write(b";tail")
        coalesced.write(b"")
        coalesced.close()
        reader = asyncio.get_running_loop().run_in_executor(None, _read_all, peer)
        received = await reader
        return sizes_after_large + [len(w) for w in counted.writes[1:]], received

    sizes, received = asyncio.run(scenario())
    assert sizes == [5 + FLUSH_BYTES, 5]
    assert received == b"head;" + b"x" * FLUSH_BYTES + b";tail"


def test_abort_drops_what_is_held() -> None:
    async def scenario() -> tuple[list[bytes], bytes]:
        coalesced, counted, peer = await _connected()
        coalesced.write(b"never sent")
        coalesced.abort()
        await asyncio.sleep(0.01)
        return counted.writes, _read_all(peer)

    assert asyncio.run(scenario()) == ([], b"")


def test_writelines_joins_its_parts_and_write_eof_sends_what_is_held_first() -> None:
    async def scenario() -> tuple[list[bytes], bytes]:
        coalesced, counted, peer = await _connected()
        coalesced.writelines([b"HTTP/1.1 200 OK\r\n", b"content-length: 3\r\n\r\n", b"end"])
        assert counted.writes == []
        coalesced.write_eof()
        reader = asyncio.get_running_loop().run_in_executor(None, _read_all, peer)
        received = await reader
        coalesced.close()
        return counted.writes, received

    writes, received = asyncio.run(scenario())
    assert writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nend"]
    assert received == writes[0]
