"""SMTP sessions kept open across one batch of e-mail pages: connect, TLS and login once for many.

Opening a session (TCP connect, EHLO, STARTTLS, AUTH) cost more than sending the page through
it; a burst of pages to many addresses paid it for each. A channel actor sends a batch of due
pages back to back, so the pages of one batch share a session per server, at most
`MAX_MESSAGES` each (Exchange's default limit per connection, the lowest common one), and the
batch's end closes them all: nothing is left open between batches to go stale. A session that
failed in any way is closed, never reused; the next page opens a fresh one.

Used from one channel actor's thread only: each actor has its own channel objects.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import apprise.plugins.email.smtp as apprise_smtp

MAX_MESSAGES = 20


@dataclass
class _Held:
    controller: apprise_smtp.AppriseSMTPController
    sent: int = 0


class SmtpSessions:
    def __init__(self) -> None:
        self._held: dict[tuple[Any, ...], _Held] = {}

    @contextlib.contextmanager
    def session(self, host: str, port: int, secure_mode: str, user: str | None, password: str | None,
                verify_certificate: bool, connect_timeout: float) -> Iterator[_Session]:
        """An open session to the server: the batch's held one, or a new one (kept on success)."""
        key = (host, port, secure_mode, user, password, verify_certificate)
        held = self._held.pop(key, None)
        if held is None:
            controller = apprise_smtp.AppriseSMTPController(
                host=host, port=port, secure_mode=secure_mode, user=user, password=password,
                verify_certificate=verify_certificate, socket_connect_timeout=connect_timeout,
            )
            held = _Held(controller.__enter__())
        session = _Session(held.controller)
        try:
            yield session
        except BaseException:
            _close(held)
            raise
        held.sent += session.sent
        if session.failed or held.sent >= MAX_MESSAGES:
            _close(held)
        else:
            self._held[key] = held

    def close_all(self) -> None:
        held, self._held = list(self._held.values()), {}
        for one in held:
            _close(one)


class _Session:
    """The controller's `sendmail`, counting what went through and noting a failure."""

    def __init__(self, controller: apprise_smtp.AppriseSMTPController) -> None:
        self._controller = controller
        self.sent = 0
        self.failed = False

    def sendmail(self, from_addr: str, to_addrs: list[str], message: str) -> bool:
        ok = bool(self._controller.sendmail(from_addr, to_addrs, message))
        self.sent += 1
        self.failed = self.failed or not ok
        return ok


def _close(held: _Held) -> None:
    # QUIT; the controller suppresses the errors of a connection already gone.
    held.controller.__exit__(None, None, None)
