"""A leader that lost its lock hands no page to a provider from that moment: its fence closes at
once (the lock's session ended, or it is found ended before the next provider call), its queued
batches are dropped, and the rows it did not hand over stay for the next leader. A leader that
stalls past its lease (its row not refreshed) has its lock session ended by a follower, which
takes over; `ilertd status` names such a holder as stalled."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
import pytest

from ilertd.daemon import Daemon
from ilertd.leadership import LEASE_SECONDS, Leadership
from ilertd.node_status import leader_line
from ilertd.store.db import PG_LOCK_ID
from ilertd.store.nodes import LockHolder, NodeRow
from tests.conditions import wait_for
from tests.conftest import paging_with
from tests.inprocess import InProcessDaemon
from tests.paging import Paging


@pytest.fixture
def postgres_paging(tmp_path: Path, postgres_url: str,
                    make_app: Callable[..., InProcessDaemon]) -> Iterator[Paging]:
    env = {"ILERTD_DATABASE_URL": postgres_url}
    with paging_with(tmp_path, lambda config: make_app(config=config, env=env).start()) as ready:
        yield ready


def statuses(paging: Paging, incident_id: int) -> list[tuple[str, str]]:
    return sorted((r["target"], r["status"]) for r in paging.notifications(incident_id))


def refused_while_deposed(paging: Paging) -> None:
    """A deposed node's writes are refused (its committer asks the fence): an event is a 503,
    nothing is stored, nobody is paged."""
    reply = paging.daemon.event(summary="db2 is down", alertKey="db2")
    assert reply.status_code == 503 and reply.json()["code"] == "STORE_UNAVAILABLE", reply.text
    paging.daemon.advance("PT0S")
    assert paging.smtp.messages == []


def test_a_closed_fence_sends_nothing_and_the_rows_wait_for_the_next_leader(app_paging: Paging) -> None:
    ann, bob = app_paging.user("ann"), app_paging.user("bob")
    app_paging.policy([(5, [ann, bob])])
    daemon = app_paging.daemon
    assert isinstance(daemon, InProcessDaemon)
    assert daemon.daemon.runtime is not None
    daemon.daemon.runtime.fence.close()  # as the leadership does when its lock's session ends
    # The channels' side alone: the committer, which asks the same fence, is let write here so
    # that the incident and its pages exist (refused_while_deposed covers the committer's side).
    daemon.daemon.runtime.committer.guard_with(lambda: True)
    incident_id = app_paging.alert()
    daemon.advance("PT0S")
    assert app_paging.smtp.messages == []
    assert statuses(app_paging, incident_id) == [("ann@example.com", "SCHEDULED"),
                                                 ("bob@example.com", "SCHEDULED")]
    # The next leader (here: the same store, started again) sends each once.
    daemon.stop()
    daemon.start()
    daemon.advance("PT0S")
    assert sorted(m["To"] for m in app_paging.smtp.messages) == ["ann@example.com", "bob@example.com"]
    assert statuses(app_paging, incident_id) == [("ann@example.com", "SUCCESS"),
                                                 ("bob@example.com", "SUCCESS")]


def leader_paging_ann(paging: Paging) -> tuple[InProcessDaemon, Daemon]:
    """The in-process daemon (and the daemon inside it, with its runtime) whose one level pages
    ann after 5 minutes."""
    daemon = paging.daemon
    assert isinstance(daemon, InProcessDaemon)
    inner = daemon.daemon
    assert inner.runtime is not None
    ann = paging.user("ann")
    paging.policy([(5, [ann])])
    return daemon, inner


def test_a_leader_whose_lock_session_ends_is_fenced_before_its_next_provider_call(
    postgres_paging: Paging, postgres_url: str,
) -> None:
    daemon, inner = leader_paging_ann(postgres_paging)
    assert inner.leadership is not None and inner.leadership.leading
    connection = psycopg2.connect(postgres_url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = %s"
                           " AND granted AND database = (SELECT oid FROM pg_database"
                           " WHERE datname = current_database())", (PG_LOCK_ID,))
            (pid,) = cursor.fetchone()
            # What a DBA, an idle timeout or a restart of PostgreSQL does to the lock's session.
            cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))

            def session_gone() -> bool:
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
                return cursor.fetchone()[0] == 0

            wait_for(session_gone, "the lock's session to end")
    finally:
        connection.close()
    # At once, not at the watcher's next round: the next provider call would already be refused.
    assert not inner.runtime.fence.holds()
    wait_for(inner.stop_requested.is_set, "the daemon to stop")
    assert inner.exit_code == 1
    assert "stops leading at once" in daemon.log()
    # It commits nothing more: an event is refused (it is the next leader's to take), and nobody
    # is paged from here.
    refused_while_deposed(postgres_paging)


def test_a_follower_deposes_a_lock_holder_silent_past_the_lease_and_the_holder_sends_nothing(
    postgres_paging: Paging, postgres_url: str,
) -> None:
    daemon, inner = leader_paging_ann(postgres_paging)
    assert inner.leadership is not None and inner.db is not None
    # The leader stalls (SIGSTOP, a hang): its lock session stays open, its row is no longer
    # refreshed. Here its watcher stops and its row is made older than the lease.
    inner.leadership.stop_watching()
    connection = psycopg2.connect(postgres_url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE node SET last_seen = last_seen - %s * interval '1 second'"
                           " WHERE name = %s", (LEASE_SECONDS + 5, inner.node))
            assert cursor.rowcount == 1
    finally:
        connection.close()
    follower = Leadership(inner.db, "stand-in:1", lambda: None, lambda: None)
    try:
        assert wait_for(follower.follow, "the follower to take the lock")
        assert f"{inner.node} holds the lock but has not been seen for" in daemon.log()
        # The stalled node runs again: it finds itself deposed before its next provider call.
        assert not inner.runtime.fence.holds()
        refused_while_deposed(postgres_paging)
    finally:
        follower.release()


def test_status_names_a_lock_holder_not_seen_for_a_while_as_stalled() -> None:
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    started = now - timedelta(hours=1)
    stalled = NodeRow("db1:8080", "leader", started, now - timedelta(seconds=12))
    follower = NodeRow("db2:8080", "follower", started, now - timedelta(seconds=1))
    holder = LockHolder(4242, "db1:8080")
    line, acting = leader_line([stalled, follower], holder, stalled, now)
    assert not acting
    assert line == ("leader: none acting: db1:8080 holds the lock but has not been seen for 12 s"
                    " (stalled); a follower ends its session once it has been silent for 15 s")
    fresh = NodeRow("db1:8080", "leader", started, now - timedelta(seconds=2))
    assert leader_line([fresh, follower], holder, fresh, now) == ("leader: db1:8080", True)
    # Gone from the list (silent past 15 s) yet holding the lock: still named, still stalled.
    old = NodeRow("db1:8080", "leader", started, now - timedelta(seconds=40))
    assert leader_line([follower], holder, old, now)[0].startswith(
        "leader: none acting: db1:8080 holds the lock but has not been seen for 40 s")
    assert leader_line([follower], None, None, now) == (
        "leader: none (no node holds the lock: a follower takes it within seconds)", False)
