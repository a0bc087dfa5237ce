"""A user's unsent pages, when their contact changes or goes, they are muted or go, or a channel is off.

A page goes where its row says, planned when its level was reached; a later change of a contact
or of the user would not reach it. A number someone gave up (it may be another person's now)
kept getting the pages due later, reply codes and all; a user who muted themselves, or was
deleted, was still paged. So a changed contact takes its unsent pages with it, and those of a
deleted contact or user, and those due while the user is muted, are cancelled, each logged on
its incident. A test page or a shift reminder waiting for its contact's throttle window (or a
retry) is a message like any page: it follows its contact too, and goes nowhere once the contact
or the user is deleted (with no incident to log it on, the daemon's log says so). Pages of a
method whose channel is no longer enabled go to the account e-mail, or wait for it. Runs in the
caller's write transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from ilertd.domain.incidents import LogEntry
from ilertd.domain.missing_channels import PageWithoutChannel, not_enabled, reroute
from ilertd.domain.pages_in_flight import already_being_sent
from ilertd.domain.timeutil import format_instant
from ilertd.store import models as m
from ilertd.store import outbox

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class MovedPage:
    """A page now due to go to another target: its timer is armed again for it."""

    notification_id: int
    incident_id: int | None
    method: str
    target: str
    due_at: datetime


def follow_contact(user_id: int, username: str, method: str, old: str, new: str, now: datetime
                   ) -> list[MovedPage]:
    """The user's unsent pages to the contact `old` go to `new`, its target from now on. Those to
    their account e-mail of the same address, as the fallback, stay: the account address did not
    change."""
    return _follow(user_id, method, old, new, now, f"{username}'s contact was changed", fallback=False,
                   every_kind=True)


def follow_account_email(user_id: int, username: str, old: str, new: str, now: datetime) -> list[MovedPage]:
    """The user's unsent fallback pages to their account e-mail `old` go to `new`; with none left,
    they are cancelled. A contact's page of the same address stays where it goes."""
    if not new:
        cancel(user_id, f"{username}'s account e-mail was removed", now, "EMAIL", old, fallback=True)
        return []
    return _follow(user_id, "EMAIL", old, new, now, f"{username}'s account e-mail was changed", fallback=True)


def _follow(user_id: int, method: str, old: str, new: str, now: datetime, why: str, fallback: bool,
            every_kind: bool = False) -> list[MovedPage]:
    if old == new:
        return []
    scheduled = outbox.scheduled_pages_of(user_id, method, old, fallback=fallback, every_kind=every_kind)
    rows = [row for row in scheduled if row.sending_since is None]
    # One in flight is the provider's now: it stays as it is (a failure is retried where the
    # contact then points, see ChannelActor._retry_still_goes_here), said so on its incident.
    in_flight = [row for row in scheduled if row.sending_since is not None]
    outbox.update_pages([row.id for row in rows], target=new)
    _log_unlogged(rows, f"goes to {new}, not {old}: {why}")
    _log_unlogged(in_flight, f"was already being sent when {why}")
    outbox.log_about_pages([(row.incident_id, LogEntry(
        "NOTIFICATION_PLANNED",
        f"{method} due at {format_instant(row.due_at)} goes to {new}, not {old}: {why}", user_id, method))
        for row in rows], now)
    outbox.log_about_pages([(row.incident_id, LogEntry(
        "NOTIFICATION_IN_FLIGHT", f"{method} to {old} was already being sent when {why}: it may still"
        " arrive there", user_id, method)) for row in in_flight], now)
    return [MovedPage(row.id, row.incident_id, method, new, row.due_at) for row in rows]


def cancel(user_id: int, why: str, now: datetime, method: str | None = None, target: str | None = None,
           due_before: datetime | None = None, fallback: bool | None = None, every_kind: bool = False,
           when: str | None = None) -> None:
    """The user's unsent pages (to `method` and `target`, due before `due_before`, to a contact
    or as the `fallback`, if given; with `every_kind`, their test pages and shift reminders too)
    are not sent, because `why`. One already handed to its provider cannot be called back: as
    an accept does, it is cancelled (not sent again, a failure not retried) and logged as in
    flight, "already being sent when" `when` (what happened, `why` by default)."""
    rows = outbox.scheduled_pages_of(user_id, method, target, due_before, fallback, every_kind)
    outbox.update_pages([row.id for row in rows], status="CANCELLED")
    happened = when or why
    _log_unlogged([row for row in rows if row.sending_since is None], f"not sent: {why}")
    _log_unlogged([row for row in rows if row.sending_since is not None],
                  f"was already being sent when {happened}")
    outbox.log_about_pages([(row.incident_id, LogEntry(
        "NOTIFICATION_CANCELLED", f"{row.method} to {row.target} not sent: {why}", user_id, row.method)
        if row.sending_since is None else LogEntry(
        "NOTIFICATION_IN_FLIGHT", already_being_sent(row.method, row.target, happened), user_id, row.method))
        for row in rows], now)


def reroute_without_channel(channels: frozenset[str], now: datetime) -> tuple[int, int]:
    """Unsent pages of a method with no channel now (its plugin disabled before this start): an
    alert page goes to its user's account e-mail, others wait for their channel; each logged on
    its incident once. How many were moved, and how many wait."""
    moved = waiting = 0
    entries: list[tuple[int, LogEntry]] = []
    for row, email in outbox.unsent_without_channel(channels):
        if row.incident_id is None:
            # A shift reminder or a test page: no incident to page anyone for; it waits.
            waiting += 1
            continue
        rerouting = reroute(PageWithoutChannel(row.method, row.target, row.kind, row.user_id, email,
                                               row.error_message), channels)
        if rerouting.entry is not None:
            entries.append((row.incident_id, rerouting.entry))
        if rerouting.email is None:
            waiting += 1
            outbox.update_pages([row.id], error_message=not_enabled(row.method))
        else:
            moved += 1
            outbox.update_pages([row.id], method="EMAIL", target=rerouting.email, fallback=True,
                                error_message=None, sending_since=None)
    outbox.log_about_pages(entries, now)
    return moved, waiting


def _log_unlogged(rows: list[m.Notification], what: str) -> None:
    """Test pages and shift reminders among `rows` have no incident log: the daemon's log tells."""
    for row in rows:
        if row.incident_id is None:
            kind = "test page" if row.kind == outbox.TEST else "shift reminder"
            logger.info("%s %s to %s %s", kind, row.id, row.target, what)
