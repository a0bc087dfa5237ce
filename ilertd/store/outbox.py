"""The outbox as writers, channels and the API read it: pending rows, what a message tells, who was paged.

One table holds every message sent to a contact: pages and status updates of an incident, and
shift-start reminders of a schedule (`kind` SHIFT_REMINDER), so one delivery path throttles,
retries and records them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import peewee

from ilertd.domain.incidents import LogEntry
from ilertd.domain.page_text import PageFacts, incident_link
from ilertd.domain.pages_in_flight import PageInFlight, Recovery, recover
from ilertd.store import models as m
from ilertd.store.db import held, write_transaction
from ilertd.store.incidents import log_rows
from ilertd.store.reader import Reader, id_chunks, placeholders
from ilertd.store.retention import given_up_to
from ilertd.store.statements import Statements

ALERT = "ALERT"
REMINDER = "SHIFT_REMINDER"
# A page a user asked for to check that a contact works: no incident, no schedule.
TEST = "TEST"

FACTS_SQL = (
    "SELECT i.id AS id, i.summary AS summary, i.details AS details, i.priority AS priority,"
    " i.status AS status, s.name AS source_name, i.report_time AS report_time FROM incident i"
    " LEFT JOIN alert_source s ON s.id = i.alert_source_id WHERE i.id IN ({ids})"
)
FACTS_COLUMNS = "id, summary, details, priority, status, source_name, report_time"


def page_facts(reader: Reader, incident_ids: Iterable[int], public_url: str) -> dict[int, PageFacts]:
    """What the pages of these incidents tell, read in one query per 256 incidents."""
    facts = {}
    for chunk in id_chunks(incident_ids):
        for number, summary, details, priority, status, source_name, opened in reader.raw(
            FACTS_SQL.format(ids=placeholders(len(chunk))), *chunk, columns=FACTS_COLUMNS
        ):
            facts[number] = PageFacts(number, summary, details, priority, status, source_name or "",
                                      incident_link(public_url, number),
                                      m.Incident.report_time.python_value(opened))
    return facts


def notification_rows(reader: Reader, notification_ids: Iterable[int]) -> dict[int, Any]:
    """The existing outbox rows among `notification_ids`, by id: what a channel was handed."""
    return {row.id: row for row in reader.by_ids(m.Notification, notification_ids)}


def co_due_pages(reader: Reader, statements: Statements, method: str, targets: list[str], now: datetime
                 ) -> dict[str, list[Any]]:
    """The incidents' pending rows due by `now` of each of these contacts, oldest first (a summary
    carries them together; shift reminders and test pages, of no incident, go on their own: a
    test folded into a summary had no incident to word, and failed the batch it was in)."""
    due_by = statements.value(m.Notification.due_at, now)
    found: dict[str, list[Any]] = {}
    for start in range(0, len(targets), 256):
        chunk = targets[start:start + 256]
        for row in reader.select(
            m.Notification,
            f"method = ? AND target IN ({placeholders(len(chunk))}) AND status = 'SCHEDULED'"
            f" AND due_at <= ? AND kind NOT IN ('{REMINDER}', '{TEST}') ORDER BY due_at, id",
            method, *chunk, due_by,
        ):
            found.setdefault(row.target, []).append(row)
    return found


def schedule_name_and_zone(schedule_id: int) -> tuple[str, ZoneInfo]:
    """How a shift reminder names its schedule and shows its times (the schedule may be gone)."""
    row = m.Schedule.get_or_none(m.Schedule.id == schedule_id)
    if row is None:
        return f"schedule {schedule_id}", ZoneInfo("UTC")
    return row.name, ZoneInfo(row.timezone)


def store_reminder(db: peewee.Database, row: dict[str, Any]) -> bool:
    """Store a shift reminder once: False when one for the same (schedule, user, rule, shift
    start) exists already, so planning it again never sends it twice."""
    try:
        with write_transaction(db):
            m.Notification.insert(kind=REMINDER, status="SCHEDULED", attempts=0, **row).execute()
    except peewee.IntegrityError:
        return False
    return True


def store_test_page(db: peewee.Database, notification_id: int, user_id: int, method: str, target: str,
                    now: datetime) -> None:
    with write_transaction(db):
        m.Notification.insert(id=notification_id, kind=TEST, status="SCHEDULED", attempts=0, incident=None,
                              user_id=user_id, method=method, target=target, due_at=now,
                              created_at=now).execute()


def scheduled_pages_of(user_id: int, method: str | None = None, target: str | None = None,
                       due_before: datetime | None = None, fallback: bool | None = None,
                       every_kind: bool = False) -> list[m.Notification]:
    """The user's pages of incidents (to this method and target, due before `due_before`, those
    to their account e-mail as the `fallback` or those to a contact, if given; with `every_kind`,
    their test pages and shift reminders too) still SCHEDULED, held for the caller's transaction
    (it moves or cancels them). Those with `sending_since` are in flight: their channel has
    begun to hand them to the provider, and the caller tells them apart."""
    model = m.Notification
    scheduled = (model.user_id == user_id) & (model.status == "SCHEDULED")
    if not every_kind:
        scheduled &= model.incident.is_null(False)
    if fallback is not None:
        scheduled &= model.fallback == fallback
    if method is not None:
        scheduled &= model.method == method
    if target is not None:
        scheduled &= model.target == target
    if due_before is not None:
        scheduled &= model.due_at < due_before
    return list(held(model.select().where(scheduled).order_by(model.id), exclusive=True))


def unsent_without_channel(channels: Iterable[str]) -> list[tuple[m.Notification, str]]:
    """Rows not yet sent of a method not in `channels`, each with its user's account e-mail (empty
    for a user gone), held for the caller's transaction (it moves them or marks them waiting)."""
    model = m.Notification
    unsent = model.status == "SCHEDULED"
    methods = list(channels)
    if methods:
        unsent &= model.method.not_in(methods)
    rows = list(held(model.select().where(unsent).order_by(model.id), exclusive=True))
    user_ids = sorted({row.user_id for row in rows})
    emails: dict[int, str] = {}
    for chunk in id_chunks(user_ids):
        emails.update(m.User.select(m.User.id, m.User.email).where(m.User.id.in_(chunk)).tuples())
    return [(row, emails.get(row.user_id, "")) for row in rows]


def update_pages(notification_ids: list[int], **changes: Any) -> None:
    """Set `changes` (columns) on these outbox rows: a new target, or status CANCELLED."""
    for chunk in id_chunks(notification_ids):
        m.Notification.update(**changes).where(m.Notification.id.in_(chunk)).execute()


def log_about_pages(entries: list[tuple[int | None, LogEntry]], at: datetime) -> None:
    """Each (incident, entry) as a log entry of that incident (none for a test page or a shift
    reminder, of no incident); 100 rows a statement, within the bound parameters a statement may
    have however many pages there are."""
    rows = [row for incident_id, entry in entries if incident_id is not None
            for row in log_rows(incident_id, [entry], at)]
    for start in range(0, len(rows), 100):
        m.LogEntry.insert_many(rows[start:start + 100]).execute()


def drop_pending_reminders(schedule_id: int) -> None:
    """A deleted schedule's reminders not yet sent go with it (the caller holds the transaction)."""
    m.Notification.delete().where(
        (m.Notification.schedule_id == schedule_id) & (m.Notification.kind == REMINDER)
        & (m.Notification.status == "SCHEDULED")
    ).execute()


def paged_user_ids(incident_id: int) -> list[int]:
    """The users paged for an incident so far: who hears of its status changes."""
    query = (
        m.Notification.select(m.Notification.user_id)
        .where((m.Notification.incident == incident_id) & (m.Notification.kind == "ALERT"))
        .distinct()
        .tuples()
    )
    return [user_id for (user_id,) in query]


def paged_users(incident_ids: list[int]) -> dict[int, list[int]]:
    """Each incident's users with an alert page (sent or not), in the order they were first paged."""
    if not incident_ids:
        return {}
    first_page = peewee.fn.MIN(m.Notification.id)
    query = (
        m.Notification.select(m.Notification.incident, m.Notification.user_id, first_page)
        .where(m.Notification.incident.in_(incident_ids) & (m.Notification.kind == "ALERT"))
        .group_by(m.Notification.incident, m.Notification.user_id)
        .order_by(first_page)
    )
    paged: dict[int, list[int]] = {}
    for incident_id, user_id, _first in query.tuples():
        paged.setdefault(incident_id, []).append(user_id)
    return paged


def notification(notification_id: int) -> m.Notification | None:
    return m.Notification.get_or_none(m.Notification.id == notification_id)


def pages_of_message(page: m.Notification, updates: bool = False) -> list[m.Notification]:
    """The pages one message carried, one per incident, in the order it listed them (by id): the
    page alone, or each incident of the summary it went out in (rows sent to its contact by its
    method at its instant; before that is stored, the rows being sent with it). With `updates`,
    the status updates it carried instead, every one."""
    if page.sent_at is not None and page.status == "AGGREGATED":
        together = (m.Notification.sent_at == page.sent_at) & (m.Notification.status == "AGGREGATED")
    elif page.sent_at is None and page.sending_since is not None:
        together = m.Notification.sending_since == page.sending_since
    else:
        return [page] if (page.kind != ALERT) == updates else []
    kind = (m.Notification.kind != ALERT) if updates else (m.Notification.kind == ALERT)
    rows = (m.Notification.select()
            .where(together & kind & (m.Notification.target == page.target)
                   & (m.Notification.method == page.method) & m.Notification.incident.is_null(False))
            .order_by(m.Notification.id))
    if updates:
        return list(rows)
    first_of_incident: dict[int, m.Notification] = {}
    for row in rows:
        first_of_incident.setdefault(row.incident_id, row)
    return list(first_of_incident.values())


def notifications_page(incident_id: int, start: int, size: int) -> list[m.Notification]:
    """A page of the incident's outbox rows, by due time."""
    return list(m.Notification.select().where(m.Notification.incident == incident_id)
                .order_by(m.Notification.due_at, m.Notification.id).offset(start).limit(size))


def notification_count(incident_id: int) -> int:
    return int(m.Notification.select().where(m.Notification.incident == incident_id).count())


def last_sent_seq(reader: Reader) -> int | None:
    """The last `sent_seq` given (None: no message has left yet): where the messages handed out so
    far end in the order they left ilertd, for an escalation to take its place after them, and for
    a request a follower queues to keep how far sending had got when it came in."""
    ((last,),) = reader.raw("SELECT MAX(sent_seq) FROM notification")
    return int(last) if last is not None else None


def max_notification_id() -> int:
    """The largest page id given: stored, or deleted since (see ilertd.store.retention)."""
    return max(m.Notification.select(peewee.fn.MAX(m.Notification.id)).scalar() or 0,
               given_up_to("notification"))


_SCHEDULED_PAGES = ("SELECT id, incident_id, method, target, due_at FROM notification"
                    " WHERE status = 'SCHEDULED'")


def scheduled_notifications(reader: Reader, until: datetime | None = None) -> list[dict[str, Any]]:
    """Rows not yet sent (due by `until`, if given): what a start re-arms and the sweep checks,
    in hand-written SQL (see `incidents.escalation_deadlines`)."""
    field = m.Notification.due_at
    sql, params = _SCHEDULED_PAGES, ()
    if until is not None:
        sql, params = f"{sql} AND due_at <= ?", (field.db_value(until),)
    return [{"id": row[0], "incident_id": row[1], "method": row[2], "target": row[3],
             "due_at": field.python_value(row[4])}
            for row in reader.raw(sql, *params, columns="id, incident_id, method, target, due_at")]


def recover_pages_in_flight(db: peewee.Database, now: datetime) -> list[tuple[PageInFlight, Recovery]]:
    """Every row its sender had handed to the provider when it died (SCHEDULED, `sending_since`
    set), changed as `recover` says and logged on its incident, in one transaction; rows that
    completed or were never handed out are not touched. Run by a leader before it re-arms pages."""
    model = m.Notification
    found: list[tuple[PageInFlight, Recovery]] = []
    with write_transaction(db):
        rows = list(model.select().where((model.status == "SCHEDULED") & model.sending_since.is_null(False))
                    .order_by(model.id))
        entries: list[tuple[int, LogEntry]] = []
        for row in rows:
            page = PageInFlight(row.id, row.incident_id, row.kind, row.method, row.target, row.user_id,
                                row.due_at, row.attempts, bool(row.resent))
            recovery = recover(page, now)
            model.update(**recovery.changes).where(model.id == row.id).execute()
            if row.incident_id is not None:
                entries.append((row.incident_id, recovery.entry))
            found.append((page, recovery))
        log_about_pages(entries, now)
    return found


def last_sent(now: datetime, windows: Mapping[str, timedelta]) -> dict[str, dict[str, datetime]]:
    """When each contact of each method in `windows` last got a message within that method's
    throttle window (throttling across a restart): one read for every channel actor of a start.
    A send stamped later than `now` (the wall clock stepped back since) is read as made now, as
    `throttle_until` counts it."""
    if not windows:
        return {}
    query = (
        m.Notification.select(m.Notification.method, m.Notification.target,
                              peewee.fn.MAX(m.Notification.sent_at))
        .where(m.Notification.sent_at >= now - max(windows.values()))
        .group_by(m.Notification.method, m.Notification.target)
        .tuples()
    )
    field = m.Notification.sent_at
    sent: dict[str, dict[str, datetime]] = {method: {} for method in windows}
    for method, target, at in query:
        when = field.python_value(at) if at else None
        if method in windows and when is not None and when >= now - windows[method]:
            sent[method][target] = min(when, now)
    return sent
