"""The forwarded-request table: the writes a follower took, queued for the leader, and its answers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ilertd.store import models as m
from ilertd.store.db import is_sqlite
from ilertd.store.outbox import last_sent_seq
from ilertd.store.reader import Reader

# The NOTIFY channel that wakes the leader's relay when a follower queues a request.
CHANNEL = "ilertd_forwarded"


@dataclass(frozen=True)
class Forwarded:
    id: int
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    client: str
    body: bytes
    # How far sending had got when the follower took it (None: queued before that was kept).
    last_sent_seq: int | None = None


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def enqueue(node: str, method: str, path: str, query: str, headers: list[tuple[str, str]], client: str,
            body: bytes, is_event: bool, now: datetime) -> int:
    """Store the request (durable once this returns) and wake the leader. It keeps how far sending
    had got: a reply in it answers the pages handed out by then, however long it waits for a leader."""
    db = m.ForwardedRequest._meta.database
    with db.atomic():
        sent = last_sent_seq(Reader(db))
        request_id = m.ForwardedRequest.insert(
            node=node, method=method, path=path, query=query, headers=[list(h) for h in headers],
            # The client's address as the proxy headers gave it: a column of 64, and only logged.
            client=client[:64], body=body, is_event=is_event, received_at=now,
            # 0 when nothing has been sent: every page sent later came after it.
            last_sent_seq=sent if sent is not None else 0,
        ).execute()
        if not is_sqlite(db):
            # Delivered at COMMIT, and only then: the leader never looks for a row it cannot see.
            db.execute_sql("SELECT pg_notify(%s, %s)", (CHANNEL, str(request_id)))
    return int(request_id)


def answer_of(request_id: int) -> tuple[bool, Answer | None]:
    """(claimed by a leader, its answer once there is one)."""
    row = (m.ForwardedRequest.select(m.ForwardedRequest.claimed_by, m.ForwardedRequest.status,
                                     m.ForwardedRequest.response_headers, m.ForwardedRequest.response_body)
           .where(m.ForwardedRequest.id == request_id).first())
    if row is None:
        return False, None
    if row.status is None:
        return row.claimed_by is not None, None
    return True, Answer(row.status, [(k, v) for k, v in row.response_headers or []],
                        bytes(row.response_body or b""))


def withdraw(request_id: int) -> bool:
    """Take back a request no leader has claimed: True when it is gone unseen."""
    return bool(m.ForwardedRequest.delete().where(
        (m.ForwardedRequest.id == request_id) & m.ForwardedRequest.claimed_by.is_null()).execute())


def forget(request_id: int) -> None:
    m.ForwardedRequest.delete().where(m.ForwardedRequest.id == request_id).execute()


def claim(node: str, now: datetime, limit: int = 64) -> list[Forwarded]:
    """The oldest unclaimed requests, now this node's (PostgreSQL: other leaders' claims skipped)."""
    db = m.ForwardedRequest._meta.database
    cursor = db.execute_sql(
        "UPDATE forwarded_request SET claimed_by = %s, claimed_at = %s WHERE id IN ("
        " SELECT id FROM forwarded_request WHERE claimed_by IS NULL ORDER BY id LIMIT %s"
        " FOR UPDATE SKIP LOCKED)"
        " RETURNING id, method, path, query, headers, client, body, last_sent_seq",
        (node, m.ForwardedRequest.claimed_at.db_value(now), limit))
    rows = sorted(cursor.fetchall())
    headers = m.ForwardedRequest.headers
    return [Forwarded(row[0], row[1], row[2], row[3], [(k, v) for k, v in headers.python_value(row[4])],
                      row[5], bytes(row[6]), row[7]) for row in rows]


def answer(request_id: int, status: int, headers: list[tuple[str, str]], body: bytes, now: datetime) -> None:
    m.ForwardedRequest.update(status=status, response_headers=[list(h) for h in headers],
                              response_body=body, answered_at=now).where(
        m.ForwardedRequest.id == request_id).execute()


def take_over(abandoned: tuple[int, dict[str, Any]], now: datetime) -> tuple[int, int]:
    """A new leader's look, before it claims anything, at what earlier leaders claimed and did not
    answer (a restarted node may have its old name: every claim is an earlier one): events go back
    in the queue (their 202 was a promise); any other request gets `abandoned` (status, body), since
    carrying it out twice could do twice what was asked. Returns (events re-queued, answered)."""
    unanswered = m.ForwardedRequest.claimed_by.is_null(False) & m.ForwardedRequest.status.is_null()
    requeued = m.ForwardedRequest.update(claimed_by=None, claimed_at=None).where(
        unanswered & m.ForwardedRequest.is_event).execute()
    status, body = abandoned
    answered = m.ForwardedRequest.update(
        status=status, response_headers=[["content-type", "application/json"]],
        response_body=json.dumps(body).encode(), answered_at=now,
    ).where(unanswered & ~m.ForwardedRequest.is_event).execute()
    return int(requeued), int(answered)


def prune(before: datetime) -> int:
    """Answers nobody fetched (a queued event's, a follower that died waiting) are kept a while."""
    return int(m.ForwardedRequest.delete().where(m.ForwardedRequest.answered_at < before).execute())


def pending_count() -> int:
    return int(m.ForwardedRequest.select().where(m.ForwardedRequest.status.is_null()).count())
