"""PageWording: what a channel's message says of its outbox rows, and how it may be answered.

The words themselves are pure rules (ilertd/domain/page_text.py); this gathers what they need
from the runtime: the user's time zone, the phone's reply codes, signed links, the reply key, and
the message's reference, idempotency key and TwiML URL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ilertd.actors.reply_codes import PhoneCodes
from ilertd.actors.runtime import Runtime
from ilertd.channels.base import Message
from ilertd.domain.link_tokens import link_expiry, reply_key, sign_link
from ilertd.domain.page_text import (
    UTC,
    Answering,
    PageAction,
    PageFacts,
    PageText,
    alert_text,
    shift_text,
    summary_text,
    test_text,
    update_text,
)
from ilertd.domain.pages_in_flight import UPDATE_WORDS, idempotency_key, page_reference
from ilertd.domain.replies import Action
from ilertd.store.outbox import TEST, schedule_name_and_zone

LINK_ACTIONS: tuple[tuple[str, Action], ...] = (("Accept", "accept"), ("Resolve", "resolve"),
                                                ("Escalate", "escalate"))
# Layouts whose pages carry signed action links (an SMS has no room; a call has its keys).
LINKED_LAYOUTS = ("email", "push", "text")


class PageWording:
    """The messages of one channel actor (its method and layout)."""

    def __init__(self, runtime: Runtime, method: str, layout: str, phone_codes: PhoneCodes) -> None:
        self.runtime = runtime
        self.method = method
        self.layout = layout
        self.phone_codes = phone_codes

    def message(self, text: PageText, row_id: int, rows: Sequence[int] = ()) -> Message:
        """`text` as the message of outbox row `row_id`: its reference and idempotency key, the
        TwiML URL a call of it reads (only calls use it), and, for a mail whose subject carries a
        reply key, `Reply-To` the reply mailbox (a reply to any other goes to its sender)."""
        answering = self.runtime.answering
        reply_to = answering.reply_mailbox() if self.layout == "email" and text.reply_key else ""
        reference = page_reference(row_id)
        return Message.laid_out(text, reference, idempotency_key(reference, answering.secret, rows),
                                f"{self.runtime.public_url}/api/v1/twilio/voice/{row_id}", reply_to)

    def text(self, rows: list[Any], facts: dict[int, PageFacts], now: datetime, single: bool) -> PageText:
        """The words of `rows`, due together at one contact; `single`: they are one page (see
        one_page), laid out as that incident's own, else a summary."""
        ref = page_reference(rows[0].id)
        row = rows[0]
        zone = self._zone(row.user_id)
        codes = self._reply_codes(row.target, rows, now)
        if not single:
            link = f"{self.runtime.public_url}/ui/incidents?status=PENDING"
            updates = [None if r.kind == "ALERT" else UPDATE_WORDS.get(r.kind, "changed") for r in rows]
            return summary_text([facts[r.incident_id] for r in rows], link, ref, codes, updates)
        if row.kind != "ALERT":
            return update_text(facts[row.incident_id], UPDATE_WORDS.get(row.kind, "changed"), ref, zone)
        return alert_text(facts[row.incident_id], ref, zone, self._answering(row, codes, now))

    def reminder_text(self, row: Any) -> PageText:
        """The words of a shift reminder, or of a test page: a message of its own, with no incident."""
        if row.kind == TEST:
            return test_text(row.method, row.target, f"{self.runtime.public_url}/ui/profile",
                             page_reference(row.id))
        name, zone = schedule_name_and_zone(row.schedule_id)
        link = f"{self.runtime.public_url}/api/schedules/{row.schedule_id}/shifts"
        return shift_text(name, _local(row.shift_start, zone), _local(row.shift_end, zone), link,
                          page_reference(row.id))

    def _zone(self, user_id: int) -> ZoneInfo:
        """The user's time zone, in which their pages show times (cached with the rest of them)."""
        person = self.runtime.people.get(user_id, self.runtime.reader)
        try:
            return ZoneInfo(person.timezone) if person is not None else UTC
        except (ValueError, KeyError):
            return UTC

    def _reply_codes(self, target: str, rows: list[Any], now: datetime) -> dict[int, int]:
        """The SMS reply code of each incident paged in `rows`, when SMS replies reach ilertd."""
        if self.layout != "sms" or not self.runtime.answering.sms_replies:
            return {}
        return self.phone_codes.codes(target, rows, now)

    def _answering(self, row: Any, codes: dict[int, int], now: datetime) -> Answering:
        """How this page may be answered on its medium: a reply code, action links, a reply e-mail."""
        settings = self.runtime.answering
        secret, public_url, method = settings.secret, self.runtime.public_url, self.method
        links: tuple[PageAction, ...] | Callable[[], tuple[PageAction, ...]] = ()
        if self.layout in LINKED_LAYOUTS and secret:
            expires = link_expiry(now, settings.link_ttl)

            def signed() -> tuple[PageAction, ...]:
                return tuple(PageAction(label, f"{public_url}/r/" + sign_link(
                    secret, row.incident_id, row.user_id, action, method, expires, row.id))
                    for label, action in LINK_ACTIONS)

            links = signed
        key = ""
        if self.layout == "email" and secret and settings.reply_mailbox():
            key = reply_key(secret, row.incident_id, row.user_id)
        return Answering(codes.get(row.incident_id), links, key)


def _local(instant: datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


def counted(rows: list[Any]) -> str:
    """"2 pages", "1 page and 2 status updates": a summary's rows, each kind counted apart as the
    summary itself counts them."""
    pages = sum(1 for row in rows if row.kind == "ALERT")
    updates = len(rows) - pages
    words = [f"{pages} page{'s' if pages != 1 else ''}"] if pages else []
    if updates:
        words.append(f"{updates} status update{'s' if updates != 1 else ''}")
    return " and ".join(words)


def one_page(rows: list[Any]) -> bool:
    """Whether the rows due together at one contact are one page: of one incident, of one kind (a
    team phone two users share, two rules for one address). It goes out as that incident's page,
    with its reply code and actions; a summary of pages (which has neither) is for several."""
    first = rows[0]
    return all(r.incident_id == first.incident_id and r.kind == first.kind for r in rows)
