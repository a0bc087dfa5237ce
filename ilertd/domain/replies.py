"""What a responder's answer on a page means: the SMS grammar, the phone keys, an e-mail's first word."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Action = Literal["accept", "resolve", "escalate"]
ReplyKind = Literal["action", "stop", "start", "help"]

# The local part of the address e-mailed replies go to, at `[smtp_in] domain`; integration keys,
# the other local parts there, are hexadecimal.
REPLY_MAILBOX = "reply"
# Every e-mail ilertd sends carries this header (its value: the page's reference). A mail bearing
# it that comes to an EMAIL alert source is one of ilertd's own pages: taken as an alert, it would
# open an incident that pages the same address again, a loop without end.
PAGE_HEADER = "X-Ilertd-Page"
# At most this many help texts in a row to one number: a loop between two auto-responders
# (or a stuck phone) would otherwise cost an SMS each way for ever.
HELP_REPLIES_IN_A_ROW = 5
# A resolved incident keeps its reply code this long after its last SMS page or its resolution,
# whichever came later: a late "1r" meant for it then meets "already resolved", not a new
# incident that took its code (a flapping alert resolves and opens again within minutes).
CODE_REST = timedelta(hours=1)

_LETTERS: dict[str, Action] = {"a": "accept", "r": "resolve", "c": "resolve", "e": "escalate"}
_WORDS: dict[str, Action] = {
    "ack": "accept", "accept": "accept", "acknowledge": "accept",
    "resolve": "resolve", "close": "resolve",
    "escalate": "escalate",
}
# PagerDuty's SMS digits, which responders moving from it type by habit.
_DIGITS: dict[str, Action] = {"4": "accept", "6": "resolve"}
_ACTION_LETTERS: dict[Action, str] = {"accept": "a", "resolve": "r", "escalate": "e"}
# Twilio's own opt-out and opt-in keywords (it stops sending to the number too).
_STOP = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit"}
_START = {"start", "unstop", "yes"}
_QUOTES = "\"'`\u2018\u2019\u201c\u201d\u00ab\u00bb"
_CODE_ACTION = re.compile(r"(\d{1,4})\s*([arce])")
_WORD_ID = re.compile(r"([a-z]+)\s*#?\s*(\d{1,18})")


@dataclass(frozen=True)
class SmsReply:
    """An SMS answer: an action on the incident of a reply `code`, of an `incident_id`, or (neither)
    of the latest page to the phone; or STOP, START, or something to answer with the help text."""

    kind: ReplyKind
    action: Action | None = None
    code: int | None = None
    incident_id: int | None = None


HELP = SmsReply("help")


def parse_sms_reply(body: str) -> SmsReply:
    """The meaning of an SMS body: `3a` (`3 A`, `'3a'`), `c` for `r`, a bare `a|r|e` (the latest
    page), `ack 12` / `resolve #12` / `escalate 12`, PagerDuty's `4` and `6`, STOP, START."""
    text = " ".join(body.translate({ord(q): " " for q in _QUOTES}).lower().split()).strip(" .!")
    if text in _STOP:
        return SmsReply("stop")
    if text in _START:
        return SmsReply("start")
    if text in _LETTERS:
        return SmsReply("action", _LETTERS[text])
    if text in _DIGITS:
        return SmsReply("action", _DIGITS[text])
    if text in _WORDS:
        return SmsReply("action", _WORDS[text])
    if match := _CODE_ACTION.fullmatch(text):
        return SmsReply("action", _LETTERS[match[2]], code=int(match[1]))
    if (match := _WORD_ID.fullmatch(text)) and match[1] in _WORDS:
        return SmsReply("action", _WORDS[match[1]], incident_id=int(match[2]))
    return HELP


@dataclass(frozen=True)
class HeldCode:
    """A code a phone holds: its incident's last SMS page with it, and when the incident was
    resolved (None: still open)."""

    code: int
    paged_at: datetime
    resolved_at: datetime | None


def new_reply_code(held: Iterable[HeldCode], now: datetime) -> int:
    """A phone's reply code for a new incident: the smallest positive number not held by an open
    incident nor by one resting (CODE_REST), so codes stay short and come back in time."""
    return smallest_free_code(
        h.code for h in held
        if h.resolved_at is None or now - max(h.paged_at, h.resolved_at) < CODE_REST)


def smallest_free_code(used: Iterable[int]) -> int:
    taken = set(used)
    code = 1
    while code in taken:
        code += 1
    return code


VoiceChoice = Literal["accept", "resolve", "escalate", "next", "repeat"]
_KEYS: dict[str, VoiceChoice] = {"4": "accept", "6": "resolve", "5": "escalate", "0": "next"}


def voice_choice(digits: str) -> VoiceChoice:
    """The key pressed during a call: 4 accept, 6 resolve, 5 escalate, 0 the call's next incident;
    anything else (`*` too) repeats the menu."""
    return _KEYS.get(digits.strip()[:1], "repeat")


# The first word of a line: after emphasis marks and invisible characters (a byte-order mark, a
# zero-width space), the whole word, so that "acceptée" is not "accept".
_EMAIL_WORD = re.compile(r"[\s*_\"'\ufeff\u200b\u200c\u200d\u2060]*([^\W\d_]+)")
_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"


def email_reply_action(text: str) -> Action | None:
    """The action an e-mailed reply asks for: the first word of its own text, `accept` (`ack`),
    `resolve` (`close`) or `escalate`; None for anything else. Quoted lines (`> ...`, the page or
    the thread replied to) and the line or two introducing them ("On ... wrote:", "Am ... schrieb
    ...:") are not its own text: a quoted "Resolve when the backup reruns?" above "Not yet"
    resolved the incident. A bottom-posted reply's own text is the first after its quote."""
    lines = [line.strip().lstrip(_INVISIBLE).strip() for line in text.splitlines()]
    start = 0
    while start < len(lines):
        if not lines[start] or lines[start].startswith(">"):
            start += 1
            continue
        end = start
        while end < len(lines) and lines[end] and not lines[end].startswith(">"):
            end += 1
        match = _EMAIL_WORD.match(lines[start].lower())
        action = _WORDS.get(match[1]) if match is not None else None
        if action is not None or not _introduces_a_quote(lines, start, end):
            return action
        start = end
    return None


def _introduces_a_quote(lines: Sequence[str], start: int, end: int) -> bool:
    """Whether the own text `lines[start:end]` is a quote's attribution, in whatever language:
    a line or two (a client wraps a long one) ending in a colon, the quote next (blank lines
    between). Own text taken for one has no action word: an action is looked for first."""
    if end - start > 2 or not lines[end - 1].endswith(":"):
        return False
    after = next((line for line in lines[end:] if line), "")
    return after.startswith(">")


# RFC 3834: what a program sends back (an out-of-office notice, a vacation reply, a bounce) says
# so in these headers; its words are no responder's answer ("Accept my apologies: I am out of the
# office" accepted the incident, and "Escalate anything urgent to Bob" escalated it).
AUTO_REPLY_HEADERS = frozenset({"auto-submitted", "x-autoreply", "x-autorespond", "precedence"})
_AUTOMATIC_PRECEDENCE = frozenset({"auto_reply", "bulk", "junk", "list"})
_DELIVERY_REPORTS = frozenset({"multipart/report", "message/delivery-status"})


def automatic_mail(headers: Iterable[tuple[str, str]], content_type: str,
                   envelope_sender: str | None) -> str | None:
    """Why a mail was sent by a program rather than by a person, or None for a person's: the null
    envelope sender (`MAIL FROM:<>`, bounces and reports; None: not known), a delivery report
    (`multipart/report`), `Auto-Submitted` other than `no`, `X-Autoreply` or `X-Autorespond`,
    `Precedence: auto_reply|bulk|junk|list`. `headers` are (name, value) pairs; others are ignored."""
    if envelope_sender is not None and envelope_sender.strip() in ("", "<>"):
        return "null sender"
    if content_type.strip().lower() in _DELIVERY_REPORTS:
        return f"a delivery report ({content_type.strip().lower()})"
    for name, value in headers:
        field = name.strip().lower()
        token = value.split(";")[0].strip().lower()
        if field == "auto-submitted" and token != "no":
            return f"Auto-Submitted: {token}"
        if field in ("x-autoreply", "x-autorespond"):
            return "X-Autoreply" if field == "x-autoreply" else "X-Autorespond"
        if field == "precedence" and token in _AUTOMATIC_PRECEDENCE:
            return f"Precedence: {token}"
    return None


def sms_help(example_code: int | None) -> str:
    """The one short help text: how to answer, in one GSM-7 segment."""
    code = str(example_code) if example_code is not None else "1"
    return (f"ilertd: reply {code}a to accept, {code}r to resolve, {code}e to escalate the incident "
            f"with code {code}; a, r or e alone act on the latest page. STOP ends SMS.")


MAX_CODES_LISTED = 6


def pages_a_bare_letter_answers(latest: Sequence[tuple[int, int]], resent: Sequence[tuple[int, int]]
                                ) -> list[tuple[int, int]]:
    """(incident, user) of the pages a bare letter may answer, each incident once: those of the
    latest message sent when it came in, and those that were being handed to the provider when
    their sender stopped (`resent`: sent again since, or waiting to be). Such a page may have
    arrived, and be the one the responder read, or not: it is one of the candidates."""
    pages: dict[int, tuple[int, int]] = {}
    for incident_id, user_id in (*latest, *resent):
        pages.setdefault(incident_id, (incident_id, user_id))
    return list(pages.values())


def which_incident_text(codes: Sequence[tuple[int, int | None]], action: Action) -> str:
    """The answer to a bare letter (or digit) when the last page to the phone was a summary naming
    several incidents (or one that was being sent when its sender stopped came with another),
    given as (incident, its code on the phone, if any): which one it means cannot be told, so it
    asks for a code, in one or two GSM-7 segments."""
    letter = _ACTION_LETTERS[action]
    named = [f"#{incident_id}={code}" if code is not None else f"#{incident_id}"
             for incident_id, code in codes[:MAX_CODES_LISTED]]
    if len(codes) > MAX_CODES_LISTED:
        listed = ", ".join(named) + f" ({len(codes) - MAX_CODES_LISTED} more)"
    else:
        listed = ", ".join(named[:-1]) + " or " + named[-1]
    example = next((f"{code}{letter}" for _, code in codes if code is not None),
                   f"{action} {codes[0][0]}")
    return (f"ilertd: your last page named {len(codes)} incidents: reply with one's code, {listed}, "
            f"e.g. {example}.")


def action_done(action: Action) -> str:
    return {"accept": "accepted", "resolve": "resolved", "escalate": "escalated"}[action]
