"""How far sending had got when the request being served came in: what a reply in it may answer.

A follower queues a request for the leader, and while no node leads (a takeover) it waits there;
the next leader re-arms the pages that fell due meanwhile and sends them before it takes the
request in. A bare SMS "A" then meant "the latest page" as of a moment long gone: judged against
what had been sent since, it accepted an incident its sender had not been paged for yet. The
follower keeps the send order's mark with the request (the last `sent_seq` given: a page takes
its number as it is handed to its provider; see ilertd.store.forwarded), and the leader serves it
as of that mark, for every reply route, a third party's too: the replies read it from the context
of the request, not from an argument.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# None: the request is served as it came in (it came in now).
_LAST_SENT_SEQ: ContextVar[int | None] = ContextVar("ilertd_last_sent_seq", default=None)


@contextmanager
def served_as_received(last_sent_seq: int | None) -> Iterator[None]:
    """Serve a queued request (and the threads it hands work to, which copy its context) as of
    when it came in: the last message handed out then had `last_sent_seq` (None: not known)."""
    token = _LAST_SENT_SEQ.set(last_sent_seq)
    try:
        yield
    finally:
        _LAST_SENT_SEQ.reset(token)


def last_sent_seq() -> int | None:
    """The `sent_seq` of the last message handed out when the request being served came in; None
    when it is served as it came in, and everything sent so far was sent before it."""
    return _LAST_SENT_SEQ.get()
