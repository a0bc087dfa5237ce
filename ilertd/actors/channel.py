"""ChannelActor: delivers due outbox rows on one channel, throttles per contact, retries with back-off.

Just before a batch's rows are handed to the provider, the time is stored in their
`sending_since` (one write for the next few messages, committed before their provider calls; see
ilertd/actors/sending_marks.py); the provider's answer clears it with the row's outcome, queued
for its commit within ~100 ms. A row still SCHEDULED with the mark was in flight when its
sender died: the next leader sends it again once, saying so in the incident's log
(ilertd/domain/pages_in_flight.py). Each message carries the row's stable reference so such a
duplicate can be recognised. Pages, status updates and shift reminders are rows of one outbox
and take this one path; a contact's due pages go out as one summary, a reminder on its own.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from ilertd.actors.base import TrackedActor
from ilertd.actors.messages import Deliver, PagesDue, Ping
from ilertd.actors.page_wording import PageWording, counted, one_page
from ilertd.actors.reply_codes import PhoneCodes, StoreCodeAgain
from ilertd.actors.runtime import Runtime
from ilertd.actors.sending_marks import Outgoing, SendingMarks
from ilertd.actors.unstored_outcomes import UnstoredOutcomes
from ilertd.channels.base import Channel, DeliveryError
from ilertd.domain.incidents import LogEntry
from ilertd.domain.notification_plan import after_failure, throttle_until
from ilertd.domain.page_text import PageFacts
from ilertd.domain.pages_in_flight import UPDATE_WORDS, FailedAttempt, failed_attempt
from ilertd.domain.timeutil import format_instant
from ilertd.metrics import FAILED, REFUSED, SENT
from ilertd.store.committer import WRITE_RETRY, WriteQueue, WriteUnit
from ilertd.store.incidents import log_rows
from ilertd.store.outbox import REMINDER, TEST, co_due_pages, notification_rows, page_facts
from ilertd.store.replies import stopped_phones

logger = logging.getLogger(__name__)

STOPPED = "the number replied STOP; START turns SMS on again"


class ChannelActor(TrackedActor):
    def __init__(self, runtime: Runtime, method: str, channel: Channel, layout: str = "text",
                 last_sent: Mapping[str, datetime] | None = None) -> None:
        super().__init__(runtime.tracker)
        self.runtime = runtime
        self.method = method
        self.channel = channel
        self.layout = layout
        self.phone_codes = PhoneCodes(runtime, self.actor_ref)
        self.wording = PageWording(runtime, method, layout, self.phone_codes)
        # When each contact last got a message: throttling holds across a restart.
        self.last_sent: dict[str, datetime] = dict(last_sent or {})
        # While a batch runs: its outcome writes, queued together at its end.
        self._writes: WriteQueue | None = None
        self.unstored = UnstoredOutcomes()
        # The `channel` label of this actor's notifications: the method, as [channels.NAME] names it.
        self.label = method.lower()

    def on_start(self) -> None:
        warm = getattr(self.channel, "warm", None)
        if warm is None:
            return
        try:
            warm()
        except BaseException:
            # Only a head start for the first send: the channel works without it. A BaseException
            # (a plugin's SystemExit) escaping an actor would make pykka stop every actor.
            logger.exception("channel %s: warm() failed; its first send loads what it needs",
                             self.channel.name)

    def on_stop(self) -> None:
        self.runtime.db.close()

    def handle(self, message: Any) -> Any:
        match message:
            case PagesDue(box=box):
                self._deliver(box.take())
            case Deliver():
                self._deliver([message])
            case StoreCodeAgain():
                self.phone_codes.store_again(message)
            case Ping():
                return True
            case _:
                return super().handle(message)
        return None

    def _deliver(self, pages: list[Deliver]) -> None:
        """Send the due rows among `pages`: each contact's due pages as one message, then the
        reminders, each on its own (throttled like the rest). The outcomes go to the store
        through a WriteQueue, flushed as the batch goes (see SendingMarks)."""
        if not pages or not self.runtime.fence.holds():
            return  # deposed: a batch queued here is the next leader's to send
        self._writes = WriteQueue(self.runtime.committer)
        try:
            self._deliver_batch(pages)
        finally:
            self._writes.flush()
            self._writes = None

    def _deliver_batch(self, pages: list[Deliver]) -> None:
        now = self.runtime.clock.now()
        # Rows reach this actor once committed; its own updates to them may still be queued.
        self.runtime.committer.wait_flushed_all({p.incident_id for p in pages if p.incident_id is not None})
        reader = self.runtime.reader
        # The contacts' due pages are read anyway, for their summaries; they are most of the
        # batch's rows, so only the others are read by id.
        paged = list(dict.fromkeys(p.target for p in pages if p.incident_id is not None))
        co_due = co_due_pages(reader, self.runtime.statements, self.method, paged, now)
        rows = {row.id: row for due in co_due.values() for row in due}
        unread = [p.notification_id for p in pages if p.notification_id not in rows]
        rows.update(notification_rows(reader, unread))
        answered = self.unstored.take(rows)
        for row_id, (changes, entry) in answered.items():
            self._write(rows[row_id], changes, entry)
        co_due = {target: [r for r in due if r.id not in answered] for target, due in co_due.items()}
        targets: dict[str, Any] = {}
        reminders: list[Any] = []
        facts: dict[int, PageFacts] = {}
        summaries: list[tuple[Any, list[Any]]] = []
        for page in pages:
            row = rows.get(page.notification_id)
            if row is None or row.status != "SCHEDULED" or row.id in answered:
                continue
            if row.due_at > now:
                self._arm(row, row.due_at)
            elif row.kind in (REMINDER, TEST):
                if self._contact_still_there(row):
                    reminders.append(row)
            elif not self._retry_still_goes_here(row, now):
                continue
            elif self._may_send(row, now):
                # A second due page of a contact goes out in the first one's summary.
                targets.setdefault(row.target, row)
        # Numbers that replied STOP: no page, shift reminder or test is texted to them.
        texted = [*targets, *(r.target for r in reminders)]
        stopped = stopped_phones(texted) if texted and self.layout == "sms" else set()
        if targets:
            due_by_target = [(row, co_due.get(target, [])) for target, row in targets.items()]
            facts = page_facts(reader, {r.incident_id for row, due in due_by_target for r in (row, *due)},
                               self.runtime.public_url)
            for row, due in due_by_target:
                if row.id not in {r.id for r in due}:
                    due.insert(0, row)
                if row.target in stopped:
                    self._refused(due, STOPPED)
                    self.runtime.metrics.notification(self.label, REFUSED, len(due))
                else:
                    summaries.append((row, due))
        # A reminder to a contact messaged in this batch waits for the window that message opens.
        busy = {row.target for row, _ in summaries}
        ready = []
        for row in reminders:
            if row.target in stopped:
                self._refused([row], STOPPED)
                self.runtime.metrics.notification(self.label, REFUSED)
            elif self._may_send(row, now, busy):
                ready.append(row)
                busy.add(row.target)
        outgoing = [Outgoing(due, functools.partial(self._send_summary, row, facts, now))
                    for row, due in summaries]
        outgoing += [Outgoing([row], functools.partial(self._send_reminders, now)) for row in ready]
        if not outgoing:
            return
        batch = getattr(self.channel, "batch", None)
        try:
            session = batch() if batch is not None else contextlib.nullcontext()
            session.__enter__()
        except BaseException as error:
            # No page of the batch reached the provider (none is marked yet): each is a failed
            # attempt, retried.
            logger.exception("channel %s: its batch() failed", self.channel.name)
            for one in outgoing:
                self._answered(one.rows, FAILED)
                self._failed(one.rows, f"{type(error).__name__}: {error}", now)
            return
        assert self._writes is not None
        try:
            SendingMarks(self.runtime, self.channel.name, self._writes, self._arm,
                         self._write).send_all(outgoing, now)
        finally:
            self._close_batch(session, sys.exc_info())

    def _close_batch(self, session: contextlib.AbstractContextManager[Any], raised: Any) -> None:
        try:
            session.__exit__(*raised)
        except BaseException:
            # The batch's pages have their outcomes: only what it shared was not released cleanly.
            logger.exception("channel %s: its batch() failed at its end", self.channel.name)

    def _retry_still_goes_here(self, row: Any, now: datetime) -> bool:
        """Whether a page a provider refused before is to be tried again at its target. A change
        made while it was being sent passed it by (pages not yet sent follow their contact, a mute
        or a deleted contact cancels them), so its retry went to a number given up since, a deleted
        contact or a muted user. Now: muted, it is cancelled; its target no longer one of the
        user's contacts of its method, it follows the one left (or is cancelled, with none)."""
        if not row.attempts or row.user_id is None:
            return True
        person = self.runtime.people.get(row.user_id, self.runtime.reader)
        if row.fallback:
            # A page to the account address, for want of a usable rule: it follows that address.
            same = [person.email] if person is not None and person.email else []
            what = "account e-mail"
        else:
            same = [c.target for c in person.contacts if c.method == row.method] if person is not None else []
            what = "contact"
        if person is not None and not person.muted_at(now) and row.target in same:
            return True
        if person is not None and not person.muted_at(now) and len(same) == 1:
            self._write(row, {"target": same[0]}, LogEntry(
                "NOTIFICATION_PLANNED", f"{row.method} retried at {same[0]}, not {row.target}: "
                f"{person.username}'s {what} was changed", row.user_id, row.method))
            self.runtime.pages.arm(row.id, row.incident_id, row.method, same[0], now)
            return False
        if person is None:
            why = "the user was deleted"
        elif person.muted_at(now):
            why = f"{person.username} is muted until {format_instant(person.muted_until)}"
        else:
            why = f"{person.username}'s {what} was {'removed' if row.fallback else 'deleted'}"
        self._write(row, {"status": "CANCELLED", "sending_since": None}, LogEntry(
            "NOTIFICATION_CANCELLED", f"{row.method} to {row.target} not sent: {why}", row.user_id,
            row.method))
        return False

    def _contact_still_there(self, row: Any) -> bool:
        """Whether a test page or shift reminder still goes to one of its user's contacts. A change
        of the contact moves it and a deleted contact or user cancels it (ilertd.app.unsent_pages);
        one that passed it by would send it to a number given up, perhaps someone else's now."""
        person = self.runtime.people.get(row.user_id, self.runtime.reader)
        if person is not None and person.has_contact(row.method, row.target):
            return True
        why = "the user was deleted" if person is None else f"{person.username}'s contact was deleted"
        logger.warning("%s %s to %s not sent: %s", _what(row), row.id, row.target, why)
        self._write(row, {"status": "CANCELLED", "sending_since": None})
        return False

    def _may_send(self, row: Any, now: datetime, busy: Collection[str] = ()) -> bool:
        """False when the contact's throttle window is still open (or opens now, for a contact
        in `busy`): the row waits for its end."""
        last = now if row.target in busy else self.last_sent.get(row.target)
        window_end = throttle_until(self.method, last, now)
        if window_end is None:
            return True
        self._write(row, {"due_at": window_end})
        self._arm(row, window_end)
        return False

    def _send_summary(self, row: Any, facts: dict[int, PageFacts], now: datetime, due: list[Any]) -> None:
        """A contact's due rows still to be sent as one message, named by `row` (by the first of
        them, when `row` itself is no longer to be sent)."""
        self._send(row if any(r.id == row.id for r in due) else due[0], due, facts, now)

    def _send_reminders(self, now: datetime, rows: list[Any]) -> None:
        for row in rows:
            self._send_reminder(row, now)

    def _send(self, row: Any, due: list[Any], facts: dict[int, PageFacts], now: datetime) -> None:
        if not self.runtime.fence.holds():
            return  # deposed: the rows stay as they are, for the next leader to send
        single = one_page(due)
        try:
            # Inside the try: a page its words cannot be made for fails this message alone (and
            # is retried), not the rest of the batch, whose rows are marked as being sent.
            outgoing = self.wording.message(self.wording.text(due, facts, now, single), row.id,
                                            [r.id for r in due])
            self.channel.send(row.target, outgoing)
        except DeliveryError as error:
            self._answered(due, FAILED)
            self._failed(due, str(error), now, error.retry_after)
            return
        except BaseException as error:
            # Anything, a plugin's SystemExit too: escaping, it would make pykka stop every actor.
            logger.exception("channel %s failed unexpectedly", self.channel.name)
            self._answered(due, FAILED)
            self._failed(due, f"{type(error).__name__}: {error}", now)
            return
        self._answered(due, SENT)
        self.last_sent[row.target] = now
        status = "SUCCESS" if single else "AGGREGATED"
        if len(due) == 1:
            note = ""
        elif status == "SUCCESS":
            note = f" (one message for {counted(due)} of this incident)"
        else:
            note = f" (one summary of {counted(due)})"
        for sent in due:
            what = (f"Page by {sent.method}" if sent.kind == "ALERT"
                    else f"Status update ({UPDATE_WORDS.get(sent.kind, 'changed')}) by {sent.method}")
            self._write(
                sent,
                {"status": status, "sent_at": now, "attempts": sent.attempts + 1, "error_message": None,
                 "sending_since": None},
                LogEntry("NOTIFICATION_SENT", f"{what} to {sent.target} via {self.channel.name}{note}",
                         sent.user_id, sent.method),
            )

    def _answered(self, rows: list[Any], outcome: str) -> None:
        """Count the provider's answer for `rows`, and each row's delay from its due time to now."""
        metrics = self.runtime.metrics
        metrics.notification(self.label, outcome, len(rows))
        answered_at = self.runtime.clock.now()
        for row in rows:
            metrics.notification_answered((answered_at - row.due_at).total_seconds())

    def _refused(self, rows: list[Any], reason: str) -> None:
        """Pages that must not be sent at all: they end as ERROR at once, without retries."""
        for row in rows:
            changes = {"status": "ERROR", "attempts": row.attempts, "error_message": reason}
            if row.kind in (REMINDER, TEST):  # no incident to log it on
                logger.warning("%s %s to %s not sent: %s", _what(row), row.id, row.target, reason)
                self._write(row, changes)
            else:
                self._write(row, changes, LogEntry("NOTIFICATION_FAILED",
                                                   f"{row.method} to {row.target} not sent: {reason}",
                                                   row.user_id, row.method))

    def _failed(self, rows: list[Any], error: str, now: datetime, retry_after: str | None = None) -> None:
        for row in rows:
            changes = after_failure(row.attempts + 1, error, now, retry_after)
            attempts = changes["attempts"]
            entry: LogEntry | FailedAttempt
            if "due_at" in changes:
                # Retried, unless the row was cancelled while the provider had it (then its timer
                # finds it no longer SCHEDULED): the store's words say which, as they commit.
                entry = failed_attempt(row.method, row.target, attempts, error, row.user_id)
                self._arm(row, changes["due_at"])
            else:
                entry = LogEntry("NOTIFICATION_FAILED", f"{row.method} to {row.target} failed {attempts}"
                                 f" times; giving up: {error}", row.user_id, row.method)
            if row.kind in (REMINDER, TEST):
                logger.warning("%s %s to %s failed (attempt %s): %s", _what(row), row.id, row.target,
                               attempts, error)
                self._write(row, changes)
            else:
                self._write(row, changes, entry)

    def _arm(self, row: Any, when: datetime) -> None:
        self.runtime.pages.arm(row.id, row.incident_id, row.method, row.target, when)

    def _write(self, row: Any, changes: dict[str, Any],
               entry: LogEntry | FailedAttempt | None = None) -> None:
        statements = self.runtime.statements
        writes = [statements.update_notification(row.id, changes)]
        if isinstance(entry, FailedAttempt):
            writes.append(statements.log_failed_attempt(row.id, self.runtime.clock.now(), entry))
        elif entry is not None:
            writes.extend(statements.log(r) for r in log_rows(row.incident_id, [entry],
                                                              self.runtime.clock.now()))
        # A reminder's writes have no incident to keep in order with: owner 0. An outcome (it
        # counts attempts) the store refused is held, to be stored again when the row is due.
        done = (self.unstored.watch(row.id, (changes, entry), lambda: self._arm(
            row, self.runtime.clock.now() + WRITE_RETRY)) if "attempts" in changes else _log_failure)
        unit = WriteUnit(row.incident_id or 0, tuple(writes), done)
        if self._writes is None:
            self.runtime.committer.submit(unit)
        else:
            self._writes.submit(unit)

    def _send_reminder(self, row: Any, now: datetime) -> None:
        """A shift reminder, or a test page: a message of its own, with no incident."""
        if not self.runtime.fence.holds():
            return  # deposed: the row stays for the next leader
        try:
            self.channel.send(row.target, self.wording.message(self.wording.reminder_text(row), row.id))
        except BaseException as error:
            if not isinstance(error, DeliveryError):
                logger.exception("channel %s failed unexpectedly", self.channel.name)
            self._answered([row], FAILED)
            self._failed([row], str(error), now, getattr(error, "retry_after", None))
            return
        self._answered([row], SENT)
        self.last_sent[row.target] = now
        self._write(row, {"status": "SUCCESS", "sent_at": now, "attempts": row.attempts + 1,
                          "error_message": None, "sending_since": None})
        logger.info("%s %s sent: %s to %s", _what(row), row.id, row.method, row.target)


def _what(row: Any) -> str:
    """A message without an incident, as the log names it."""
    return "test page" if row.kind == TEST else "shift reminder"


def _log_failure(error: BaseException | None) -> None:
    if error is not None:
        logger.error("an outbox update could not be stored: %s", error)
