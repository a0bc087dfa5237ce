"""What becomes of an outbox row its sender had handed to the provider when it died: sent again once, no more.

A channel stores `sending_since` just before it hands a row to the provider (a few messages
ahead at most, see `marked_together`) and clears it with the provider's answer, so a row still
SCHEDULED with the mark was in flight when its node stopped: the provider may or may not have
taken it. It is sent again, once, saying so (it may arrive twice; the reference lets a provider
or a person recognise the copy). A row sent again is marked on its own, just before its message,
so one found in flight a second time was handed to the provider: it is not sent a third time
and the outbox ends it as ERROR.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ilertd.domain.incident_model import LogEntry

RESENT = "NOTIFICATION_RESENT"
FAILED = "NOTIFICATION_FAILED"
# Rows are marked as being sent in one write for the messages expected to go out within this
# time at the provider's pace (the last message's), never more than MARK_AHEAD_MESSAGES: a fast
# provider costs a commit per ~100 ms of sending, a slow one (seconds a message) a commit per
# message, so a crash leaves few rows marked that the provider never saw.
MARK_AHEAD_S = 0.1
MARK_AHEAD_MESSAGES = 100
# The words for a status update's kind, as the channel's own log entries say them.
UPDATE_WORDS = {"ALERT_ACCEPTED": "accepted", "ALERT_RESOLVED": "resolved", "ALERT_ESCALATED": "escalated"}


def page_reference(notification_id: int) -> str:
    """The stable reference of an outbox row, carried by every message sent for it."""
    return f"ilertd-n{notification_id}"


def idempotency_key(reference: str, secret: str, rows: Sequence[int] = ()) -> str:
    """The reference made unique to this installation (a tag of its secret): the value of an
    e-mail's Message-ID and of an `Idempotency-Key`. Row ids start again in a new store, and a
    mailbox may drop a message whose Message-ID it has seen before. A message carrying several
    rows (`rows`, a summary) has a key of its own rows: its first row may have gone out alone
    before (taken by a provider whose answer was lost), and under that row's key a provider that
    honours the key would drop the summary, and the other rows' pages with it."""
    if len(set(rows)) > 1:
        together = ",".join(str(row) for row in sorted(set(rows)))
        reference = f"{reference}-s{hashlib.sha256(together.encode()).hexdigest()[:10]}"
    if not secret:
        return reference
    return f"{reference}.{_installation_tag(secret)}"


# A page's own Message-ID (a summary's, `-s...`, names no one page), as a reply quotes it.
_PAGE_MESSAGE_ID = re.compile(r"<ilertd-n(\d{1,18})\.([0-9a-f]{12})@")


def pages_replied_to(message_ids: str, secret: str) -> list[int]:
    """The outbox rows of this installation's pages among the Message-IDs a reply names (its
    In-Reply-To, then its References), in that order."""
    tag = _installation_tag(secret)
    return [int(found[1]) for found in _PAGE_MESSAGE_ID.finditer(message_ids) if found[2] == tag]


@functools.lru_cache(maxsize=8)
def _installation_tag(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def marked_together(resent: Sequence[bool], last_send_s: float | None) -> int:
    """How many of the next messages (`resent`: whether each carries a row sent again after a
    crash, in sending order) to mark as being sent in one write, given how long the last message
    took (None: none sent yet in this batch, one message alone). A message carrying a resent row
    is marked alone: found marked again, it was handed to the provider, not merely queued behind
    one that was (the second sighting ends it as ERROR)."""
    if not resent:
        return 0
    if resent[0] or last_send_s is None:
        return 1
    ahead = int(MARK_AHEAD_S / last_send_s) if last_send_s > 0 else MARK_AHEAD_MESSAGES
    count = max(1, min(ahead, MARK_AHEAD_MESSAGES, len(resent)))
    return next((index for index in range(1, count) if resent[index]), count)


@dataclass(frozen=True)
class PageInFlight:
    """An outbox row that is SCHEDULED and has `sending_since`: what the rule needs of it."""

    id: int
    incident_id: int | None
    kind: str
    method: str
    target: str
    user_id: int
    due_at: datetime
    attempts: int
    # It was in flight once before and was handed out again for that reason.
    resent: bool


@dataclass(frozen=True)
class Recovery:
    """The row's changes, and the incident log entry saying them (for a row of an incident)."""

    changes: dict[str, Any]
    entry: LogEntry
    send_again: bool


def already_being_sent(method: str, target: str, when: str) -> str:
    """The words of a page a cancel found already handed to its provider (`when`: what cancelled
    it, "the incident was accepted"): it cannot be called back, and nothing sends it again."""
    return (f"{method} to {target} was already being sent when {when}: it may still arrive, and is"
            " not sent again")


@dataclass(frozen=True)
class FailedAttempt:
    """A page's failed attempt as its incident log tells it: retried (`entry`), or not, because
    the row was cancelled while its provider had it (an accept, a resolve, a mute, a contact
    deleted) and nothing sends it again. Which holds is known only as the outcome is stored (the
    cancel may commit just before it), so the store picks the words then, by the incident's
    status: `accepted`, `resolved`, else `cancelled`."""

    entry: LogEntry
    accepted: str
    resolved: str
    cancelled: str


def failed_attempt(method: str, target: str, attempts: int, error: str, user_id: int | None) -> FailedAttempt:
    """The words of a page's failed attempt `attempts`, to be retried unless it was cancelled."""
    head = f"{method} to {target}, attempt {attempts}: {error}"
    return FailedAttempt(
        LogEntry(FAILED, f"{head}; retrying", user_id, method),
        f"{head}; not retried: the incident was accepted",
        f"{head}; not retried: the incident was resolved",
        f"{head}; not retried: it was cancelled while it was being sent",
    )


def recover(page: PageInFlight, now: datetime) -> Recovery:
    """The row found in flight: due again at once (with `resent` set) the first time, ERROR the
    second; the interrupted hand-over counts as an attempt either way."""
    what = _what(page)
    ref = page_reference(page.id)
    if not page.resent:
        return Recovery(
            {"resent": True, "sending_since": None, "attempts": page.attempts + 1,
             "due_at": min(page.due_at, now)},
            LogEntry(RESENT, f"{what} was being sent when the node sending it stopped; sending it again"
                             f" (it may arrive twice; reference {ref})", page.user_id, page.method),
            True,
        )
    error = (f"in flight twice when the node sending it stopped; not sent a third time"
             f" (it may have arrived; reference {ref})")
    return Recovery(
        {"status": "ERROR", "sending_since": None, "attempts": page.attempts + 1, "error_message": error},
        LogEntry(FAILED, f"{what} was being sent again when the node sending it stopped, a second time;"
                         f" not sending it a third time (it may have arrived; reference {ref})",
                 page.user_id, page.method),
        False,
    )


def _what(page: PageInFlight) -> str:
    if page.kind == "ALERT":
        return f"Page by {page.method} to {page.target}"
    if page.kind in UPDATE_WORDS:
        return f"Status update ({UPDATE_WORDS[page.kind]}) by {page.method} to {page.target}"
    name = "Test page" if page.kind == "TEST" else page.kind.replace("_", " ").capitalize()
    return f"{name} by {page.method} to {page.target}"
