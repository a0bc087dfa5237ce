"""The Python load generator: processes driving keep-alive HTTP/1.1 sockets, for when wrk is absent."""

from __future__ import annotations

import multiprocessing
import selectors
import socket
import time
from array import array
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bench.spec import LoadError, LoadResult, RequestSpec, percentile

# One Python process cannot keep up with a server on the other core, so the connections are
# split over two. Lists of keys come here even where wrk exists: wrk runs for a time, not a count.
PROCESSES = 2
START_DELAY_S = 0.3
# After the measured window, responses still in flight are awaited this long (and not counted
# in the rate), so the server never sees a reset in the middle of a commit; a spec's `timeout_s`
# replaces it.
DRAIN_S = 2.0
RECV_BYTES = 65536


def _drain_s(spec: RequestSpec) -> float:
    return DRAIN_S if spec.timeout_s is None else spec.timeout_s


def _parse_response(buffer: bytearray) -> tuple[int, int] | None:
    """(status, bytes used) of the first complete response in `buffer`, None if incomplete."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    length = 0
    chunked = False
    for line in head[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    position = end + 4
    if not chunked:
        return (status, position + length) if len(buffer) >= position + length else None
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        size = int(bytes(buffer[position:line_end]).split(b";")[0], 16)
        position = line_end + 2
        if size == 0:
            # No trailers are expected: the terminating empty line ends the response.
            return (status, position + 2) if len(buffer) >= position + 2 else None
        if len(buffer) < position + size + 2:
            return None
        position += size + 2


@dataclass
class _Connection:
    sock: socket.socket
    buffer: bytearray = field(default_factory=bytearray)
    sent_at: float = 0.0
    busy: bool = False


class _Requests:
    """The bytes of this worker's requests: one fixed request, or one per counter or key."""

    def __init__(self, spec: RequestSpec, host: str, port: int, worker: int, workers: int) -> None:
        self.spec = spec
        self.head = (f"POST {spec.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                     "Content-Type: application/json\r\nContent-Length: ")
        self.parts = spec.parts()
        self.worker = worker
        self.counter = 0
        self.keys = list(spec.keys[worker::workers])
        self.fixed = None if spec.distinct or spec.keys else self._frame(spec.body)

    def _frame(self, body: str) -> bytes:
        data = body.encode()
        return f"{self.head}{len(data)}\r\n\r\n".encode() + data

    def remaining(self) -> bool:
        return not self.spec.keys or self.counter < len(self.keys)

    def next(self) -> bytes:
        if self.fixed is not None:
            return self.fixed
        if self.spec.keys:
            token = self.keys[self.counter]
        else:
            token = f"{self.spec.prefix}-{self.worker}-{self.counter}"
        self.counter += 1
        return self._frame(token.join(self.parts))


def _drive(host: str, port: int, spec: RequestSpec, connections: int, worker: int, workers: int,
           start_at: float, seconds: float | None) -> dict[str, Any]:
    requests = _Requests(spec, host, port, worker, workers)
    selector = selectors.DefaultSelector()
    latencies = array("d")
    counts = {"requests": 0, "ok": 0, "non2xx": 0, "socket_errors": 0, "late_ok": 0}

    def connect() -> _Connection:
        sock = socket.create_connection((host, port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = _Connection(sock)
        selector.register(sock, selectors.EVENT_READ, connection)
        return connection

    def send(connection: _Connection) -> None:
        connection.sent_at = time.monotonic()
        connection.busy = True
        connection.sock.sendall(requests.next())

    pool = [connect() for _ in range(connections)]
    time.sleep(max(0.0, start_at - time.monotonic()))
    end_at = start_at + seconds if seconds is not None else float("inf")
    last_done = start_at
    for connection in pool:
        if requests.remaining():
            send(connection)
    while True:
        now = time.monotonic()
        running = now < end_at and requests.remaining()
        in_flight = sum(1 for c in pool if c.busy)
        if not in_flight and (not running or not pool):
            break
        if now > end_at + _drain_s(spec):
            break
        for key, _ in selector.select(timeout=0.1):
            connection: _Connection = key.data
            try:
                data = connection.sock.recv(RECV_BYTES)
            except OSError:
                data = b""
            if not data:
                # The server closed the socket: what was in flight is lost; reconnect and go on.
                selector.unregister(connection.sock)
                connection.sock.close()
                pool.remove(connection)
                if connection.busy:
                    counts["socket_errors"] += 1
                if time.monotonic() < end_at and requests.remaining():
                    fresh = connect()
                    pool.append(fresh)
                    send(fresh)
                continue
            connection.buffer += data
            while connection.busy:
                parsed = _parse_response(connection.buffer)
                if parsed is None:
                    break
                status, used = parsed
                del connection.buffer[:used]
                connection.busy = False
                done = time.monotonic()
                success = 200 <= status < 400
                if done <= end_at:
                    counts["requests"] += 1
                    counts["ok" if success else "non2xx"] += 1
                    latencies.append((done - connection.sent_at) * 1000.0)
                    last_done = done
                elif success:
                    counts["late_ok"] += 1
                if done < end_at and requests.remaining():
                    send(connection)
    for connection in pool:
        counts["socket_errors"] += int(connection.busy)
        connection.sock.close()
    selector.close()
    elapsed = (seconds if seconds is not None else last_done - start_at) or 1e-9
    return {**counts, "elapsed": elapsed, "latencies": latencies.tobytes()}


def _worker(queue: Any, *args: Any) -> None:
    try:
        queue.put(_drive(*args))
    except BaseException as error:
        queue.put({"error": f"{type(error).__name__}: {error}"})


def run(base_url: str, spec: RequestSpec, connections: int, seconds: float | None) -> LoadResult:
    """Drive `connections` keep-alive sockets for `seconds` (or until `spec.keys` are all sent)."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    workers = 1 if connections == 1 else PROCESSES
    shares = [connections // workers + (1 if i < connections % workers else 0) for i in range(workers)]
    # fork: the children need nothing but this module, and start in milliseconds.
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    start_at = time.monotonic() + START_DELAY_S
    processes = [
        context.Process(target=_worker, args=(queue, host, port, spec, share, index, workers, start_at,
                                               seconds), daemon=True)
        for index, share in enumerate(shares)
    ]
    for process in processes:
        process.start()
    limit = (seconds or 300.0) + START_DELAY_S + _drain_s(spec) + 60.0
    reports = []
    try:
        for _ in processes:
            reports.append(queue.get(timeout=limit))
    finally:
        for process in processes:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
    failures = [r["error"] for r in reports if "error" in r]
    if failures:
        raise LoadError("python load generator failed: " + "; ".join(failures))
    latencies = array("d")
    for report in reports:
        part = array("d")
        part.frombytes(report["latencies"])
        latencies.extend(part)
    ordered = sorted(latencies)
    elapsed = max(r["elapsed"] for r in reports)
    total = sum(r["requests"] for r in reports)
    ok = sum(r["ok"] for r in reports)
    return LoadResult(
        generator="python",
        connections=connections,
        seconds=elapsed,
        requests=total,
        ok=ok + sum(r["late_ok"] for r in reports),
        rps=total / elapsed,
        ok_rps=ok / elapsed,
        p50_ms=percentile(ordered, 0.50),
        p99_ms=percentile(ordered, 0.99),
        non2xx=sum(r["non2xx"] for r in reports),
        socket_errors=sum(r["socket_errors"] for r in reports),
    )
