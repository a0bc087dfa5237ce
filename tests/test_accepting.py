"""Accepting connections: every connection waiting on the listening socket is accepted in one turn
of the event loop (uvloop alone takes one a turn), and each is served as the loop would serve it."""

from __future__ import annotations

import asyncio
import os
import resource
import socket
from collections.abc import Callable, Iterator

import pytest
import uvloop

from ilertd.web.accepting import AcceptingAll

WAITING = 30


class Echo(asyncio.Protocol):
    made: list[Echo] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        Echo.made.append(self)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data.upper())  # type: ignore[attr-defined]


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    Echo.made = []
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock


def connect(listener: socket.socket, count: int) -> list[socket.socket]:
    """Clients whose handshakes the kernel has completed: they wait in the listen queue."""
    clients = [socket.create_connection(listener.getsockname(), timeout=5) for _ in range(count)]
    for client in clients:
        client.setblocking(False)
    return clients


async def close_all(clients: list[socket.socket]) -> None:
    for served in Echo.made:
        served.transport.close()
    for client in clients:
        client.close()
    await turns(5)


async def turns(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


LOOPS = [uvloop.new_event_loop, asyncio.new_event_loop]


@pytest.mark.parametrize("new_loop", LOOPS, ids=["uvloop", "asyncio"])
def test_one_turn_accepts_every_waiting_connection_and_each_is_served(
        listener: socket.socket, new_loop: Callable[[], asyncio.AbstractEventLoop]) -> None:
    clients = connect(listener, WAITING)

    async def scenario() -> tuple[int, int, list[bytes]]:
        loop = asyncio.get_running_loop()
        accepting = AcceptingAll(loop, listener, Echo, backlog=128)
        try:
            accepted = accepting.accept_waiting()
            await turns(5)
            served = len(Echo.made)
            for index, client in enumerate(clients):
                await loop.sock_sendall(client, f"ping {index}".encode())
            replies = [await asyncio.wait_for(loop.sock_recv(client, 64), 5) for client in clients]
            return accepted, served, replies
        finally:
            accepting.close()
            await close_all(clients)

    loop = new_loop()
    try:
        accepted, served, replies = loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert accepted == WAITING and served == WAITING
    assert replies == [f"PING {index}".encode() for index in range(WAITING)]


def test_the_loop_calls_it_when_connections_wait_and_close_stops_accepting(listener: socket.socket) -> None:
    async def scenario() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        accepting = AcceptingAll(loop, listener, Echo, backlog=128)
        first = connect(listener, 3)
        for _ in range(200):
            if len(Echo.made) == 3:
                break
            await asyncio.sleep(0.005)
        before_close = len(Echo.made)
        accepting.close()
        later = connect(listener, 2)
        await asyncio.sleep(0.05)
        after_close = len(Echo.made)
        assert accepting.accept_waiting() == 0
        await close_all(first + later)
        return before_close, after_close

    loop = uvloop.new_event_loop()
    try:
        assert loop.run_until_complete(scenario()) == (3, 3)
    finally:
        loop.close()


def test_out_of_file_descriptors_it_stops_accepting_then_resumes(listener: socket.socket,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        accepting = AcceptingAll(loop, listener, Echo, backlog=128)
        clients = connect(listener, 2)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        lowest_free = os.dup(0)
        os.close(lowest_free)
        # No descriptor left above those open now: accept() fails with EMFILE, as it would.
        resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))
        try:
            refused = accepting.accept_waiting()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        accepting._resume()  # what the timer does RETRY_AFTER_S later
        for _ in range(200):
            if len(Echo.made) == 2:
                break
            await asyncio.sleep(0.005)
        accepting.close()
        await close_all(clients)
        return refused, len(Echo.made)

    loop = uvloop.new_event_loop()
    try:
        assert loop.run_until_complete(scenario()) == (0, 2)
    finally:
        loop.close()
    assert "cannot accept connections" in caplog.text
