"""What answering a page reads and keeps: SMS reply codes, who was paged where, each phone's STOP state."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import peewee

from ilertd.store import models as m
from ilertd.store.db import write_transaction
from ilertd.store.outbox import pages_of_message

# A page that left ilertd: alone, or in a summary of several.
SENT = ("SUCCESS", "AGGREGATED")
# Twilio re-sends a webhook it got no answer to within minutes: a day of texted escalations is
# plenty to know a re-send by, and keeps their table small.
SMS_REPLY_KEPT = timedelta(days=1)
# Sent pages, the one that left ilertd last first (see Notification.sent_seq).
LATEST_SENT_FIRST = (m.Notification.sent_seq.desc(nulls="LAST"), m.Notification.id.desc())


@dataclass(frozen=True)
class CodeHolder:
    """The incident a phone's reply code stands for, and the user it was paged to."""

    code: int
    incident_id: int
    user_id: int


def reply_codes_of(target: str) -> dict[int, tuple[int, int, datetime]]:
    """The phone's reply codes as stored: incident → (code, user, last SMS page with it)."""
    return {row.incident_id: (row.code, row.user_id, row.paged_at)
            for row in m.ReplyCode.select().where(m.ReplyCode.target == target)}


def resolution_times(incident_ids: Iterable[int]) -> dict[int, datetime | None]:
    """When each of `incident_ids` that still exists was resolved (None: it is open)."""
    wanted = list(set(incident_ids))
    if not wanted:
        return {}
    return {row.id: row.resolved_at if row.status == "RESOLVED" else None
            for row in m.Incident.select(m.Incident.id, m.Incident.status, m.Incident.resolved_at)
            .where(m.Incident.id.in_(wanted))}


def _holder(row: m.ReplyCode | None) -> CodeHolder | None:
    return CodeHolder(row.code, row.incident_id, row.user_id) if row is not None else None


def code_holder(target: str, code: int) -> CodeHolder | None:
    return _holder(m.ReplyCode.get_or_none((m.ReplyCode.target == target) & (m.ReplyCode.code == code)))


def _pages_sent(methods: Iterable[str], *fields: peewee.Field) -> peewee.ModelSelect:
    """`fields` of the pages of incidents that left ilertd (alone or in a summary) by one of
    `methods`: what a reply may answer."""
    return m.Notification.select(*fields).where(
        (m.Notification.kind == "ALERT") & m.Notification.method.in_(list(methods))
        & m.Notification.status.in_(SENT))


def user_paged_at(incident_id: int, methods: Iterable[str], target: str) -> int | None:
    """The user a page of the incident reached at `target` (by one of `methods`), the latest if
    several did; None if none did."""
    row = (_pages_sent(methods, m.Notification.user_id)
           .where((m.Notification.incident == incident_id) & (m.Notification.target == target))
           .order_by(m.Notification.id.desc()).first())
    return row.user_id if row is not None else None


def latest_pages_to(target: str, methods: Iterable[str], sent_up_to: int | None = None
                    ) -> list[tuple[int, int]]:
    """(incident, user) of each incident the latest message to `target` (by one of `methods`)
    paged: one, or several when it was a summary. Latest as sent, not as stamped: a wall clock
    stepped back stamps the page just sent earlier than one sent before the step. `sent_up_to`:
    latest among those sent by then (a `sent_seq`; None: so far)."""
    to_target = (m.Notification.target == target) & m.Notification.incident.is_null(False)
    if sent_up_to is not None:
        to_target &= m.Notification.sent_seq <= sent_up_to
    last = _pages_sent(methods, m.Notification).where(to_target).order_by(*LATEST_SENT_FIRST).first()
    return [(row.incident_id, row.user_id) for row in pages_of_message(last)] if last is not None else []


def pages_resent_since(target: str, methods: Iterable[str], sent_up_to: int | None
                       ) -> list[tuple[int, int]]:
    """(incident, user) of the pages to `target` (by one of `methods`) that were being handed to
    the provider when their sender stopped, and wait to be sent again or were sent again after
    `sent_up_to` (a `sent_seq`; None: so far): each may have arrived before then (see
    ilertd.domain.pages_in_flight). Sent again, a page takes a new number, after the mark: the
    one it had when first handed out is gone, so its number does not say whether that was before."""
    model = m.Notification
    resent = ((model.kind == "ALERT") & model.method.in_(list(methods)) & (model.target == target)
              & model.incident.is_null(False) & (model.resent == True))  # noqa: E712
    since = model.status == "SCHEDULED"
    if sent_up_to is not None:
        since |= model.status.in_(SENT) & (model.sent_seq > sent_up_to)
    rows = (model.select(model.incident, model.user_id).distinct().where(resent & since)
            .order_by(model.incident))
    return [(incident_id, user_id) for incident_id, user_id in rows.tuples()]


def last_page_seq(incident_id: int, user_id: int, methods: Iterable[str], target: str | None = None,
                  sent_up_to: int | None = None) -> int | None:
    """Where the latest page of the incident to the user (by one of `methods`, at `target` if given)
    stands in the order messages left ilertd, from its first hand-out to its provider (its
    `first_sent_seq`); None if none was handed out. From then on it may have reached the phone,
    whatever came of it: one still being sent, one refused or timed out and waiting for its
    retry, one sent again later (a retry, a re-send after a crash, which gives it a new
    `sent_seq`): an escalation since then came after it, and without a place to compare with,
    the same reply twice escalated two levels. `sent_up_to` (a `sent_seq`): the latest of those
    first handed out by then, for a reply that waited for a leader."""
    mine = ((m.Notification.incident == incident_id) & (m.Notification.user_id == user_id)
            & (m.Notification.kind == "ALERT") & m.Notification.method.in_(list(methods))
            & m.Notification.first_sent_seq.is_null(False))
    if target is not None:
        mine &= m.Notification.target == target
    if sent_up_to is not None:
        mine &= m.Notification.first_sent_seq <= sent_up_to
    latest = m.Notification.select(peewee.fn.MAX(m.Notification.first_sent_seq)).where(mine).scalar()
    return int(latest) if latest is not None else None


def seq_of_page(row: m.Notification) -> int | None:
    """Where the page `row` stands in the order messages left ilertd, from its first hand-out to
    its provider (it may have arrived from then on, whatever came of it); None if it never was."""
    return int(row.first_sent_seq) if row.first_sent_seq is not None else None


def page_seq(notification_id: int, incident_id: int, user_id: int, methods: Iterable[str]) -> int | None:
    """`seq_of_page` of the page `notification_id`, if it is a page of the incident to the user by
    one of `methods`; else None."""
    row = m.Notification.get_or_none(m.Notification.id == notification_id)
    if (row is None or row.incident_id != incident_id or row.user_id != user_id or row.kind != "ALERT"
            or row.method not in tuple(methods)):
        return None
    return seq_of_page(row)


def page_a_text_answers(db: peewee.Database, message_sid: str, phone: str, body: str,
                        latest_seq: int | None, now: datetime) -> int | None:
    """Where the page a texted escalation answers stands in the order messages were sent. A
    message Twilio delivered before (its MessageSid, from the same phone, with the same body)
    answers what its first delivery did; any other answers the page at `latest_seq`, kept for a
    re-send of it."""
    with write_transaction(db):
        m.SmsReply.delete().where(m.SmsReply.received_at < now - SMS_REPLY_KEPT).execute()
        earlier = m.SmsReply.get_or_none(m.SmsReply.message_sid == message_sid)
        if earlier is not None and earlier.phone == phone and earlier.body == body:
            return int(earlier.page_seq) if earlier.page_seq is not None else None
        kept = {m.SmsReply.phone: phone, m.SmsReply.body: body, m.SmsReply.page_seq: latest_seq,
                m.SmsReply.received_at: now}
        (m.SmsReply.insert({m.SmsReply.message_sid: message_sid, **kept})
         .on_conflict(conflict_target=[m.SmsReply.message_sid], update=kept).execute())
    return latest_seq


def was_paged_by_mail(incident_id: int, user_id: int, address: str, methods: Iterable[str]) -> bool:
    """Whether a page of the incident by one of the e-mail `methods` reached `address` (any case)
    for this user."""
    return (_pages_sent(methods, m.Notification.id)
            .where((m.Notification.incident == incident_id) & (m.Notification.user_id == user_id)
                   & (peewee.fn.LOWER(m.Notification.target) == address.lower()))
            .exists())


def phone_owners(phone: str, methods: Iterable[str]) -> list[int]:
    """The users who have this number as a contact of one of the phone `methods` (none: anyone
    else, who gets no answer)."""
    return [user_id for (user_id,) in m.Contact.select(m.Contact.user).distinct()
            .where((m.Contact.target == phone) & m.Contact.method.in_(tuple(methods))).tuples()]


def phone_state(phone: str) -> m.PhoneState | None:
    return m.PhoneState.get_or_none(m.PhoneState.phone == phone)


def set_sms_stopped(db: peewee.Database, phone: str, stopped: bool, now: datetime) -> None:
    with write_transaction(db):
        (m.PhoneState.insert(phone=phone, sms_stopped=stopped, help_in_a_row=0, updated_at=now)
         .on_conflict(conflict_target=[m.PhoneState.phone],
                      update={m.PhoneState.sms_stopped: stopped, m.PhoneState.help_in_a_row: 0,
                              m.PhoneState.updated_at: now})
         .execute())


def count_help_reply(db: peewee.Database, phone: str, now: datetime) -> int:
    """One more help text in a row to the phone: how many there have been, this one included."""
    with write_transaction(db):
        (m.PhoneState.insert(phone=phone, sms_stopped=False, help_in_a_row=1, updated_at=now)
         .on_conflict(conflict_target=[m.PhoneState.phone],
                      update={m.PhoneState.help_in_a_row: m.PhoneState.help_in_a_row + 1,
                              m.PhoneState.updated_at: now})
         .execute())
        return int(m.PhoneState.get(m.PhoneState.phone == phone).help_in_a_row)


def reset_help_replies(db: peewee.Database, phone: str, now: datetime) -> None:
    """A reply that was understood: the count of help texts in a row starts again."""
    with write_transaction(db):
        (m.PhoneState.update(help_in_a_row=0, updated_at=now)
         .where((m.PhoneState.phone == phone) & (m.PhoneState.help_in_a_row > 0)).execute())


def stopped_phones(targets: Iterable[str]) -> set[str]:
    """Those of `targets` that replied STOP (and not START since)."""
    wanted = list(set(targets))
    if not wanted:
        return set()
    return {row.phone for row in m.PhoneState.select(m.PhoneState.phone)
            .where(m.PhoneState.phone.in_(wanted) & (m.PhoneState.sms_stopped == True))}  # noqa: E712
