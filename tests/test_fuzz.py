"""A bounded fuzz run over every route: malformed JSON, wrong types, deep nesting, lone surrogates,
huge numbers and dates, oversized bodies. Never a 5xx, and a refused request stores nothing.

The requests are drawn once (hypothesis, derandomized) and each route is sent its own
EXAMPLES_PER_ROUTE of them in turn: the draws cost ten times what sending them does, and a
`@given` per route drew the very same examples for every route (its seed is the test function's)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from ilertd.web.app import build_app
from tests.inprocess import InProcessDaemon
from tests.test_input_safety import Snapshots

MAX_BODY = 4096
EXAMPLES_PER_ROUTE = 15
# Field names the API knows, so generated objects reach the validators behind the JSON parser.
FIELDS = [
    "username", "email", "role", "mutedUntil", "timezone", "firstName", "lastName", "content", "level",
    "method", "target", "contact", "delayMin", "type", "beforeMin", "name", "integrationType",
    "escalationPolicy", "priority", "escalationRules", "escalationTimeout", "users", "schedules",
    "repeating", "frequency", "scheduleLayers", "rotation", "startsOn", "endsOn", "restrictions",
    "shifts", "start", "end", "user", "id", "summary", "eventType", "alertKey", "integrationKey", "apiKey",
    "details", "images", "links", "customDetails", "labels", "comments", "routing_key", "event_action",
    "dedup_key", "payload", "severity", "source", "from", "to", "dayOfWeek", "time", "src", "href",
]
ODD_STRINGS = [
    "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+01:00", "2026-01-05T09:00:00Z", "2026-01-05T10:00",
    "P99999999999D", "PT15M", "P1D", "HIGH", "LOW", "EMAIL", "SMS", "ADMIN", "USER", "ALERT", "RESOLVE",
    "COMMENT", "RECURRING", "STATIC", "Europe/Berlin", "MONDAY", "09:00", "trigger", "critical",
    "HIGH_PRIORITY", "ALERT_ACCEPTED", "a@b.c", "+4915100000001", "", " ", "²", "\u0661",
]
HUGE_NUMBERS = [2**63, 2**63 - 1, -(2**63) - 1, 2**64, 10**30, -1, 0, 1, 2, 1e308, -1e-308]


def json_values() -> st.SearchStrategy[Any]:
    text = st.one_of(st.sampled_from(ODD_STRINGS),
                     st.text(st.characters(codec=None, exclude_categories=()), max_size=12))
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.sampled_from(HUGE_NUMBERS),
                        st.floats(allow_nan=True, allow_infinity=True), text)
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.one_of(st.sampled_from(FIELDS), text), children, max_size=6),
        ),
        max_leaves=20,
    )


def encoded(value: Any) -> bytes:
    # ensure_ascii writes lone surrogates as \ud800 escapes; allow_nan writes NaN and Infinity.
    return json.dumps(value, ensure_ascii=True, allow_nan=True).encode()


BODIES = st.one_of(
    json_values().map(encoded),
    st.dictionaries(st.sampled_from(FIELDS), json_values(), min_size=1, max_size=8).map(encoded),
    st.binary(max_size=64),
    st.sampled_from([
        b"", b"{", b"[" * 5000 + b"]" * 5000, b'{"a": ' + b"[" * 80 + b"]" * 80 + b"}",
        b'{"summary": "\\ud800"}', b'{"summary": "\xed\xa0\x80"}', b'{"n": NaN}', b'{"n": 1e400}',
        b"1" * 5000, b"\xff\xfe",
        b'{"a": "' + b"x" * (MAX_BODY + 10) + b'"}',
    ]),
)
ID_SEGMENTS = st.sampled_from(["1", "2", "3", "0", "9223372036854775807", "9223372036854775808",
                               "99999999999999999999999", "x", "-1", "%C2%B2", "1.ics"])
# Action-link tokens: well-formed but unsigned, cut, or nothing like one.
LINK_TOKENS = st.one_of(ID_SEGMENTS, st.sampled_from([
    "1.1.a.EMAIL.9999999999.AAAAAAAAAAAAAAAAAAAAAA", "1.1.a.EMAIL.0.AAAAAAAAAAAAAAAAAAAAAA",
    "99999999999999999999.1.r.PUSH.1.AAAAAAAAAAAAAAAAAAAAAA", "1.1.a", "%00"]))
QUERY = st.dictionaries(
    st.sampled_from(["from", "until", "at", "states", "sources", "start-index", "max-results", "token"]),
    st.one_of(st.sampled_from([*ODD_STRINGS, "PENDING,ACCEPTED", "1,2", "9223372036854775808"]),
              st.text(max_size=10)),
    max_size=3,
)


def seed(app: InProcessDaemon) -> None:
    """One of each thing, so ids 1 and 2 name something and requests reach past 404."""
    user = app.post("/api/users", {"username": "ann", "email": "ann@example.com"}).json()["id"]
    contact = app.post(f"/api/users/{user}/contacts", {"method": "SMS", "target": "+4915100000001"}).json()
    app.post(f"/api/users/{user}/notification-preferences/alerts",
             {"method": "SMS", "contact": {"id": contact["id"]}, "delayMin": 5, "type": "HIGH_PRIORITY"})
    app.post(f"/api/users/{user}/notification-preferences/updates",
             {"method": "SMS", "contact": {"id": contact["id"]}, "type": "ALERT_ACCEPTED"})
    app.post(f"/api/users/{user}/notification-preferences/duties",
             {"method": "SMS", "contact": {"id": contact["id"]}, "beforeMin": 15})
    schedule = app.post("/api/schedules", {
        "name": "primary", "type": "RECURRING", "timezone": "Europe/Berlin",
        "scheduleLayers": [{"name": "days", "users": [{"id": user}], "rotation": "P1D",
                            "startsOn": "2026-01-05T10:00"}]}).json()["id"]
    policy = app.post("/api/escalation-policies", {"name": "ops", "escalationRules": [
        {"escalationTimeout": 10, "users": [{"id": user}], "schedules": [{"id": schedule}]}]}).json()["id"]
    app.put("/api/alert-sources/1", {"escalationPolicy": {"id": policy}})
    assert app.event(summary="down", alertKey="db1").status_code == 202


def concrete(path: str, segments: dict[str, str], app: InProcessDaemon) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "key":
            return app.integration_key if segments["key"] == "1" else segments["key"]
        if name == "type":
            return {"1": "api", "2": "pagerduty"}.get(segments["type"], segments["type"])
        # A path parameter without its own strategy (a word like {kind}) gets an id-like value.
        return segments.get(name, segments["id"])

    return re.sub(r"\{(\w+)(?::\w+)?\}", fill, path)


REQUESTS = st.fixed_dictionaries({
    "body": BODIES,
    "query": QUERY,
    "segments": st.fixed_dictionaries({"id": ID_SEGMENTS, "rid": ID_SEGMENTS, "cid": ID_SEGMENTS,
                                       "oid": ID_SEGMENTS, "type": ID_SEGMENTS, "key": ID_SEGMENTS,
                                       "token": LINK_TOKENS, "tid": ID_SEGMENTS}),
    "token": st.booleans(),
    "content_type": st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain"]),
})
# Drawn once for the run; route i is sent EXAMPLES_PER_ROUTE of them from its own offset.
EXAMPLES_DRAWN = 150


def drawn_requests(count: int) -> list[dict[str, Any]]:
    """`count` requests as hypothesis draws them (the same every run), without its shrinking: a
    failure names the request in full."""
    found: list[dict[str, Any]] = []

    @settings(max_examples=count, deadline=None, derandomize=True, database=None, phases=[Phase.generate],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(request=REQUESTS)
    def draw(request: dict[str, Any]) -> None:
        found.append(request)

    draw()
    return found


def requests_to(app: InProcessDaemon, route: tuple[str, str], requests: list[dict[str, Any]],
                unchanged: list[Any], snapshots: Snapshots) -> None:
    """`unchanged` holds the store as the last refusal left it, if nothing was sent since: the
    next request's "before", read once instead of twice."""
    path, method = route
    for request in requests:
        body, query, segments = request["body"], request["query"], request["segments"]
        if path == "/api/_clock" and (b"advance" in body or b"set" in body):
            continue  # moving the clock far is slow, not unsafe: its refusals are tested elsewhere
        before = unchanged.pop() if unchanged else snapshots.take()
        headers = {"Content-Type": request["content_type"], **(app.auth() if request["token"] else {})}
        url = concrete(path, segments, app)
        reply = app.client.request(method, url, params=query, headers=headers,
                                   content=body if method in ("POST", "PUT", "PATCH") else None)
        assert reply.status_code < 500, (method, url, body[:200], query, reply.status_code, reply.text)
        if reply.status_code >= 400:
            after = snapshots.take()
            assert after == before, (method, url, body[:200], reply.text)
            unchanged.append(after)


def test_no_route_answers_5xx_and_a_refusal_stores_nothing(tmp_path: Path) -> None:
    config = tmp_path / "ilertd.toml"
    config.write_text(f"[server]\nmax_body_bytes = {MAX_BODY}\n")
    app = InProcessDaemon(tmp_path / "fuzz", config=config).start()
    snapshots = Snapshots(app)
    try:
        seed(app)
        assert app.daemon.services is not None
        routes = [(route.path, method) for route in build_app(app.daemon.services).app.app.routes
                  if isinstance(route, Route) for method in sorted(route.methods or ()) if method != "HEAD"]
        assert len(routes) > 40
        drawn = drawn_requests(EXAMPLES_DRAWN)
        assert len(drawn) > 2 * EXAMPLES_PER_ROUTE
        unchanged: list[Any] = []
        for index, route in enumerate(routes):
            first = index * EXAMPLES_PER_ROUTE
            mine = [drawn[n % len(drawn)] for n in range(first, first + EXAMPLES_PER_ROUTE)]
            requests_to(app, route, mine, unchanged, snapshots)
    finally:
        snapshots.close()
        app.stop()
