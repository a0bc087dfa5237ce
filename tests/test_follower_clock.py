"""A follower under --manual-clock reads the shared time before each request: with the store down
that read fails, and the request goes on to the application, which answers it as on a real clock
(503 STORE_UNAVAILABLE with Retry-After, /healthz's JSON with a reason), not a plain-text 500."""

from __future__ import annotations

import peewee
import psycopg2

from ilertd.web.follower import FollowerGate
from tests.asgi_client import EventLoopThread, asgi_client
from tests.inprocess import InProcessDaemon


def store_gone() -> None:
    """What reading the shared clock raises while PostgreSQL is down (peewee wraps psycopg2's)."""
    try:
        raise psycopg2.OperationalError("connection to server at 127.0.0.1 failed: Connection refused")
    except psycopg2.OperationalError as error:
        raise peewee.OperationalError(str(error)) from error


def not_the_store() -> None:
    raise RuntimeError("a bug")


def test_a_follower_whose_shared_clock_cannot_be_read_answers_as_the_application_does(
    app: InProcessDaemon,
) -> None:
    assert app.daemon.web_app is not None
    gate = FollowerGate(app.daemon.web_app, lambda: False, "follower:1", 1 << 20, follow_clock=store_gone)
    loop = EventLoopThread()
    try:
        client = asgi_client(gate, loop, app.url)
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json()["role"] == "leader", health.text
        listed = client.get("/api/incidents", headers={"Authorization": f"Bearer {app.admin_token}"})
        assert listed.status_code == 200, listed.text
        # Anything else the clock's read raises is a bug, not the store: it is not hidden.
        failing = asgi_client(FollowerGate(app.daemon.web_app, lambda: False, "follower:1", 1 << 20,
                                           follow_clock=not_the_store), loop, app.url)
        assert failing.get("/healthz").status_code == 500
    finally:
        loop.close()

