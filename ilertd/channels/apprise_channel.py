"""E-mail, SMS and push through apprise URLs in which `{contact}` stands for the contact's target."""

from __future__ import annotations

import logging
import ssl
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import apprise
import apprise.plugins.email.smtp as apprise_smtp

from ilertd.channels.base import DeliveryError, Message

logger = logging.getLogger(__name__)

CACHE_SIZE = 256
# Schemas that take extra JSON payload fields as `:name=value`: the page's reference rides there.
PAYLOAD_SCHEMAS = ("json://", "jsons://", "form://", "forms://")
EMAIL_SCHEMAS = ("mailto://", "mailtos://")


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


def attach_reference(instance: apprise.Apprise, url: str, reference: str) -> None:
    """Put the page's reference where the service carries it, on the cached plugin itself.

    In the URL it would make every page's URL unique, and parsing a URL into a plugin costs
    more than sending through it.
    """
    for plugin in instance:
        if url.startswith(EMAIL_SCHEMAS) and isinstance(getattr(plugin, "headers", None), dict):
            # apprise sets its own Message-ID; a header of ours identifies the page across re-sends.
            plugin.headers["X-Ilertd-Notification"] = reference
        elif url.startswith(PAYLOAD_SCHEMAS) and isinstance(getattr(plugin, "payload_extras", None), dict):
            plugin.payload_extras["reference"] = reference


class AppriseChannel:
    """One per channel actor: its cached plugins carry per-page state while they send."""

    def __init__(self, name: str, template: str, short_messages: bool = False) -> None:
        self.name = name
        self.template = template
        self.short_messages = short_messages
        # An Apprise object per URL is reused: building one costs more than a send.
        self._cache: OrderedDict[str, apprise.Apprise] = OrderedDict()
        # service_timeout 0: the send runs on this (the channel actor's) thread, not on apprise's shared
        # pool, so its log lines are its own and a slow provider holds up only this actor.
        self._asset = apprise.AppriseAsset(async_mode=False, service_timeout=0)
        if template.startswith(EMAIL_SCHEMAS):
            _TLS.allow_for(template)

    def warm(self) -> None:
        """Load apprise's plugin for this URL now: the first page after a start would wait ~0.2 s."""
        # A well-formed stand-in target, so apprise has nothing to warn about.
        target = {"email": "warm-up@example.invalid", "sms": "+15550000000"}.get(self.name, "ilertd-warm-up")
        apprise.Apprise(asset=self._asset).add(render_url(self.template, target))

    def _apprise(self, url: str) -> apprise.Apprise:
        cached = self._cache.get(url)
        if cached is not None:
            self._cache.move_to_end(url)
            return cached
        instance = apprise.Apprise(asset=self._asset)
        if not instance.add(url):
            raise DeliveryError(f"the {self.name} channel URL is not a valid apprise URL")
        for plugin in instance:
            # apprise sleeps (on the wall clock) between two sends through one plugin; the
            # channel actor throttles per contact itself, and a sleep here would hold the actor
            # (two contacts sharing a team mailbox would each wait for the other).
            plugin.request_rate_per_sec = 0
        self._cache[url] = instance
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return instance

    def send(self, target: str, message: Message) -> None:
        url = render_url(self.template, target)
        instance = self._apprise(url)
        attach_reference(instance, url, message.reference)
        body = message.short if self.short_messages else message.body
        with _SEND_LOG.capture() as lines:
            result = instance.notify(title=message.title, body=body)
        if not result:
            detail = " ".join(" ".join(lines).split())[:300]
            reason = f": {detail}" if detail else ""
            raise DeliveryError(f"{self.name} delivery to {target} failed{reason}")
