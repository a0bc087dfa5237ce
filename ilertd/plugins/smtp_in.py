"""Inbound e-mail as a built-in plugin: the `[smtp_in]` SMTP listener that turns a mail into an event.

A mail to `<integration key>@<smtp_in.domain>` becomes an event on the EMAIL alert source with
that key: subject → summary and alert key, text body → details. A mail to `reply@<smtp_in.domain>`
(the Reply-To of e-mail pages) is a responder's answer: its first word accepts, resolves or
escalates the incident its subject's reply key names. The listener is aiosmtpd on its
own thread and event loop; the reply to DATA waits for the event to be committed, so a 250 means
stored and anything else leaves the mail with the sending server, which retries a 4xx.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from starlette.concurrency import run_in_threadpool

from ilertd import hookimpl
from ilertd.app.replies import Answer
from ilertd.domain.events import Event
from ilertd.domain.mail_domains import domain_form
from ilertd.domain.replies import REPLY_MAILBOX, automatic_mail
from ilertd.domain.wording import quoted
from ilertd.errors import ApiError
from ilertd.hookspecs import ConfigOption, Outcome, PluginContext, SourceInfo
from ilertd.plugins.mail import (
    DEFAULT_RESOLVE_PATTERN,
    MalformedMail,
    clean_line,
    compile_resolve_pattern,
    parse_mail,
    parse_reply,
)

if TYPE_CHECKING:
    from aiosmtpd.smtp import SMTP, Envelope, Session

    from ilertd.plugins.mail_listener import MailListener

logger = logging.getLogger(__name__)

# What the incident log shows as the way in.
INTEGRATION = "email"
SOURCE_TYPE = "EMAIL"
NO_OPEN_INCIDENT = "NO_OPEN_INCIDENT_WITH_KEY"
DEFAULT_MAX_MESSAGE_BYTES = 10 * 1024 * 1024

# --- SMTP replies --------------------------------------------------------------------------------


def _reply_text(text: str) -> str:
    """A reply line is one line of ASCII within SMTP's 512 octets: the sending server puts it
    in its bounce."""
    line = clean_line(text).encode("ascii", "replace").decode("ascii")
    return line if len(line) <= 400 else line[:397] + "..."


def refusal(error: ApiError) -> str:
    """The SMTP reply for ingestion's refusal: temporary (the sender retries) unless retrying
    cannot help."""
    text = _reply_text(error.message)
    if error.status == 429:
        return f"451 4.7.1 {text}; try again later"
    if error.status == 404:
        return f"550 5.1.1 {text}"
    if error.status >= 500:
        return f"451 4.3.0 {text}; try again later"
    return f"550 5.6.0 the event was refused: {text}"


# --- the SMTP handler (runs on the listener's event loop) ----------------------------------------


class Intake(Protocol):
    """What the handler needs of the plugin's context: sources and ingestion."""

    async def source(self, integration_key: str) -> SourceInfo: ...

    async def ingest(self, source: str | SourceInfo, events: Sequence[Event], integration: str,
                     payload: Any) -> list[Outcome]: ...


def _wrong_type(source: SourceInfo) -> str:
    # No article before a type: "a API", "a EMAIL" read wrong, and which one fits is not the
    # type's first letter (an SMS, a SENTRY).
    return (f"550 5.7.1 this integration key belongs to alert source {_reply_text(quoted(source.name))},"
            f" of type {_reply_text(source.integration_type)}: mail is taken only by {SOURCE_TYPE}"
            " sources")


class MailHandler:
    """aiosmtpd's handler: RCPT checks the key, DATA commits the event before answering."""

    def __init__(self, intake: Intake, domain: str, resolve_pattern: re.Pattern[str] | None,
                 max_message_bytes: int,
                 reply: Callable[[str, str, str, str], Answer] | None = None) -> None:
        self.intake = intake
        # (sender, subject, text, the Message-IDs it replies to) of a mail to the reply mailbox →
        # what it did (blocking).
        self.reply = reply
        self.domain = domain_form(domain)
        self.resolve_pattern = resolve_pattern
        self.max_message_bytes = max_message_bytes
        # Set by `drain`: mails from now on are answered 451 (their sender retries later).
        self.closing = False
        self.in_flight = 0
        self._idle: asyncio.Event | None = None

    def key_of(self, address: str) -> str | None:
        """The integration key an address names at our domain, or None."""
        local, at, domain = address.rpartition("@")
        local = local.strip('"')
        if not at or not local or domain_form(domain) != self.domain:
            return None
        return local

    async def source_of(self, key: str) -> SourceInfo:
        try:
            return await self.intake.source(key)
        except ApiError as error:
            # Keys are lower-case hex; a mail client or relay may have changed the case.
            if error.status != 404 or key == key.lower():
                raise
            return await self.intake.source(key.lower())

    def is_reply_mailbox(self, address: str) -> bool:
        return self.reply is not None and (self.key_of(address) or "").lower() == REPLY_MAILBOX

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if self.is_reply_mailbox(address):
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
            return "250 2.1.5 OK"
        key = self.key_of(address)
        if key is None:
            return f"550 5.1.1 no such mailbox: this server takes mail for @{self.domain} only"
        try:
            source = await self.source_of(key)
        except ApiError as error:
            if error.status == 404:
                return "550 5.1.1 no such mailbox: no alert source has this integration key"
            return refusal(error)
        except Exception:
            logger.exception("smtp_in: looking up a recipient failed")
            return "451 4.3.0 the recipient cannot be checked now; try again later"
        if source.integration_type != SOURCE_TYPE:
            return _wrong_type(source)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.closing:
            return "451 4.3.2 ilertd is stopping; try again later"
        self.in_flight += 1
        if self._idle is not None:
            self._idle.clear()
        try:
            return await self.deliver(envelope)
        except Exception:
            logger.exception("smtp_in: a mail could not be taken")
            return "451 4.3.0 the mail could not be taken now; try again later"
        finally:
            self.in_flight -= 1
            if self.in_flight == 0 and self._idle is not None:
                self._idle.set()

    async def deliver(self, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        # aiosmtpd's data_size_limit refuses most; this holds for any size it let through.
        if len(raw) > self.max_message_bytes:
            return f"552 5.3.4 the message is larger than {self.max_message_bytes} bytes"
        recipients = list(dict.fromkeys(envelope.rcpt_tos))
        replied = ""
        if any(self.is_reply_mailbox(address) for address in recipients):
            replied = await self.answer_reply(bytes(raw), envelope.mail_from)
            recipients = [address for address in recipients if not self.is_reply_mailbox(address)]
            if not recipients or replied.startswith("451"):
                return replied
        try:
            mail = parse_mail(bytes(raw), self.resolve_pattern)
        except MalformedMail as error:
            return f"550 5.6.0 {_reply_text(str(error))}"
        except Exception as error:
            # The parsing is pure: the same bytes fail the same way on every retry.
            logger.warning("smtp_in: a mail from %s cannot be parsed: %s", envelope.mail_from, error)
            return f"550 5.6.0 the message cannot be taken as an alert: {_reply_text(str(error))}"
        if mail.page_of_ilertd:
            # One of ilertd's pages sent to an alert source's address (a contact or a list that
            # holds it): taken, it opens an incident that pages that address again, for ever.
            logger.warning("smtp_in: a page ilertd sent (%s) came to an alert source's address; refused,"
                           " it would page again without end: no contact should name that address",
                           mail.page_of_ilertd)
            return ("550 5.7.1 this is a page ilertd sent; taken as an alert it would page again"
                    " without end (a mail loop): no contact should name an alert source's address")
        done: list[str] = [replied] if replied else []
        for address in recipients:
            key = self.key_of(address)
            assert key is not None  # RCPT took only our own domain
            try:
                source = await self.source_of(key)
                if source.integration_type != SOURCE_TYPE:  # changed since RCPT
                    return _wrong_type(source)
                (outcome,) = await self.intake.ingest(source, [mail.event], INTEGRATION, mail.payload())
            except ApiError as error:
                logger.warning("smtp_in: mail %s refused: %s", mail.message_id or "(no id)", error.message)
                return refusal(error)
            if outcome.error is not None and outcome.error.code != NO_OPEN_INCIDENT:
                logger.warning("smtp_in: mail %s refused: %s", mail.message_id or "(no id)",
                               outcome.error.message)
                return refusal(outcome.error)
            if outcome.error is not None:
                # As the Event API: a resolve that matches nothing is done, not worth a retry.
                done.append(f"{source.name}: no open incident")
            else:
                done.append(f"{source.name}: incident {outcome.incident_id}")
            logger.info("smtp_in: %s from %s to %s, alert key \"%s\": %s", mail.event.event_type,
                        mail.sender or "(no sender)", source.name, mail.event.alert_key, done[-1])
        return _reply_text(f"250 2.0.0 {mail.event.event_type} taken ({'; '.join(done)})")

    async def answer_reply(self, raw: bytes, envelope_sender: str | None = None) -> str:
        """A responder's reply to a page, acted on; the SMTP answer says what it did (the sending
        server shows it only if it fails, so even a reply that changed nothing is taken). One a
        program sent (an out-of-office notice, a bounce) is taken and acts on nothing."""
        assert self.reply is not None
        try:
            mail = parse_reply(raw)
        except MalformedMail as error:
            return f"550 5.6.0 {_reply_text(str(error))}"
        except Exception as error:
            # As for an alert mail: the parsing is pure, so the same bytes fail the same way on
            # every retry, and a 451 had the sending server retry them for days.
            logger.warning("smtp_in: a reply cannot be parsed: %s", error)
            return f"550 5.6.0 the message cannot be read as a reply: {_reply_text(str(error))}"
        automatic = automatic_mail(mail.auto_reply_headers, mail.content_type, envelope_sender)
        if automatic is not None:
            # Taken, not refused: a refusal would bounce to an auto-responder, which may answer it.
            logger.info("smtp_in: an automatic reply from %s ignored (%s): it acts on nothing",
                        mail.sender or "(no sender)", automatic)
            return _reply_text(f"250 2.0.0 auto-reply ignored ({automatic}): nothing changed")
        answer = await run_in_threadpool(self.reply, mail.sender, mail.subject, mail.text, mail.replied_to)
        logger.info("smtp_in: reply from %s: %s", mail.sender or "(no sender)", answer.text)
        if answer.retry:
            # Its sender's server keeps it and tries again; a 250 would have dropped the reply unseen.
            return _reply_text(f"451 4.3.0 {answer.text}")
        return _reply_text(f"250 2.0.0 reply taken: {answer.text}")

    async def drain(self, timeout: float) -> bool:
        """Refuse new mails, wait for those being committed; False if some were still going."""
        self.closing = True
        if self.in_flight == 0:
            return True
        self._idle = asyncio.Event()
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True


# --- the hooks -----------------------------------------------------------------------------------

# The listener of each started context (one per daemon): shutdown gets the context startup got.
_listeners: dict[int, MailListener] = {}
_listeners_lock = threading.Lock()


def _pattern_problem(value: str) -> str | None:
    try:
        pattern = compile_resolve_pattern(value)
    except re.error as error:
        return f"is not a valid regular expression: {error}"
    if pattern is not None and pattern.match(""):
        return "matches an empty subject, so every mail would resolve"
    return None


def _positive(value: int) -> str | None:
    return None if value > 0 else f"must be greater than 0, got {value}"


@hookimpl
def plugin_config() -> list[ConfigOption]:
    return [
        ConfigOption("resolve_subject_pattern", str, DEFAULT_RESOLVE_PATTERN,
                     "a regular expression matched at the start of a subject: a match RESOLVEs the incident "
                     "keyed by the rest of the subject; empty: mails never resolve", _pattern_problem),
        ConfigOption("max_message_bytes", int, DEFAULT_MAX_MESSAGE_BYTES,
                     "largest mail taken, in bytes (larger: 552)", _positive),
    ]


@hookimpl
def startup(context: PluginContext) -> None:
    settings = context.settings.smtp_in
    if not settings.enabled:
        return
    if not settings.domain.strip():
        raise ValueError("[smtp_in] domain is empty: set it to the domain mail is addressed to "
                         "(<integration key>@<domain>)")
    max_bytes = int(context.config["max_message_bytes"])
    handler = MailHandler(context, settings.domain,
                          compile_resolve_pattern(str(context.config["resolve_subject_pattern"])), max_bytes,
                          reply=lambda *mail: context.replies.email(*mail))
    # aiosmtpd is imported only for a listener that runs: most daemons take no mail, and it
    # cost every start (and `ilertd plugins`, `check-config`) about 25 ms of import.
    from ilertd.plugins.mail_listener import MailListener

    listener = MailListener(handler, settings.host, settings.port, settings.domain, max_bytes)
    # aiosmtpd logs every connection and command at INFO; the plugin logs one line per mail.
    mail_log = logging.getLogger("mail.log")
    if mail_log.level == logging.NOTSET:
        mail_log.setLevel(logging.WARNING)
    listener.start()
    with _listeners_lock:
        _listeners[id(context)] = listener
    logger.info("smtp_in: taking mail for <integration key>@%s on %s:%s", settings.domain, settings.host,
                settings.port)


@hookimpl
def shutdown(context: PluginContext) -> None:
    with _listeners_lock:
        listener = _listeners.pop(id(context), None)
    if listener is not None:
        listener.stop()
        logger.info("smtp_in: stopped listening on %s:%s", listener.host, listener.port)
