"""SMTP sessions kept open across one batch of e-mail pages: connect, TLS and login once for many.

Opening a session (TCP connect, EHLO, STARTTLS, AUTH) cost more than sending the page through
it; a burst of pages to many addresses paid it for each. A channel actor sends a batch of due
pages back to back, so the pages of one batch share a session per server, at most
`MAX_MESSAGES` each (Exchange's default limit per connection, the lowest common one), and the
batch's end closes them all: nothing is left open between batches to go stale. A session that
failed in any way is closed, never reused; the next page opens a fresh one. A server with a
lower limit (421) or that drops a reused session before a message's text has it again at once
on a fresh session, in the same batch.

Used from one channel actor's thread only: each actor has its own channel objects.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
from collections.abc import Callable, Iterator
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

        def opened() -> apprise_smtp.AppriseSMTPController:
            controller = apprise_smtp.AppriseSMTPController(
                host=host, port=port, secure_mode=secure_mode, user=user, password=password,
                verify_certificate=verify_certificate, socket_connect_timeout=connect_timeout,
            )
            return controller.__enter__()

        held = self._held.pop(key, None) or _Held(opened())
        session = _Session(held, opened)
        try:
            yield session
        except BaseException:
            _close(held)
            raise
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
    hid why (a mailbox refused, a message too large, a loop refused by ilertd's own listener).

    A session that sent before may have reached the server's limit per connection (421) or been
    dropped by it: the message goes once more on a fresh one, not 30 s later as a failed page."""

    def __init__(self, held: _Held, opened: Callable[[], apprise_smtp.AppriseSMTPController]) -> None:
        self._held = held
        self._opened = opened
        self.failed = False
        self.reason = ""

    def sendmail(self, from_addr: str, to_addrs: list[str], message: str, contact: str = "") -> bool:
        """Whether the server took the message for `contact` (for every address if none is
        named). A refused cc or bcc (an archive mailbox) is logged: the contact got the page, and
        counting it failed sent the contact a copy at each retry."""
        ok, untaken = self._send(from_addr, to_addrs, message, contact)
        if not ok and untaken and self._held.sent:
            logger.info("SMTP session closed by the server after %d messages (%s): sending again on a"
                        " new one", self._held.sent, self.reason)
            _close(self._held)
            try:
                self._held.controller, self._held.sent = self._opened(), 0
            except apprise_smtp.SMTP_EXCEPTIONS as error:
                self.reason = _said(error)
            else:
                ok, _ = self._send(from_addr, to_addrs, message, contact)
        self._held.sent += 1
        self.failed = self.failed or not ok
        return ok

    def _send(self, from_addr: str, to_addrs: list[str], message: str, contact: str) -> tuple[bool, bool]:
        """(Whether it went, whether the server surely did not take it: a 421, or the connection
        gone before the message's text was sent.)"""
        self.reason = ""
        # The controller's open connection: apprise's own sendmail catches what it raises.
        connection = getattr(self._held.controller, "_socket", None)
        if connection is None:
            return bool(self._held.controller.sendmail(from_addr, to_addrs, message)), False
        text_sent = False
        send_text = connection.data

        def data(text: Any) -> Any:
            nonlocal text_sent
            text_sent = True
            return send_text(text)

        connection.data = data
        untaken = False
        try:
            # The recipients refused while others were taken (none: all went through).
            refused = connection.sendmail(from_addr, to_addrs, message)
        except apprise_smtp.SMTP_EXCEPTIONS as error:
            self.reason = _said(error)
            untaken = _closing(error) or (isinstance(error, smtplib.SMTPServerDisconnected) and not text_sent)
        else:
            if contact and refused and contact.lower() not in {a.lower() for a in refused}:
                logger.warning("e-mail to %s sent, but not to its other recipients: %s", contact,
                               _refusals(refused))
            else:
                self.reason = _refusals(refused)
        finally:
            del connection.data
        return not self.reason, untaken


def _closing(error: BaseException) -> bool:
    """The server's 421: it closes the connection, and took nothing of the message."""
    if getattr(error, "smtp_code", None) == 421:
        return True
    recipients = getattr(error, "recipients", None)
    return isinstance(recipients, dict) and any(code == 421 for code, _ in recipients.values())


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
