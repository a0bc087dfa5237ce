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
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import apprise.plugins.email.smtp as apprise_smtp

logger = logging.getLogger(__name__)

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
    """The controller's `sendmail`, counting what went through and noting a failure with the
    server's words: apprise logs them at debug level only, and "Sending email failed" alone
    hid why (a mailbox refused, a message too large, a loop refused by ilertd's own listener)."""

    def __init__(self, controller: apprise_smtp.AppriseSMTPController) -> None:
        self._controller = controller
        self.sent = 0
        self.failed = False
        self.reason = ""

    def sendmail(self, from_addr: str, to_addrs: list[str], message: str, contact: str = "") -> bool:
        """Whether the server took the message for `contact` (for every address if none is
        named). A refused cc or bcc (an archive mailbox) is logged: the contact got the page, and
        counting it failed sent the contact a copy at each retry."""
        self.reason = ""
        # The controller's open connection: apprise's own sendmail catches what it raises.
        connection = getattr(self._controller, "_socket", None)
        if connection is None:
            ok = bool(self._controller.sendmail(from_addr, to_addrs, message))
        else:
            try:
                # The recipients refused while others were taken (none: all went through).
                refused = connection.sendmail(from_addr, to_addrs, message)
            except apprise_smtp.SMTP_EXCEPTIONS as error:
                self.reason = _said(error)
            else:
                if contact and refused and contact.lower() not in {a.lower() for a in refused}:
                    logger.warning("e-mail to %s sent, but not to its other recipients: %s", contact,
                                   _refusals(refused))
                else:
                    self.reason = _refusals(refused)
            ok = not self.reason
        self.sent += 1
        self.failed = self.failed or not ok
        return ok


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _refusals(refused: dict[str, tuple[int, Any]]) -> str:
    return "; ".join(f"{address} refused: {code} {_text(text)}" for address, (code, text) in refused.items())


def _said(error: BaseException) -> str:
    """What an SMTP server answered (`550 5.7.1 ...`), or the error's own words."""
    code, text = getattr(error, "smtp_code", None), getattr(error, "smtp_error", None)
    if code is not None and text is not None:
        return f"{code} {_text(text)}"
    recipients = getattr(error, "recipients", None)  # SMTPRecipientsRefused: every one at RCPT
    if isinstance(recipients, dict) and recipients:
        return _refusals(recipients)
    return str(error) or type(error).__name__


def _close(held: _Held) -> None:
    # QUIT; the controller suppresses the errors of a connection already gone.
    held.controller.__exit__(None, None, None)
