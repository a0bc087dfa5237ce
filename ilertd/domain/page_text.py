"""The words of a page, laid out per medium: an SMS in one segment, an e-mail's text and HTML, push, voice."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from ilertd.domain.sms_text import fits_one_sms, smart_encoded

DETAILS_LIMIT = 1000
UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class PageFacts:
    """What a page says about its incident."""

    incident_id: int
    summary: str
    details: str
    priority: str
    status: str
    source_name: str
    link: str
    opened_at: datetime | None = None


@dataclass(frozen=True)
class PageAction:
    """A button of a page: POSTing to `url` takes `action` (a signed link, see link_tokens)."""

    label: str
    url: str


Actions = tuple[PageAction, ...]


class Answering:
    """How the reader of a page may answer it: an SMS reply code, signed action links, a reply
    e-mail (its subject then carries `reply_key`). The links may be given as a function: they are
    signed when first read, and a medium that shows no links never signs them."""

    __slots__ = ("_actions", "code", "reply_key")

    def __init__(self, code: int | None = None, actions: Actions | Callable[[], Actions] = (),
                 reply_key: str = "") -> None:
        self.code = code
        self._actions = actions
        self.reply_key = reply_key

    @property
    def actions(self) -> Actions:
        if callable(self._actions):
            self._actions = self._actions()
        return self._actions


NO_ANSWER = Answering()


# A part of a page's text: the text itself, or how to lay it out when it is first read.
Part = str | Callable[[], str]
_PARTS = ("body", "short", "spoken", "html", "brief")


class PageText:
    """The words of one page in each layout. A part given as a function is laid out when first
    read and kept: a medium reads only its own (the log channel only the title), and a storm of
    escalations lays out thousands of pages at once."""

    __slots__ = ("_actions", "_parts", "title")

    def __init__(self, title: str, body: Part, short: Part, spoken: Part, html: Part = "",
                 brief: Part = "", actions: Actions | Answering = ()) -> None:
        self.title = title
        # An Answering's links are signed only when read.
        self._actions = actions
        self._parts: dict[str, Part] = {"body": body, "short": short, "spoken": spoken, "html": html,
                                        "brief": brief}

    @property
    def actions(self) -> Actions:
        return self._actions.actions if isinstance(self._actions, Answering) else self._actions

    @property
    def reply_key(self) -> str:
        """The key an e-mailed reply to this page quotes in its subject; empty when it can be
        answered only by link, or not at all (a summary, a status update)."""
        return self._actions.reply_key if isinstance(self._actions, Answering) else ""

    def _part(self, name: str) -> str:
        part = self._parts[name]
        if isinstance(part, str):
            return part
        text = self._parts[name] = part()
        return text

    @property
    def body(self) -> str:
        """Plain text, one fact per line: an e-mail's text part."""
        return self._part("body")

    @property
    def short(self) -> str:
        """An SMS: one segment where it can."""
        return self._part("short")

    @property
    def spoken(self) -> str:
        return self._part("spoken")

    @property
    def html(self) -> str:
        """An e-mail's HTML part: the body's facts, with the actions as buttons."""
        return self._part("html")

    @property
    def brief(self) -> str:
        """A push notification's text: the body without what its buttons already offer."""
        return self._part("brief")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PageText):
            return NotImplemented
        return (self.title, self.actions, *(self._part(n) for n in _PARTS)) == (
            other.title, other.actions, *(other._part(n) for n in _PARTS))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PageText(title={self.title!r}, " + ", ".join(f"{n}={self._part(n)!r}" for n in _PARTS) + ")"


def incident_link(public_url: str, incident_id: int) -> str:
    """Where people look at an incident: its web UI page (`alertUrl`, the links of pages)."""
    return f"{public_url}/ui/incidents/{incident_id}"


def _clip(text: str, limit: int, ellipsis: str = "…") -> str:
    if limit <= 0:
        return ""
    return text if len(text) <= limit else text[: max(limit - len(ellipsis), 0)] + ellipsis


def local_time(instant: datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


def _fact_lines(facts: PageFacts, zone: ZoneInfo) -> list[tuple[str, str]]:
    lines = [("Summary", facts.summary), ("Source", facts.source_name), ("Priority", facts.priority),
             ("Status", facts.status)]
    if facts.opened_at is not None:
        lines.append(("Opened", local_time(facts.opened_at, zone)))
    lines.append(("Incident", facts.link))
    return lines


def _text_block(lines: list[tuple[str, str]]) -> str:
    return "".join(f"{name + ':':<10} {' '.join(value.split())}\n" for name, value in lines)


def _answer_text(answering: Answering) -> str:
    text = ""
    if answering.actions:
        text += "\n" + _text_block([(a.label, a.url) for a in answering.actions])
    if answering.reply_key:
        text += "\nOr reply to this e-mail with accept, resolve or escalate as its first word.\n"
    return text


def _html(heading: str, lines: list[tuple[str, str]], details: str, answering: Answering,
          footer: str) -> str:
    rows = "".join(
        f'<tr><th align="left" style="padding:2px 12px 2px 0">{escape(name)}</th>'
        f"<td>{_html_value(value)}</td></tr>\n" for name, value in lines)
    body = f"<h2>{escape(heading)}</h2>\n<table>\n{rows}</table>\n"
    if details:
        body += f"<h3>Details</h3>\n<pre style=\"white-space:pre-wrap\">{escape(details)}</pre>\n"
    if answering.actions:
        buttons = " ".join(
            f'<a href="{escape(a.url)}" style="display:inline-block;padding:8px 16px;margin:4px;'
            f'background:#1f6feb;color:#fff;text-decoration:none;border-radius:4px">{escape(a.label)}</a>'
            for a in answering.actions)
        body += f"<p>{buttons}</p>\n"
    if answering.reply_key:
        body += ("<p>Or reply to this e-mail with <b>accept</b>, <b>resolve</b> or <b>escalate</b>"
                 " as its first word.</p>\n")
    body += f'<p style="color:#666;font-size:small">{escape(footer)}</p>\n'
    return f"<!DOCTYPE html>\n<html><body>\n{body}</body></html>\n"


def _html_value(value: str) -> str:
    if value.startswith(("http://", "https://")):
        return f'<a href="{escape(value)}">{escape(value)}</a>'
    return escape(value)


def _sms(head: str, middle: str, tail: str) -> str:
    """`head`, `middle` and `tail` on their own lines (typographic marks plain), `middle` then
    `head` clipped so the whole fits one segment where it can (GSM-7 when every character is, else
    UCS-2); `head` keeps at least its first 30 characters."""
    head, middle = smart_encoded(head), smart_encoded(middle)

    def joined(first: str, second: str) -> str:
        return "\n".join(part for part in (first, second, tail) if part)

    if fits_one_sms(joined(head, middle)):
        return joined(head, middle)
    middle = _clip(middle, 24, "...")

    def fits(length: int) -> bool:
        return fits_one_sms(joined(_clip(head, length, "..."), middle))

    # The longest clip that fits, judged by its own characters: a character outside GSM-7 clipped
    # away leaves a GSM-7 text of 160. A longer clip never takes fewer units, so halving finds it.
    shortest, longest = 30, len(head)
    while shortest < longest:
        length = (shortest + longest + 1) // 2
        if fits(length):
            shortest = length
        else:
            longest = length - 1
    return joined(_clip(head, shortest, "..."), middle)


def _reply_hint(code: int | None) -> str:
    return f"Reply {code}a accept, {code}r resolve, {code}e escalate" if code is not None else ""


def alert_text(facts: PageFacts, reference: str, zone: ZoneInfo = UTC,
               answering: Answering = NO_ANSWER) -> PageText:
    title = f"[ilertd] #{facts.incident_id} {facts.priority}: {facts.summary}"
    if answering.reply_key:
        title += f" {answering.reply_key}"
    details = _clip(facts.details, DETAILS_LIMIT)

    def body() -> str:
        text = (f"Incident #{facts.incident_id}: {' '.join(facts.summary.split())}\n\n"
                + _text_block(_fact_lines(facts, zone)))
        if details:
            text += f"Details:\n{details}\n"
        return text + _answer_text(answering) + f"\nref {reference}\n"

    def short() -> str:
        return _sms(f"ilertd #{facts.incident_id} {facts.priority}: {' '.join(facts.summary.split())}",
                    f"from {facts.source_name}" if facts.source_name else "",
                    _reply_hint(answering.code) or facts.link)

    def brief() -> str:
        opened = f"\nOpened {local_time(facts.opened_at, zone)}" if facts.opened_at is not None else ""
        return (f"{facts.priority} from {facts.source_name}{opened}\n"
                + (f"{_clip(facts.details, 200)}\n" if facts.details else "") + facts.link)

    def spoken() -> str:
        return call_text(facts, 0, 1)

    def html() -> str:
        return _html(f"Incident #{facts.incident_id}: {facts.summary}", _fact_lines(facts, zone), details,
                     answering, f"ref {reference}")

    return PageText(title, body, short, spoken, html, brief, answering)


def update_text(facts: PageFacts, what: str, reference: str, zone: ZoneInfo = UTC) -> PageText:
    """A status update (accepted, resolved, escalated) to someone paged for the incident."""
    title = f"[ilertd] #{facts.incident_id} {what}: {facts.summary}"
    lines = _fact_lines(facts, zone)
    body = (f"Incident #{facts.incident_id} {what}: {' '.join(facts.summary.split())}\n\n"
            + _text_block(lines) + f"\nref {reference}\n")
    short = _sms(f"ilertd #{facts.incident_id} {what}: {' '.join(facts.summary.split())}", "", facts.link)
    html = _html(f"Incident #{facts.incident_id} {what}: {facts.summary}", lines, "", NO_ANSWER,
                 f"ref {reference}")
    return PageText(title, body, short, f"Incident {facts.incident_id} {what}.", html,
                    f"{facts.summary}\n{facts.link}")


def _counted(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def summary_text(pages: list[PageFacts], incidents_link: str, reference: str,
                 codes: dict[int, int] | None = None,
                 updates: Sequence[str | None] | None = None) -> PageText:
    """Pages (and status updates) that fell inside a contact's throttle window, sent as one
    message when it ends; with SMS reply `codes`, the SMS lists each paged incident's code.
    `updates`, beside `pages`: what each status update says happened ("accepted"), None for a
    page: an update is listed as one, never counted as a page."""
    said = list(updates) if updates is not None else [None] * len(pages)
    paged = [facts for facts, word in zip(pages, said, strict=True) if word is None]
    told = [(facts, word) for facts, word in zip(pages, said, strict=True) if word is not None]
    distinct = sorted({p.incident_id for p in paged})
    page_count = _counted(len(paged), "page", "pages")
    paged_for = f"{page_count} for {_counted(len(distinct), 'incident', 'incidents')}"
    update_count = _counted(len(told), "status update", "status updates")
    if not told:
        title, what = f"[ilertd] {paged_for}", page_count
    elif not paged:
        title, what = f"[ilertd] {update_count}", update_count
    else:
        title, what = f"[ilertd] {paged_for}, {update_count}", f"{page_count} and {update_count}"
    lines = [f"#{p.incident_id} {word or p.priority}: {' '.join(p.summary.split())}"
             for p, word in zip(pages[:20], said, strict=False)]
    more = f"\n… and {len(pages) - 20} more" if len(pages) > 20 else ""
    body = f"{what} came in while this contact was throttled:\n" + "\n".join(lines) + more
    body += f"\n\nOpen incidents: {incidents_link}\n\nref {reference}\n"
    updated = " ".join(f"#{p.incident_id} {word}" for p, word in told)
    short_what = what.replace(" and ", ", ")
    if codes and paged:
        first = paged[0]
        listed = " ".join([f"#{i}={codes[i]}" for i in distinct if i in codes] + [updated] * bool(updated))
        code = codes.get(first.incident_id, min(codes.values()))
        hint = _reply_hint(code).replace("Reply ", "Reply e.g. ")
        short = _sms(f"ilertd: {short_what}: {listed}", f"e.g. {' '.join(first.summary.split())}", hint)
    elif paged:
        first = paged[0]
        short = _sms(f"ilertd: {short_what}, {_counted(len(distinct), 'incident', 'incidents')}, e.g. "
                     f"#{first.incident_id} {' '.join(first.summary.split())}"
                     + (f"; {updated}" if updated else ""), "", incidents_link)
    else:
        short = _sms(f"ilertd: {short_what}: {updated}", "", incidents_link)
    spoken = f"This is ilertd. {f'{paged_for}. The first: {paged[0].summary}' if paged else what}."
    rows = "".join(f"<li>{escape(line)}</li>\n" for line in lines)
    html = (f"<!DOCTYPE html>\n<html><body>\n<h2>{escape(title[9:])}</h2>\n<ul>\n{rows}</ul>\n"
            f"<p>{_html_value(incidents_link)}</p>\n"
            f'<p style="color:#666;font-size:small">ref {escape(reference)}</p>\n</body></html>\n')
    return PageText(title, body, short, spoken, html, "\n".join(lines[:5]) + more + f"\n{incidents_link}")


def shift_text(schedule_name: str, start_local: str, end_local: str, link: str, reference: str) -> PageText:
    """A shift-start reminder: which schedule, from when until when in the schedule's own zone."""
    title = f"[ilertd] On call for {schedule_name} from {start_local}"
    lines = [("Schedule", schedule_name), ("From", start_local), ("Until", end_local), ("Shifts", link)]
    body = (f"You are on call for {schedule_name} from {start_local} until {end_local}.\n\n"
            + _text_block(lines) + f"\nref {reference}\n")
    short = _sms(f"ilertd: on call for {schedule_name} from {start_local} until {end_local}", "", link)
    html = _html(f"On call for {schedule_name}", lines, "", NO_ANSWER, f"ref {reference}")
    return PageText(title, body, short, f"You are on call for {schedule_name} from {start_local}.", html,
                    f"You are on call for {schedule_name} from {start_local} until {end_local}.\n{link}")


def test_text(method: str, target: str, link: str, reference: str) -> PageText:
    """A test page a user asked for: it reached them, by this method, at this contact."""
    title = f"[ilertd] Test notification ({method})"
    lines = [("Method", method), ("Contact", target), ("Profile", link)]
    body = ("This is a test notification from ilertd: pages reach you here.\n\n" + _text_block(lines)
            + f"\nref {reference}\n")
    short = _sms("ilertd test notification: pages reach you here.", "", "")
    html = _html("Test notification", lines, "", NO_ANSWER, f"ref {reference}")
    return PageText(title, body, short, "This is a test call from ilertd. Pages reach you here. Goodbye.",
                    html, "Pages reach you here.")


# A call connects seconds after it was placed, and reads the incident as it is then.
SINCE = {"ACCEPTED": " It has been accepted since.", "RESOLVED": " It has been resolved since."}


def call_text(facts: PageFacts, position: int, count: int) -> str:
    """What a call says of the incident at `position` (from 0) of the `count` it pages, before its
    menu (none for a resolved one): a summary call reads each in turn."""
    told = (f"Incident {facts.incident_id}, {facts.priority.lower()} priority, from {facts.source_name}: "
            f"{facts.summary}.{SINCE.get(facts.status, '')}")
    if count == 1:
        return f"This is ilertd. {told}"
    numbered = f"{position + 1} of {count}: {told}"
    return f"This is ilertd, with {count} incidents. {numbered}" if position == 0 else numbered


def voice_menu(more: bool = False) -> str:
    """The keys a call offers for an incident; with `more` incidents after it, 0 moves on."""
    skip = " 0 for the next incident," if more else ""
    return f"Press 4 to accept, 6 to resolve, 5 to escalate,{skip} or star to hear this again."
