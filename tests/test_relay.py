"""The leader's relay on PostgreSQL (in this process): a request a follower stored in the
forwarded-request table is run through the leader's application and answered there; what a dead
leader claimed and never answered is settled by the next one (an event runs again, any other
request is answered LEADER_CHANGED and not carried out)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from ilertd.errors import ApiError
from ilertd.relay import Relay
from ilertd.store import forwarded
from ilertd.store import models as m
from ilertd.store.forwarded import Answer
from tests.inprocess import InProcessDaemon

POSTGRES_URL = os.environ.get("ILERTD_TEST_POSTGRES_URL", "")

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs ILERTD_TEST_POSTGRES_URL (see .ci/run)")


@pytest.fixture
def leader(make_app: Callable[..., InProcessDaemon], postgres_url: str) -> InProcessDaemon:
    """The one node, leading, on a PostgreSQL database of its own."""
    return make_app(env={"ILERTD_DATABASE_URL": postgres_url}).start()


def queue(node: InProcessDaemon, method: str, path: str, body: object, token: str | None = None) -> int:
    """What a follower does with a write: store it as it came."""
    content = json.dumps(body).encode()
    headers = [("content-type", "application/json"), ("content-length", str(len(content)))]
    if token is not None:
        headers.append(("authorization", f"Bearer {token}"))
    return forwarded.enqueue("follower:1", method, path, "", headers, "127.0.0.9", content,
                             path == "/api/events", datetime.now(UTC))


def answer(request_id: int, seconds: float = 10.0) -> Answer:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _claimed, got = forwarded.answer_of(request_id)
        if got is not None:
            return got
        time.sleep(0.02)
    raise AssertionError(f"request {request_id} not answered in {seconds} s")


def test_a_queued_request_is_run_by_the_leader_and_answered_as_it_would_answer(
    leader: InProcessDaemon,
) -> None:
    created = answer(queue(leader, "POST", "/api/users", {"username": "ann", "email": "ann@example.com"},
                           leader.admin_token))
    assert created.status == 201
    assert json.loads(created.body)["username"] == "ann"
    assert ("content-type", "application/json") in created.headers
    assert [u["username"] for u in leader.get("/api/users").json()] == ["admin", "ann"]
    # The leader's refusals come back unchanged: a second ann, no token, an unknown key.
    again = answer(queue(leader, "POST", "/api/users", {"username": "ann", "email": "x@example.com"},
                         leader.admin_token))
    assert again.status == 409 and json.loads(again.body)["code"] == "ALREADY_EXISTS"
    anonymous = answer(queue(leader, "POST", "/api/users", {"username": "bo", "email": "b@example.com"}))
    assert anonymous.status == 401
    event = answer(queue(leader, "POST", "/api/events", {
        "integrationKey": leader.integration_key, "eventType": "ALERT", "summary": "disk", "alertKey": "d"}))
    assert event.status == 202 and json.loads(event.body)["responseCode"] == "NEW_INCIDENT_CREATED"
    unknown = answer(queue(leader, "POST", "/api/events", {
        "integrationKey": "nope", "eventType": "ALERT", "summary": "disk"}))
    assert unknown.status == 404 and json.loads(unknown.body)["code"] == "UNKNOWN_INTEGRATION_KEY"


def test_what_a_dead_leader_claimed_and_never_answered_is_settled_by_the_next(
    leader: InProcessDaemon,
) -> None:
    leader.stop()
    event = queue(leader, "POST", "/api/events", {
        "integrationKey": leader.integration_key, "eventType": "ALERT", "summary": "disk", "alertKey": "d"})
    user = queue(leader, "POST", "/api/users", {"username": "ann", "email": "ann@example.com"},
                 leader.admin_token)
    # Claimed under this node's own name by its earlier life: a restart keeps its `hostname:port`.
    m.ForwardedRequest.update(claimed_by="vm:8020", claimed_at=datetime.now(UTC)).execute()
    leader.start()
    opened = answer(event)
    assert opened.status == 202 and json.loads(opened.body)["responseCode"] == "NEW_INCIDENT_CREATED"
    abandoned = answer(user)
    assert abandoned.status == 503 and json.loads(abandoned.body)["code"] == "LEADER_CHANGED"
    assert [u["username"] for u in leader.get("/api/users").json()] == ["admin"]
    assert [i["alertKey"] for i in leader.get("/api/incidents").json()] == ["d"]
    assert "relay: the last leader left 1 events unanswered (taken again) and 1 other" in leader.log()


def test_the_relay_starts_only_once_the_leader_takes_events(
    leader: InProcessDaemon, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A queued event the relay ran before ingestion worked was answered NOT_READY, though the
    # follower had answered its sender 202: the event was lost.
    ready_at_start: list[bool] = []
    original = Relay.start

    def start(relay: Relay) -> None:
        try:
            leader.daemon.plugins.intake()  # type: ignore[union-attr]
            ready_at_start.append(True)
        except ApiError:
            ready_at_start.append(False)
        original(relay)

    monkeypatch.setattr(Relay, "start", start)
    leader.stop()
    event = queue(leader, "POST", "/api/events", {
        "integrationKey": leader.integration_key, "eventType": "ALERT", "summary": "disk", "alertKey": "d"})
    leader.start()
    assert ready_at_start == [True]
    opened = answer(event)
    assert opened.status == 202 and json.loads(opened.body)["responseCode"] == "NEW_INCIDENT_CREATED"
