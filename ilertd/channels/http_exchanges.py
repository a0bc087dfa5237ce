"""What the HTTP requests of one apprise send met that apprise hides: a read timeout, a Retry-After.

apprise's HTTP plugins (json://, form://, xml://, ntfy, Twilio SMS, ...) send with `requests`
and log any failure to connect or read as "A Connection error occurred": a gateway that took
the page but answered late could not be told from one never reached. Each channel actor sends
on its own thread, so what `requests` met is kept per thread, only while a send records it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests

# How long an HTTP provider may take to answer once it has the request (apprise's default is
# 4 s): a gateway that takes the page and answers 200 after 5 s was counted failed, and sent the
# page again at each retry. A URL's own `rto=` keeps its value.
READ_TIMEOUT_S = 30.0


@dataclass
class Exchanges:
    """What the requests of one send met."""

    # A request went out and its answer did not come within the read timeout.
    timed_out: bool = False
    # The `Retry-After` of a 429 or 503 answer, as sent.
    retry_after: str | None = None


_local = threading.local()
_unrecorded_send = requests.Session.send


def _recording_send(session: requests.Session, request: requests.PreparedRequest,
                    **kwargs: Any) -> requests.Response:
    seen: Exchanges | None = getattr(_local, "seen", None)
    try:
        response = _unrecorded_send(session, request, **kwargs)
    except requests.exceptions.ReadTimeout:
        if seen is not None:
            seen.timed_out = True
        raise
    except requests.exceptions.ConnectionError as error:
        # A body read past the timeout comes as a ConnectionError around urllib3's ReadTimeoutError.
        if seen is not None and "Read timed out" in str(error):
            seen.timed_out = True
        raise
    if seen is not None and response.status_code in (429, 503) and "Retry-After" in response.headers:
        seen.retry_after = response.headers["Retry-After"]
    return response


if getattr(requests.Session.send, "__name__", "") != _recording_send.__name__:
    requests.Session.send = _recording_send  # type: ignore[method-assign]


@contextmanager
def recorded() -> Iterator[Exchanges]:
    """What the HTTP requests made on this thread inside meet."""
    seen = Exchanges()
    _local.seen = seen
    try:
        yield seen
    finally:
        _local.seen = None
