"""E-mail, SMS and push through apprise URLs in which `{contact}` stands for the contact's target.

A page's reference (stable per outbox row) goes where a provider or a person can recognise a
copy sent again after a crash: an e-mail's `Message-ID: <reference@sender's domain>`, the
`Idempotency-Key` header of a `json://`, `form://` or `xml://` gateway's request. apprise's
other plugins (ntfy, Twilio SMS, ...) build their requests without a way to add a header: there
the reference is in the text only.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import apprise
import apprise.plugins.email.smtp as apprise_smtp
from apprise.common import NotifyFormat, NotifyType
from apprise.exception import AppriseException, AppriseImproperlyConfigured
from apprise.plugins.email import AppriseEmailException, NotifyEmail
from apprise.utils.parse import is_email

from ilertd.channels.base import DeliveryError, Message
from ilertd.channels.email_text import finish_email, message_id
from ilertd.channels.http_exchanges import READ_TIMEOUT_S, recorded
from ilertd.channels.ntfy import NTFY_SCHEMAS, PageNtfy, fit_ntfy
from ilertd.channels.pushover import PUSHOVER_SCHEMAS, fit_pushover
from ilertd.channels.smtp_sessions import SmtpSessions
from ilertd.config.values import STAND_IN_CONTACTS
from ilertd.domain.replies import PAGE_HEADER

logger = logging.getLogger(__name__)

CACHE_SIZE = 256
# Schemas that take extra JSON payload fields as `:name=value`: the page's reference rides there.
PAYLOAD_SCHEMAS = ("json://", "jsons://", "form://", "forms://")
# Schemas whose plugin sends its `headers` with the HTTP request: the reference is the idempotency key.
HEADER_SCHEMAS = (*PAYLOAD_SCHEMAS, "xml://", "xmls://")
EMAIL_SCHEMAS = ("mailto://", "mailtos://")
# The contact an e-mail plugin shared by every contact is made with, replaced at each send.
SHARED_CONTACT = "contact@ilertd.invalid"


class _ReusedTLSContext:
    """Stands in for the `ssl` module inside apprise's SMTP client.

    apprise builds a fresh default SSL context for every e-mail, which loads the system's CA
    store: about 28 ms of CPU with the interpreter lock held, capping e-mail near 35/s. When
    every configured e-mail URL keeps certificate checks on (so apprise never alters the
    context), the default context is built once and shared, which is safe for client
    connections. apprise sends from its own worker threads, so this is a process-wide setting.
    """

    def __init__(self) -> None:
        self.reuse = False
        self.refused = False
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None

    def allow_for(self, url_template: str) -> None:
        """Reuse only while no e-mail URL turns certificate checks off, whatever the order."""
        if not _verifies_certificates(url_template):
            self.refused = True
        self.reuse = not self.refused

    def __getattr__(self, name: str) -> Any:
        return getattr(ssl, name)

    def create_default_context(self, *args: Any, **kwargs: Any) -> ssl.SSLContext:
        if args or kwargs or not self.reuse:
            return ssl.create_default_context(*args, **kwargs)
        with self._lock:
            if self._context is None:
                self._context = ssl.create_default_context()
            return self._context


_TLS = _ReusedTLSContext()
if getattr(apprise_smtp, "ssl", None) is ssl:
    apprise_smtp.ssl = _TLS  # type: ignore[assignment]


class _SendLog(logging.Handler):
    """apprise's warnings of the send running on this thread, and only of that send.

    apprise logs why a send failed to its process-wide logger, and `apprise.LogCapture`
    captures that logger for every thread at once: with channel actors sending side by side, a
    failed page's error would carry other pages' lines. Each channel actor sends on its own
    thread (apprise runs in the caller's thread with `async_mode=False`), so lines are kept per
    thread.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        lines: list[str] | None = getattr(self._local, "lines", None)
        if lines is not None:
            lines.append(record.getMessage())

    @contextmanager
    def capture(self) -> Iterator[list[str]]:
        lines: list[str] = []
        self._local.lines = lines
        try:
            yield lines
        finally:
            self._local.lines = None


_SEND_LOG = _SendLog()
apprise.logger.addHandler(_SEND_LOG)


def _verifies_certificates(url: str) -> bool:
    query = url.partition("?")[2].lower()
    return not any(f"verify={off}" in query for off in ("no", "false", "0", "off"))


def render_url(template: str, target: str) -> str:
    """The apprise URL for one recipient: `{contact}` replaced by the target, URL-encoded."""
    return template.replace("{contact}", quote(target, safe=""))


def attach_reference(instance: apprise.Apprise, url: str, reference: str, key: str) -> None:
    """Put the page's reference where the service carries it, on the cached plugin itself.

    In the URL it would make every page's URL unique, and parsing a URL into a plugin costs
    more than sending through it.
    """
    for plugin in instance:
        headers = getattr(plugin, "headers", None)
        if url.startswith(EMAIL_SCHEMAS) and isinstance(headers, dict):
            # The Message-ID is the page's too (_PageEmail); this header names it plainly.
            headers["X-Ilertd-Notification"] = reference
            continue
        if url.startswith(PAYLOAD_SCHEMAS) and isinstance(getattr(plugin, "payload_extras", None), dict):
            plugin.payload_extras["reference"] = reference
        if url.startswith(HEADER_SCHEMAS) and isinstance(headers, dict):
            headers["Idempotency-Key"] = key


class _PageEmail(NotifyEmail):
    """apprise's e-mail plugin, sending the page's own text and, when it has one, its own HTML beside it.

    Stock apprise sends either text/plain or a multipart/alternative whose plain part it derives
    from the HTML, which joins the page's lines into one paragraph; it cannot take both texts.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # A Reply-To in the URL stays for the pages that bring none of their own.
        self.configured_reply_to = frozenset(self.reply_to)
        self.html = ""
        self.reference = ""
        self.configured_targets = list(self.targets)
        # The channel's, so that the pages of one batch share sessions (AppriseChannel sets it).
        self.sessions = SmtpSessions()

    def address(self, contact: str) -> None:
        """Send the next e-mail to `contact` where the URL it was made from had SHARED_CONTACT."""
        self.targets = [(False, contact) if target == (False, SHARED_CONTACT) else target
                        for target in self.configured_targets]

    def lay_out(self, message: Message) -> None:
        """Make the next send carry this page's HTML, Reply-To and Message-ID, and nothing of the
        previous page's."""
        self.html = message.html
        self.reference = message.idempotency_key
        self.reply_to = set(self.configured_reply_to)
        if message.reply_to:
            address = is_email(message.reply_to)
            # is_email also finds an address inside other text ("x\r\nBcc: y@z"): only a bare one will do.
            if address and not address["name"]:
                self.reply_to = {address["full_email"]}
            else:
                logger.warning("sending the page without its Reply-To %r: not an e-mail address",
                               message.reply_to)

    def send(self, body: str, title: str = "", notify_type: NotifyType = NotifyType.INFO,
             attach: Any = None, **kwargs: Any) -> bool:
        # NotifyEmail.send, with a step between building each e-mail and sending it; the body
        # arrives as given (notify() without a body_format converts nothing) and goes out as text.
        if not self.targets:
            self.logger.warning("There are no Email recipients to notify")
            return False
        self.throttle()
        has_error = False
        try:
            with self.sessions.session(
                self.smtp_host, self.port, self.secure_mode, self.user, self.password,
                self.verify_certificate, self.socket_connect_timeout,
            ) as smtp:
                # Automated mail (RFC 3834): out-of-office replies are not sent to it, and ilertd's
                # own listener knows it for a page, not an alert.
                headers = {"X-Application": self.app_id, **self.headers, **self._protocol_headers(body),
                           "Auto-Submitted": "auto-generated", PAGE_HEADER: self.reference or "ilertd"}
                for prepared in NotifyEmail.prepare_emails(
                    subject=title, body=body, notify_format=NotifyFormat.TEXT, from_addr=self.from_addr,
                    to=self.targets, cc=self.cc, bcc=self.bcc, reply_to=self.reply_to,
                    smtp_host=self.smtp_host, attach=attach, headers=headers, names=self.names,
                    pgp=self.pgp, pgp_mode=self.pgp_mode, inline=self.inline, tzinfo=self.tzinfo,
                ):
                    if self.is_delivered(prepared.recipient):
                        continue
                    identifier = message_id(self.reference, self.from_addr[1], self.smtp_host) \
                        if self.reference else ""
                    content = finish_email(prepared.body, identifier, body, self.html, subject=title)
                    # The page's own address must take it; a cc's or bcc's refusal is only logged.
                    if smtp.sendmail(self.from_addr[1], prepared.to_addrs, content, prepared.recipient):
                        self.logger.info("Sent Email to %s", prepared.recipient)
                        self.mark_delivered(prepared.recipient)
                    else:
                        self.logger.warning('Sending email to "%s" failed: %s', prepared.recipient,
                                            smtp.reason or "the server refused it")
                        has_error = True
        except AppriseEmailException:
            # prepare_emails has logged why.
            has_error = True
        except (OSError, smtplib.SMTPException, RuntimeError, AppriseImproperlyConfigured) as e:
            self.logger.warning('Connection error while submitting email to "%s": %s', self.smtp_host, e)
            has_error = True
        self.pgp.prune()
        return not has_error


def _page_plugin(url: str, asset: apprise.AppriseAsset) -> _PageEmail | PageNtfy | None:
    """The plugin for an e-mail or ntfy URL, whose pages are laid out for their medium."""
    kind = _PageEmail if url.startswith(EMAIL_SCHEMAS) else PageNtfy
    # What apprise.Apprise.instantiate does, with our class in place of apprise's own.
    settings = apprise.plugins.url_to_dict(url, secure_logging=asset.secure_logging)
    if not settings:
        return None
    try:
        return kind(**settings, asset=asset)
    except (TypeError, ValueError, AppriseException) as e:
        logger.warning("could not load the channel URL: %s", e)
        return None


class AppriseChannel:
    """One per channel actor: its cached plugins carry per-page state while they send."""

    def __init__(self, name: str, template: str, short_messages: bool = False, layout: str = "text") -> None:
        self.name = name
        self.template = template
        self.short_messages = short_messages
        # A push service shows the page's brief text: its buttons (or links) carry the rest.
        self.layout = layout
        # An Apprise object per URL is reused: building one costs more than a send.
        self._cache: OrderedDict[str, apprise.Apprise] = OrderedDict()
        # service_timeout 0: the send runs on this (the channel actor's) thread, not on apprise's shared
        # pool, so its log lines are its own and a slow provider holds up only this actor.
        self._asset = apprise.AppriseAsset(async_mode=False, service_timeout=0)
        self._sessions = SmtpSessions()
        self._batched = False
        query = template.partition("?")[2].split("&")
        self._one_plugin = (template.startswith(EMAIL_SCHEMAS) and template.count("{contact}") == 1
                            and "to={contact}" in query)
        self._shared_url = render_url(template, SHARED_CONTACT)
        self._own_read_timeout = "rto=" in template.partition("?")[2]
        if template.startswith(EMAIL_SCHEMAS):
            _TLS.allow_for(template)

    def warm(self) -> None:
        """Load apprise's plugin for this URL now: the first page after a start would wait ~0.2 s."""
        # A well-formed stand-in target, so apprise has nothing to warn about.
        target = STAND_IN_CONTACTS.get(self.name, STAND_IN_CONTACTS["push"])
        if not apprise.Apprise(asset=self._asset).add(render_url(self.template, target)):
            # The daemon starts anyway, so that the other channels page: this one's pages fail.
            logger.error("channel %s: apprise cannot read its URL: every page by it will fail until it"
                         " is fixed (`ilertd check-config` names the key)", self.name)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Sends inside share SMTP sessions, closed at the end; a send outside closes its own."""
        self._batched = True
        try:
            yield
        finally:
            self._batched = False
            self._sessions.close_all()

    def _apprise(self, url: str) -> apprise.Apprise:
        cached = self._cache.get(url)
        if cached is not None:
            self._cache.move_to_end(url)
            return cached
        instance = apprise.Apprise(asset=self._asset)
        # E-mail and ntfy through plugins of ours that lay each page out for its medium.
        service = _page_plugin(url, self._asset) if url.startswith(EMAIL_SCHEMAS + NTFY_SCHEMAS) else url
        if service is None or not instance.add(service):
            raise DeliveryError(f"the {self.name} channel URL is not a valid apprise URL")
        for plugin in instance:
            if isinstance(plugin, _PageEmail):
                plugin.sessions = self._sessions
            # apprise sleeps (on the wall clock) between two sends through one plugin; the
            # channel actor throttles per contact itself, and a sleep here would hold the actor
            # (two contacts sharing a team mailbox would each wait for the other).
            plugin.request_rate_per_sec = 0
            if not self._own_read_timeout:
                plugin.socket_read_timeout = READ_TIMEOUT_S
        self._cache[url] = instance
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return instance

    def _shares_plugin(self, target: str) -> bool:
        """Whether one e-mail plugin serves `target`: the URL names the contact only as its whole
        `to=`, and the target is a bare address, which apprise would take as it is. Parsing a URL
        into a plugin costs more than sending an e-mail, and a burst of pages goes to many."""
        if not self._one_plugin:
            return False
        found = is_email(target)
        return bool(found) and not found["name"] and found["full_email"] == target

    def send(self, target: str, message: Message) -> None:
        if self._shares_plugin(target):
            url = self._shared_url
            instance = self._apprise(url)
            for plugin in instance:
                if isinstance(plugin, _PageEmail):
                    plugin.address(target)
        else:
            url = render_url(self.template, target)
            instance = self._apprise(url)
        attach_reference(instance, url, message.reference, message.idempotency_key)
        for plugin in instance:
            if isinstance(plugin, _PageEmail | PageNtfy):
                plugin.lay_out(message)
        links = ""
        if self.short_messages:
            body = message.short
        elif self.layout == "push" and message.brief:
            body = message.brief
            if message.actions and not url.startswith(NTFY_SCHEMAS):
                # Without buttons (Pushover, Gotify, ...) the links are in the text.
                links = "".join(f"\n{action.label}: {action.url}" for action in message.actions)
        else:
            body = message.body
        title = message.title
        if url.startswith(NTFY_SCHEMAS):
            title, body = fit_ntfy(title, body)
        elif url.startswith(PUSHOVER_SCHEMAS):
            title, body = fit_pushover(title, body, links)
        else:
            body += links
        try:
            with _SEND_LOG.capture() as lines, recorded() as seen:
                result = instance.notify(title=title, body=body)
        finally:
            if not self._batched:
                self._sessions.close_all()
        if not result:
            detail = " ".join(" ".join(lines).split())[:300]
            reason = f": {detail}" if detail else ""
            if seen.timed_out:
                # Not "could not connect": the provider had the request, and may have sent the page.
                raise DeliveryError(f"{self.name} delivery to {target} timed out waiting for the provider's"
                                    f" answer (the provider may have taken it){reason}")
            raise DeliveryError(f"{self.name} delivery to {target} failed{reason}", seen.retry_after)
