"""A URL with a trailing slash: every route that takes events takes it as itself (the Event API's,
a tool's, PagerDuty's, Twilio's texts, a plugin's), on a follower too; nothing of the API is ever a
redirect, and a UI page's redirect stays under public_url's path whatever the Host header says."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ilertd.channels.twilio_voice import twilio_signature
from ilertd.web.fastpath import BodyFastPath
from ilertd.web.follower import FollowerGate, event_route_of
from tests import integration_helpers as helpers
from tests.inprocess import InProcessDaemon
from tests.test_pagerduty import trigger
from tests.test_plugins_and_cli import entry_point_installer

HOST = "oncall.example.com"
PREFIX = "/oncall"
PUBLIC_URL = f"https://{HOST}{PREFIX}"
TWILIO_TOKEN = "twilio-secret"
NUMBER = "+4930123456789"
# A client may set any Host header: a redirect built from it sent the alert (and its token) there.
EVIL = {"Host": "evil.example"}


@pytest.fixture
def proxied(make_app: Callable[..., InProcessDaemon]) -> InProcessDaemon:
    """Served under a proxy's sub-path, with Twilio's texts signed (by the URL Twilio was given)."""
    return make_app(env={"ILERTD_SERVER_PUBLIC_URL": PUBLIC_URL,
                         "ILERTD_TWILIO_AUTH_TOKEN": TWILIO_TOKEN}).start()


def gate_of(app: InProcessDaemon) -> FollowerGate:
    """The application under public_url's path: the follower's gate (in front of the fast path)."""
    gate = app.web_app if isinstance(app.web_app, FollowerGate) else app.web_app.app
    assert isinstance(gate, FollowerGate)
    return gate


def opened(app: InProcessDaemon) -> list[str]:
    return sorted(incident["summary"] for incident in helpers.incidents(app))


@pytest.mark.parametrize("passed_on", [True, False], ids=["proxy-passes-the-path", "proxy-strips-it"])
def test_every_event_route_takes_its_url_with_a_trailing_slash_as_itself(
    proxied: InProcessDaemon, passed_on: bool,
) -> None:
    """It was a 307 to `http://<Host header>/api/events` (public_url's path and scheme gone):
    `curl -fsS` exited 0 on it, Go's clients followed it to a path the proxy does not route."""
    app = proxied
    base = PUBLIC_URL if passed_on else f"https://{HOST}"
    helpers.new_source(app, "SMS", phoneNumber=NUMBER)
    grafana_key = helpers.new_source(app, "GRAFANA")

    def post(path: str, **kwargs: Any) -> Any:
        reply = app.client.post(base + path, follow_redirects=False, **kwargs)
        assert reply.status_code in (200, 202) and "location" not in reply.headers, (path, reply.text)
        return reply

    event = {"integrationKey": app.integration_key, "eventType": "ALERT"}
    for path in ("/api/events/", "/api/v1/events/"):
        reply = post(path, json={**event, "summary": f"sent to {path}"}, headers=EVIL)
        assert reply.json()["responseCode"] == "NEW_INCIDENT_CREATED", reply.text
    post(f"/api/v1/events/grafana/{grafana_key}/", content=helpers.fixture_bytes("grafana_firing.json"),
         headers=helpers.JSON_HEADERS)
    assert post("/v2/enqueue/", json=trigger(app.integration_key)).json()["status"] == "success"
    # Twilio signs the URL it was given, slash and all: the text is checked against that one.
    form = {"MessageSid": "SM1", "From": "+4915199999999", "To": NUMBER, "Body": "pump 3 flooding"}
    signature = twilio_signature(TWILIO_TOKEN, f"{PUBLIC_URL}/api/v1/twilio/sms/", form)
    texted = post("/api/v1/twilio/sms/", data=form, headers={"X-Twilio-Signature": signature})
    assert "<Response/>" in texted.text
    assert opened(app) == sorted(["sent to /api/events/", "sent to /api/v1/events/", "db1 disk 95%",
                                  "pump 3 flooding", "CPU above 90% on web-1:9100",
                                  "CPU above 90% on web-2:9100"])


def test_the_fast_path_and_a_follower_take_the_trailing_slash_as_the_event_route(
    app: InProcessDaemon,
) -> None:
    gate = gate_of(app)
    fast = gate.app
    assert isinstance(fast, BodyFastPath)
    assert fast.handlers["/api/events/"] is fast.handlers["/api/events"]
    assert fast.handlers["/api/v1/events/"] is fast.handlers["/api/v1/events"]

    def event(method: str, path: str) -> bool:
        scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
        return event_route_of(scope, gate.event_routes) is not None

    for path in ("/api/events/", "/api/v1/events/", "/api/v1/events/grafana/k1/", "/v2/enqueue/",
                 "/api/v1/twilio/sms/", "/api/v1/heartbeats/k1/"):
        assert event("POST", path), path
    for method, path in (("POST", "/api/users/"), ("GET", "/api/v1/events/grafana/k1/"),
                         ("POST", "/api/events//"), ("POST", "/api/v1/twilio/voice/12/gather/")):
        assert not event(method, path), (method, path)


def test_no_api_request_is_answered_with_a_redirect(proxied: InProcessDaemon) -> None:
    """Every other mistyped path is the envelope's 404 (saying the path without the slash is one),
    not a redirect to the Host header's host without public_url's path."""
    app = proxied
    for method, path in (("POST", "/api/users/"), ("GET", "/api/incidents/"), ("GET", "/healthz/"),
                         ("POST", "/api/events//")):
        reply = app.client.request(method, PUBLIC_URL + path, headers={**EVIL, **app.auth()},
                                   follow_redirects=False)
        assert (reply.status_code, reply.json()["code"]) == (404, "NOT_FOUND"), (path, reply.text)
        assert "location" not in reply.headers, path
    # An event route's twin is the route itself: another method is its 405, as without the slash.
    wrong = app.client.get(PUBLIC_URL + "/api/v1/events/grafana/k1/", headers=EVIL, follow_redirects=False)
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "POST")
    hinted = app.client.get(PUBLIC_URL + "/api/incidents/", headers=app.auth())
    assert hinted.json()["message"] == "no such path; without the trailing slash it is one: /api/incidents"
    nothing = app.client.get(PUBLIC_URL + "/api/nothing/", headers=app.auth())
    assert nothing.json()["message"] == "no such path"
    # The document lists each route once: its trailing-slash twin is no route of its own.
    paths = app.client.get("/api/openapi.json").json()["paths"]
    assert "/api/events" in paths and not [p for p in paths if p.endswith("/")
                                            and p != "/api/v1/heartbeats/{key}/"]


@pytest.mark.parametrize("passed_on", [True, False], ids=["proxy-passes-the-path", "proxy-strips-it"])
def test_a_ui_pages_trailing_slash_redirects_under_the_public_path_whatever_the_host(
    proxied: InProcessDaemon, passed_on: bool,
) -> None:
    base = PUBLIC_URL if passed_on else f"https://{HOST}"
    reply = proxied.client.get(f"{base}/ui/incidents/?status=PENDING", headers=EVIL, follow_redirects=False)
    assert reply.status_code == 307, reply.text
    assert reply.headers["location"] == f"{PREFIX}/ui/incidents?status=PENDING"
    missing = proxied.client.get(f"{base}/ui/nothing/", headers=EVIL, follow_redirects=False)
    assert missing.status_code == 404 and "location" not in missing.headers


def test_without_a_public_path_the_host_header_names_nothing(app: InProcessDaemon) -> None:
    event = {"integrationKey": app.integration_key, "eventType": "ALERT", "summary": "plain"}
    reply = app.client.post("/api/events/", json=event, headers=EVIL, follow_redirects=False)
    assert reply.status_code == 202 and reply.json()["responseCode"] == "NEW_INCIDENT_CREATED"
    page = app.client.get("/ui/on-call/", headers=EVIL, follow_redirects=False)
    assert (page.status_code, page.headers["location"]) == (307, "/ui/on-call")


def test_a_plugins_event_routes_take_the_trailing_slash_and_its_other_routes_do_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
    make_app: Callable[..., InProcessDaemon],
) -> None:
    """The contract of plugin_routes: a BodyRoute (unless `events=False`) and a route marked
    `takes_events` take `PATH/` as PATH, on the fast path and on a follower alike."""
    entry_point_installer(tmp_path, monkeypatch, request, "tests.test_follower_events")(
        thirdparty="THIRD_PARTY")
    app = make_app(env={"ILERTD_SERVER_PUBLIC_URL": PUBLIC_URL}).start()
    for path in ("/thirdparty/events/", "/thirdparty/alert/k1/"):
        taken = app.client.post(PUBLIC_URL + path, content=b"disk full", follow_redirects=False)
        assert (taken.status_code, taken.json()) == (202, {"taken": True}), (path, taken.text)
    for path in ("/thirdparty/settings/", "/thirdparty/note/"):
        refused = app.client.post(PUBLIC_URL + path, content=b"{}", headers=EVIL, follow_redirects=False)
        assert (refused.status_code, refused.json()["code"]) == (404, "NOT_FOUND"), (path, refused.text)
    gate = gate_of(app)
    assert "/thirdparty/events/" in gate.app.handlers  # type: ignore[attr-defined]
    for path, event in (("/thirdparty/events/", True), ("/thirdparty/alert/k1/", True),
                        ("/thirdparty/texts/", True), ("/thirdparty/note/", False)):
        scope = {"type": "http", "method": "POST", "path": path, "root_path": "", "headers": []}
        assert (event_route_of(scope, gate.event_routes) is not None) == event, path


def test_a_plugins_event_routes_inside_a_mount_take_the_trailing_slash_and_a_follower_sees_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
    make_app: Callable[..., InProcessDaemon],
) -> None:
    """A route marked within a Mount that is not marked itself got no `PATH/` of its own (the
    Mount's router redirected it, to the Host header's host) and a follower took a request to it
    for any other write: 503 NOT_LEADER while no node leads, the tool's alert lost."""
    entry_point_installer(tmp_path, monkeypatch, request, "tests.test_follower_events")(
        thirdparty="THIRD_PARTY")
    app = make_app(env={"ILERTD_SERVER_PUBLIC_URL": PUBLIC_URL}).start()
    for path in ("/thirdparty/mounted/alert/k1/", "/thirdparty/mounted/deeper/events/"):
        taken = app.client.post(PUBLIC_URL + path, content=b"disk full", headers=EVIL, follow_redirects=False)
        assert (taken.status_code, taken.json()) == (202, {"taken": True}), (path, taken.text)
    refused = app.client.post(PUBLIC_URL + "/thirdparty/mounted/note/", content=b"{}", headers=EVIL,
                              follow_redirects=False)
    assert (refused.status_code, refused.json()["code"]) == (404, "NOT_FOUND"), refused.text
    gate = gate_of(app)
    for path, event in (("/thirdparty/mounted/alert/k1", True), ("/thirdparty/mounted/alert/k1/", True),
                        ("/thirdparty/mounted/deeper/events", True),
                        ("/thirdparty/mounted/deeper/events/", True),
                        ("/thirdparty/mounted/note", False), ("/thirdparty/mounted/other", False)):
        scope = {"type": "http", "method": "POST", "path": path, "root_path": "", "headers": []}
        assert (event_route_of(scope, gate.event_routes) is not None) == event, path
