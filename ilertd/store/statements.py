"""Prepared SQL for the hot write path: incident rows, events and log entries as parameter tuples.

Building an UPDATE through the ORM costs more than running it; these statements are rendered
once per database and executed in batches: inserts as multi-row statements, updates with
`executemany`.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Hashable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import peewee

from ilertd.domain.pages_in_flight import FailedAttempt
from ilertd.store import models as m
from ilertd.store.db import is_sqlite
from ilertd.store.fields import JSONField, UTCDateTimeField, is_plain

# Execution order inside one batch: rows must exist before rows that reference them.
(INSERT_INCIDENT, UPDATE_INCIDENT, INSERT_EVENT, INSERT_LOG,
 INSERT_NOTIFICATION, UPDATE_NOTIFICATION) = range(6)
# Runs exactly where it was submitted: nothing after it moves before it, nothing before after.
BARRIER = 100


# Instants whose text is kept (a storm's deadlines are each their own: the map starts again).
INSTANTS_KEPT = 256

# Bound parameters per statement: SQLite's limit from 3.32 on (PostgreSQL's is 65,535).
MAX_PARAMS = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999


def is_insert(sql: str) -> bool:
    """A plain `INSERT INTO t (...) VALUES (...)`: nothing after its one row of values."""
    _, found, values = sql.partition(" VALUES ")
    return (sql.startswith("INSERT INTO ") and bool(found) and values.startswith("(")
            and values.endswith(")") and values.count("(") == 1)


def multi_row_inserts(sql: str, rows: Sequence[tuple[Any, ...]]) -> Iterator[tuple[str, list[Any]]]:
    """One `INSERT ... VALUES (...)` for many rows, as few statements as the parameter limit allows;
    rows keep their order, so ids are given in the order `executemany` would give them."""
    head, _, values = sql.partition(" VALUES ")
    per_statement = max(1, MAX_PARAMS // max(1, len(rows[0])))
    for start in range(0, len(rows), per_statement):
        chunk = rows[start:start + per_statement]
        yield f"{head} VALUES {', '.join([values] * len(chunk))}", [v for row in chunk for v in row]


# The columns of a statement by name, each with how its value is converted (None: as it is).
Plan = tuple[tuple[str, Callable[[Any], Any] | None], ...]


class Statement(NamedTuple):
    """One statement of a write: a tuple, built several times per page and event (0.37 µs
    against 0.64 µs for a frozen dataclass)."""

    kind: int
    sql: str
    params: tuple[Any, ...]


class Statements:
    """SQL strings for one database, and the conversion of values into its parameters."""

    def __init__(self, db: peewee.Database) -> None:
        self.sqlite = is_sqlite(db)
        param = db.param
        self.incident_fields = [f for f in m.Incident._meta.sorted_fields]
        self.event_fields = [f for f in m.Event._meta.sorted_fields if f.name != "id"]
        self.log_fields = [f for f in m.LogEntry._meta.sorted_fields if f.name != "id"]
        # A page's row leaves what only a shift reminder has (its schedule, rule and shift) NULL.
        self.notification_fields = [f for f in m.Notification._meta.sorted_fields
                                    if f.name not in ("schedule_id", "rule_id", "shift_start", "shift_end",
                                                      "sending_since", "resent", "sent_seq",
                                                      "first_sent_seq")]
        self.notification_by_name = {f.name: f for f in m.Notification._meta.sorted_fields}

        def insert(model: type[m.BaseModel], fields: list[peewee.Field]) -> str:
            columns = ", ".join(f.column_name for f in fields)
            values = ", ".join(param for _ in fields)
            return f"INSERT INTO {model._meta.table_name} ({columns}) VALUES ({values})"

        self.param = param
        self.by_name = {f.name: f for f in self.incident_fields}
        self.insert_incident = insert(m.Incident, self.incident_fields)
        self.insert_event = insert(m.Event, self.event_fields)
        self.insert_log = insert(m.LogEntry, self.log_fields)
        self.insert_notification = insert(m.Notification, self.notification_fields)
        # One log entry per page about to be cancelled, before the cancelling UPDATE: "not sent"
        # for those not yet handed to their provider, "already being sent" for those that were
        # (`sending_since`): the provider may deliver them, and their NOTIFICATION_SENT follows.
        self.log_cancelled_sql = (
            "INSERT INTO log_entry (incident_id, timestamp, log_entry_type, text, user_id, channel)"
            f" SELECT incident_id, {param}, CASE WHEN sending_since IS NULL THEN 'NOTIFICATION_CANCELLED'"
            " ELSE 'NOTIFICATION_IN_FLIGHT' END, method || ' to ' || target || CASE WHEN sending_since"
            f" IS NULL THEN ' not sent: the incident was ' || {param} ELSE ' was already being sent"
            f" when the incident was ' || {param} || ': it may still arrive, and is not sent again' END,"
            " user_id, method FROM notification"
            f" WHERE incident_id = {param} AND status = 'SCHEDULED' AND kind = 'ALERT' ORDER BY id"
        )
        self.cancel_pages_sql = (
            f"UPDATE notification SET status = 'CANCELLED' WHERE incident_id = {param}"
            f" AND status = 'SCHEDULED' AND kind = 'ALERT'"
        )
        # A failed attempt's entry, its words picked by the row's status as the outcome commits:
        # a page cancelled while its provider had it is not retried (see FailedAttempt).
        self.log_failed_attempt_sql = (
            "INSERT INTO log_entry (incident_id, timestamp, log_entry_type, text, user_id, channel)"
            f" SELECT notification.incident_id, {param}, {param}, CASE WHEN notification.status"
            f" <> 'CANCELLED' THEN {param} WHEN incident.status = 'ACCEPTED' THEN {param}"
            f" WHEN incident.status = 'RESOLVED' THEN {param} ELSE {param} END, notification.user_id,"
            " notification.method FROM notification JOIN incident ON incident.id = notification.incident_id"
            f" WHERE notification.id = {param}"
        )
        self._updates: dict[tuple[str, ...], str] = {}
        self._instant_text: dict[datetime, str] = {}
        # Integers and strings go to the driver as they are (see is_plain); by id, because a
        # peewee field hashes in Python code.
        self._plain = {id(f) for model in (m.Incident, m.Event, m.LogEntry, m.Notification)
                       for f in model._meta.sorted_fields if is_plain(f)}
        self._plans: dict[Hashable, Plan] = {}
        self.incident_plan = self._plan("incident", lambda: self.incident_fields)
        self.event_plan = self._plan("event", lambda: self.event_fields)
        self.log_plan = self._plan("log", lambda: self.log_fields)
        self.notification_plan = self._plan("notification", lambda: self.notification_fields)

    def value(self, field: peewee.Field, value: Any) -> Any:
        """`value` as this database stores it in `field`'s column."""
        if isinstance(field, UTCDateTimeField) and isinstance(value, datetime):
            return self._instant(value)
        value = field.db_value(value)
        if self.sqlite and isinstance(value, datetime):
            # The text peewee itself writes for a DateTimeField, without sqlite3's default
            # datetime adapter (deprecated since Python 3.12).
            return value.isoformat(sep=" ")
        return value

    def _instant(self, value: datetime) -> Any:
        """An instant as UTCDateTimeField.db_value stores it, without its generic checks. The
        rows of one event share its instant (the incident, the event, its log entries), so the
        text of the instants seen last is kept: 0.07 µs a repeat against 1.5 µs to convert."""
        text = self._instant_text.get(value)
        if text is not None:
            return text
        converted = value
        if converted.tzinfo is not None:
            converted = converted.astimezone(UTC).replace(tzinfo=None)
        if not self.sqlite:
            return converted
        if len(self._instant_text) >= INSTANTS_KEPT:
            self._instant_text.clear()
        self._instant_text[value] = text = converted.isoformat(sep=" ")
        return text

    def _converter(self, field: peewee.Field) -> Callable[[Any], Any] | None:
        # NULL is NULL in every column (peewee's db_value passes None through), and most of an
        # open incident's instants are still None: no conversion called for them.
        if id(field) in self._plain:
            return None
        if isinstance(field, UTCDateTimeField):
            instant = self._instant
            return lambda value: (instant(value) if isinstance(value, datetime)
                                  else value if value is None else self.value(field, value))
        if isinstance(field, JSONField):
            return field.db_value  # text or None already: Statements.value's checks find nothing to do
        convert = functools.partial(self.value, field)
        return lambda value: value if value is None else convert(value)

    def _plan(self, key: Hashable, fields: Callable[[], Sequence[peewee.Field]]) -> Plan:
        """Each field's name and how its value is converted (None: passed as it is), worked out
        once per list of fields: per value, the checks cost more than the conversions."""
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = tuple((f.name, self._converter(f)) for f in fields())
        return plan

    @staticmethod
    def _params(plan: Plan, row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple([row[name] if convert is None else convert(row[name]) for name, convert in plan])

    def insert_incident_row(self, row: dict[str, Any]) -> Statement:
        return Statement(INSERT_INCIDENT, self.insert_incident, self._params(self.incident_plan, row))

    def update_incident_row(self, before: dict[str, Any], after: dict[str, Any]) -> Statement | None:
        """An UPDATE of just the columns that changed (most events change only eventCount)."""
        names = tuple(name for name, value in after.items() if name != "id" and before.get(name) != value)
        if not names:
            return None
        sql = self._updates.get(names)
        if sql is None:
            assignments = ", ".join(f"{self.by_name[n].column_name} = {self.param}" for n in names)
            sql = self._updates[names] = f"UPDATE incident SET {assignments} WHERE id = {self.param}"
        plan = self._plan(names, lambda: [self.by_name[n] for n in names])
        return Statement(UPDATE_INCIDENT, sql, (*self._params(plan, after), after["id"]))

    def event(self, row: dict[str, Any]) -> Statement:
        return Statement(INSERT_EVENT, self.insert_event, self._params(self.event_plan, row))

    def log(self, row: dict[str, Any]) -> Statement:
        return Statement(INSERT_LOG, self.insert_log, self._params(self.log_plan, row))


    def notification(self, row: dict[str, Any]) -> Statement:
        params = self._params(self.notification_plan, row)
        return Statement(INSERT_NOTIFICATION, self.insert_notification, params)

    def update_notification(self, notification_id: int, changes: dict[str, Any]) -> Statement:
        """The row's `changes`; a row handed to its provider (`sending_since`) also takes the next
        `sent_seq`, and a row stored as sent (`sent_at`) keeps it, or takes the next if it had none;
        either keeps the first it got as `first_sent_seq`."""
        names = tuple(sorted(changes))
        handed_out = changes.get("sending_since") is not None
        sent = changes.get("sent_at") is not None
        numbered = ("+handed_out_seq",) if handed_out else ("+sent_seq",) if sent else ()
        key = ("notification", *names, *numbered)
        sql = self._updates.get(key)
        if sql is None:
            assignments = ", ".join(
                f"{self.notification_by_name[n].column_name} = {self.param}" for n in names
            )
            # Read and written in one statement by the one writer thread of the leader (only it
            # sends; a deposed node's writes are refused), so each value follows the last one
            # stored, on SQLite and on PostgreSQL, across restarts and a failover alike.
            following = "(SELECT COALESCE(MAX(sent_seq), 0) + 1 FROM notification)"
            # The first number a row gets stays with it (`first_sent_seq`): handed out again, it
            # may have reached the phone the first time. (The SET list reads the row as it was.)
            first = f", first_sent_seq = COALESCE(first_sent_seq, sent_seq, {following})"
            if handed_out:
                assignments += f", sent_seq = {following}{first}"
            elif sent:
                # Numbered as handed out: a reply to it while it was being sent (a key pressed
                # on the call) and one after its outcome was stored answer the same page.
                assignments += f", sent_seq = COALESCE(sent_seq, {following}){first}"
            sql = f"UPDATE notification SET {assignments} WHERE id = {self.param}"
            self._updates[key] = sql
        plan = self._plan(("notification", *names), lambda: [self.notification_by_name[n] for n in names])
        return Statement(UPDATE_NOTIFICATION, sql, (*self._params(plan, changes), notification_id))

    def cancel_pages(self, incident_id: int) -> Statement:
        """Accept and resolve cancel every page of the incident not yet sent."""
        return Statement(BARRIER, self.cancel_pages_sql, (incident_id,))

    def reply_code(self, target: str, code: int, incident_id: int, user_id: int, paged_at: datetime
                   ) -> tuple[Statement, Statement]:
        """Give `code` on the phone `target` to the incident (taking it from a resolved one), or
        note that it was paged with it again (its row inserted anew each time)."""
        param = self.param
        at = m.ReplyCode.paged_at.db_value(paged_at)
        return (
            Statement(BARRIER, f"DELETE FROM reply_code WHERE target = {param} AND (code = {param}"
                               f" OR incident_id = {param})", (target, code, incident_id)),
            Statement(BARRIER, f"INSERT INTO reply_code (target, code, incident_id, user_id, paged_at)"
                               f" VALUES ({param}, {param}, {param}, {param}, {param})",
                      (target, code, incident_id, user_id, at)),
        )

    def policy_move_made(self, incident_id: int, edit_id: int) -> Statement:
        """The incident owes no more the move of this edit of its policy, nor of an earlier one."""
        return Statement(BARRIER, f"DELETE FROM policy_move WHERE incident_id = {self.param}"
                                  f" AND edit_id <= {self.param}", (incident_id, edit_id))

    def log_failed_attempt(self, notification_id: int, at: datetime, attempt: FailedAttempt) -> Statement:
        """The log entry of a page's failed attempt: retrying, or, for a page cancelled since it
        was handed to its provider, not retried. A barrier: after the cancel, if it came first."""
        entry = attempt.entry
        return Statement(BARRIER, self.log_failed_attempt_sql,
                         (m.LogEntry.timestamp.db_value(at), entry.log_entry_type, entry.text,
                          attempt.accepted, attempt.resolved, attempt.cancelled, notification_id))

    def log_cancelled_pages(self, incident_id: int, at: datetime, what: str) -> Statement:
        """A log entry for each page `cancel_pages` is about to cancel, saying why (`what`:
        accepted, resolved), or, for one already being sent, that it was too late to stop."""
        return Statement(BARRIER, self.log_cancelled_sql,
                         (m.LogEntry.timestamp.db_value(at), what, what, incident_id))
