"""Mail as ilertd reads it, pure: the subject as summary and alert key, the text of the body,
a resolve subject; shared by e-mail in and, later, e-mailed replies."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import parseaddr
from html.parser import HTMLParser
from typing import Any, cast

from ilertd.domain.events import MAX_DETAILS, MAX_SUMMARY, Event
from ilertd.domain.mail_subjects import DEFAULT_RESOLVE_PATTERN as DEFAULT_RESOLVE_PATTERN
from ilertd.domain.mail_subjects import NO_SUBJECT, subject_key, without_reply_markers
from ilertd.domain.mail_subjects import compile_resolve_pattern as compile_resolve_pattern
from ilertd.domain.replies import AUTO_REPLY_HEADERS, PAGE_HEADER
from ilertd.plugins.payloads import clip

_WHITESPACE = re.compile(r"\s+")
# C0 controls but tab and newline, and DEL: a NUL is refused by PostgreSQL text columns.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_BLANK_RUNS = re.compile(r"\n{3,}")
_INLINE_SPACE = re.compile(r"[ \t\f\v\u00a0]+")
_TRUNCATED = "\n\n[... {count} more characters not shown]"


class MalformedMail(ValueError):
    """The mail can never become an event, however often it is sent: answered 550."""


# --- the mail, parsed (pure) ---------------------------------------------------------------------


def clean_line(text: str) -> str:
    """One line of header text: no controls, no folding, spaces collapsed."""
    return _WHITESPACE.sub(" ", _CONTROL.sub(" ", text)).strip()


def _tidy(text: str) -> str:
    """A body as details: newlines normalised, controls gone, trailing spaces and blank runs cut."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", lines).strip()


def truncate_details(text: str, limit: int = MAX_DETAILS) -> str:
    """Details within `limit` characters, saying how much was cut rather than failing the event."""
    if len(text) <= limit:
        return text
    room = limit - len(_TRUNCATED.format(count=len(text)))
    return text[:room].rstrip() + _TRUNCATED.format(count=len(text) - room)


# Where mail clients put the message replied to in an HTML reply (only `> ` lines mark it in
# text): containers holding it, attribution and all (Gmail's, Thunderbird's attribution, Yahoo's)...
_QUOTE_CLASSES = frozenset({"gmail_quote", "moz-cite-prefix", "yahoo_quoted"})
# ...and Outlook's marks where it starts: all that follows them is the message replied to.
_THREAD_IDS = frozenset({"divrplyfwdmsg", "mail-editor-reference-message-container"})
_THREAD_CLASSES = frozenset({"outlookmessageheader"})
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{3,}\s*(?:original message|ursprüngliche nachricht|message d'origine|mensaje original"
    r"|messaggio originale|oorspronkelijk bericht)\s*-{3,}\s*$", re.IGNORECASE)
# Elements without an end tag: never counted as open.
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
                   "source", "track", "wbr"})


class _HtmlText(HTMLParser):
    """The readable text of an HTML body: blocks on their own lines, scripts and styles dropped;
    with `mark_quotes`, the message replied to (a `<blockquote>`, a client's quote container, all
    after Outlook's header of it) as `> ` lines, as a text reply quotes it."""

    SKIPPED = frozenset({"script", "style", "title", "noscript", "template"})
    BLOCKS = frozenset({"br", "p", "div", "tr", "li", "ul", "ol", "table", "hr", "pre", "blockquote",
                        "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "header", "footer",
                        "dt", "dd"})

    def __init__(self, mark_quotes: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.mark_quotes = mark_quotes
        # Each line's pieces of text and how deep in quotes its text is.
        self.lines: list[list[str]] = [[]]
        self.depths: list[int] = [0]
        self.skipping = 0
        self.open_tags: dict[str, int] = {}
        # The quoting elements open: their tag, and how many of that tag were open outside them.
        self.quotes: list[tuple[str, int]] = []
        self.rest_quoted = False

    def _depth(self) -> int:
        return max(len(self.quotes), 1 if self.rest_quoted else 0)

    def _new_line(self) -> None:
        self.lines.append([])
        self.depths.append(0)

    def _add(self, text: str) -> None:
        self.lines[-1].append(text)
        if text.strip():
            self.depths[-1] = max(self.depths[-1], self._depth())

    def _enter(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        outside = self.open_tags.get(tag, 0)
        self.open_tags[tag] = outside + 1
        classes = {name.lower() for key, value in attrs if key == "class" and value for name in value.split()}
        ids = {(value or "").lower() for key, value in attrs if key == "id"}
        if tag == "blockquote" or classes & _QUOTE_CLASSES:
            self.quotes.append((tag, outside))
        if ids & _THREAD_IDS or classes & _THREAD_CLASSES:
            self.rest_quoted = True

    def _leave(self, tag: str) -> None:
        if not self.open_tags.get(tag):
            return
        self.open_tags[tag] -= 1
        self.quotes = [(t, outside) for t, outside in self.quotes
                       if t != tag or outside < self.open_tags[tag]]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIPPED:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self._new_line()
        elif tag in ("td", "th"):
            self._add(" ")
        if self.mark_quotes and tag not in _VOID:
            self._enter(tag, attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BLOCKS:
            self._new_line()

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS:
            self._new_line()
        if self.mark_quotes:
            self._leave(tag)

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        for index, piece in enumerate(data.split("\n")):
            if index:
                self._new_line()
            if self.mark_quotes and _ORIGINAL_MESSAGE.match(piece):
                self.rest_quoted = True
            self._add(piece)


def html_to_text(html: str, mark_quotes: bool = False) -> str:
    """An HTML body as text; with `mark_quotes` (a reply), what it quotes as `> ` lines."""
    parser = _HtmlText(mark_quotes)
    parser.feed(html)
    parser.close()
    lines = []
    for pieces, depth in zip(parser.lines, parser.depths, strict=True):
        line = _INLINE_SPACE.sub(" ", "".join(pieces)).strip()
        lines.append("> " * depth + line if line else "")
    return _tidy("\n".join(lines))


def _part_text(part: Message) -> str:
    """A text part decoded by its charset; an unknown or lying charset falls back to UTF-8."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset)
    except (LookupError, UnicodeDecodeError):
        return payload.decode("utf-8", errors="replace")


def _body_text(message: EmailMessage, mark_quotes: bool = False) -> str:
    """The text/plain body (of a multipart: its plain part); without one, the HTML part as text
    (a reply's: with what it quotes as `> ` lines)."""
    plain = message.get_body(preferencelist=("plain",))
    text = _tidy(_part_text(plain)) if plain is not None else ""
    if not text:
        html = message.get_body(preferencelist=("html",))
        if html is not None:
            text = html_to_text(_part_text(html), mark_quotes)
    return text


def _header(message: EmailMessage, name: str) -> str | None:
    """A header's decoded text (RFC 2047 words, raw UTF-8); one the parser chokes on is decoded
    from its raw form instead of failing the mail."""
    try:
        value = message.get(name)
        return None if value is None else str(value)
    except Exception:  # the header parser has raised on crafted input (IndexError, ...)
        raw = next((v for k, v in message.raw_items() if k.lower() == name.lower()), None)
        if raw is None:
            return None
        try:
            return str(make_header(decode_header(raw)))
        except Exception:
            return raw


def _repair(text: str) -> str:
    """Bytes the parser could not decode are kept as surrogates: decode them as UTF-8."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


@dataclass(frozen=True)
class ParsedMail:
    """A mail as ilertd sees it: the event, and what is stored beside it."""

    event: Event
    subject: str
    sender: str
    message_id: str
    size: int = 0
    # The reference of the ilertd page this mail is (its PAGE_HEADER), or "" for any other mail.
    page_of_ilertd: str = ""

    def payload(self) -> dict[str, Any]:
        """What the store keeps with the event: headers, not the whole mail, nor the recipient
        address (it holds the integration key, which the Event API does not store either)."""
        return {"subject": self.subject, "from": self.sender, "messageId": self.message_id,
                "bytes": self.size}


@dataclass(frozen=True)
class RepliedMail:
    """A responder's reply to an e-mail page: who sent it, its subject (with the reply key), its text,
    and the Message-IDs it answers (In-Reply-To, then References: the page's own among them)."""

    sender: str
    subject: str
    text: str
    # The headers that mark a mail a program sent (AUTO_REPLY_HEADERS), and its content type.
    auto_reply_headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "text/plain"
    # In-Reply-To and References: the Message-ID of the page answered is among them.
    replied_to: str = ""


def parse_reply(raw: bytes) -> RepliedMail:
    """A mail read as a reply to a page; MalformedMail if it is empty."""
    if not raw.strip():
        raise MalformedMail("the message is empty")
    message = cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(raw))
    from_header = clean_line(_repair(_header(message, "from") or ""))
    marks = tuple((name, clean_line(_repair(str(value)))) for name, value in message.raw_items()
                  if name.strip().lower() in AUTO_REPLY_HEADERS)
    replied_to = " ".join(clean_line(_repair(_header(message, name) or ""))
                          for name in ("in-reply-to", "references"))
    return RepliedMail(parseaddr(from_header)[1], clean_line(_repair(_header(message, "subject") or "")),
                       _repair(_body_text(message, mark_quotes=True)), marks, message.get_content_type(),
                       replied_to)


def parse_mail(raw: bytes, resolve_pattern: re.Pattern[str] | None) -> ParsedMail:
    """The event a mail (RFC 5322 bytes) stands for; MalformedMail if it can never be one."""
    if not raw.strip():
        raise MalformedMail("the message is empty")
    # With the default policy the parser builds EmailMessage objects (get_body, decoded headers).
    message = cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(raw))
    subject = clean_line(_repair(_header(message, "subject") or ""))
    from_header = clean_line(_repair(_header(message, "from") or ""))
    sender = parseaddr(from_header)[1] or from_header
    message_id = clean_line(_repair(_header(message, "message-id") or ""))
    details = truncate_details(_repair(_body_text(message, mark_quotes=True))) or None

    custom: dict[str, str] = {}
    if sender:
        custom["from"] = sender
    if message_id:
        custom["messageId"] = message_id
    unmarked = without_reply_markers(subject)
    resolved = resolve_pattern.match(unmarked) if resolve_pattern else None
    if resolved is not None:
        event = Event(event_type="RESOLVE", alert_key=subject_key(unmarked[resolved.end():]),
                      summary=clip(subject, MAX_SUMMARY, trim=True), details=details, custom_details=custom)
    else:
        event = Event(event_type="ALERT", alert_key=subject_key(subject),
                      summary=clip(subject or NO_SUBJECT, MAX_SUMMARY, trim=True), details=details,
                      custom_details=custom)
    page = clean_line(_repair(_header(message, PAGE_HEADER) or ""))
    return ParsedMail(event, subject, sender, message_id, len(raw), page)
