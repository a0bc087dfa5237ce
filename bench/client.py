"""Single HTTP requests for setup, readiness and checks (not for load: see `load`)."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit


def request(url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None,
            timeout: float = 10.0) -> tuple[int, bytes]:
    parts = urlsplit(url)
    data = None if body is None else json.dumps(body).encode()
    sent = dict(headers or {})
    if data is not None:
        sent["Content-Type"] = "application/json"
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target or "/", body=data, headers=sent)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def get_json(url: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, body = request(url, headers=headers)
    if status != 200:
        raise RuntimeError(f"GET {url}: {status} {body[:200]!r}")
    return json.loads(body)


def wait_for_status(url: str, status: int, timeout: float, method: str = "GET", body: Any = None,
                    interval: float = 0.005, alive: Callable[[], None] | None = None) -> float:
    """Retry until the answer has `status`; the monotonic time it came. Refused connections retry.

    `alive` is called between tries and raises if the server has died, to fail fast.
    """
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if alive is not None:
            alive()
        try:
            got, content = request(url, method, body, timeout=max(0.5, deadline - time.monotonic()))
        except OSError as error:
            last = f"{type(error).__name__}: {error}"
        else:
            if got == status:
                return time.monotonic()
            last = f"{got} {content[:200]!r}"
        time.sleep(interval)
    raise TimeoutError(f"{method} {url} did not answer {status} in {timeout:.0f} s (last: {last})")
