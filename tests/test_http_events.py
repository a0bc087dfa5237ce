"""The Event API end to end on the whole daemon (in process): dedup, response codes, and refusals
that change nothing."""

from __future__ import annotations

from tests.inprocess import InProcessDaemon


def incident_count(app: InProcessDaemon) -> int:
    response = app.get("/api/incidents", params={"max-results": 100})
    assert response.status_code == 200
    return len(response.json())


def test_alert_opens_incident_that_is_readable_at_once(app: InProcessDaemon) -> None:
    reply = app.event(summary="disk full on db1", alertKey="db1", priority="LOW",
                         details="95% used", labels={"env": "prod"},
                         links=[{"href": "https://grafana.example/d/1", "text": "dashboard"}])
    assert reply.status_code == 202
    body = reply.json()
    assert body["responseCode"] == "NEW_INCIDENT_CREATED"
    assert body["alertKey"] == "db1"
    assert body["alertUrl"].endswith(f"/ui/incidents/{body['incidentId']}")
    incident = app.get(f"/api/incidents/{body['incidentId']}").json()
    assert incident["status"] == "PENDING"
    assert incident["summary"] == "disk full on db1"
    assert incident["priority"] == "LOW"
    assert incident["details"] == "95% used"
    assert incident["labels"] == {"env": "prod"}
    assert incident["links"] == [{"href": "https://grafana.example/d/1", "text": "dashboard"}]
    assert incident["alertSource"]["name"] == "default"
    assert incident["reportTime"] == "2026-01-05T09:00:00.000Z"
    assert app.log_types(body["incidentId"])[:2] == ["INCIDENT_CREATED", "EVENT_RECEIVED"]


def test_same_key_joins_open_incident_case_insensitively_and_trimmed(app: InProcessDaemon) -> None:
    first = app.event(summary="cpu", alertKey="Web-1").json()
    second = app.event(summary="cpu again", alertKey="  web-1 ").json()
    third = app.client.post("/api/v1/events", json={
        "apiKey": app.integration_key, "eventType": "ALERT", "summary": "x", "incidentKey": "WEB-1",
    }).json()
    assert second["responseCode"] == third["responseCode"] == "EVENT_ADDED_TO_INCIDENT"
    assert first["incidentId"] == second["incidentId"] == third["incidentId"]
    incident = app.get(f"/api/incidents/{first['incidentId']}").json()
    assert incident["eventCount"] == 3
    assert incident["alertKey"] == "Web-1"
    assert incident_count(app) == 1


def test_resolved_then_alert_opens_a_new_incident(app: InProcessDaemon) -> None:
    first = app.event(summary="down", alertKey="svc").json()
    resolved = app.event(eventType="RESOLVE", alertKey="SVC").json()
    assert resolved["responseCode"] == "INCIDENT_RESOLVED"
    assert resolved["incidentId"] == first["incidentId"]
    again = app.event(summary="down again", alertKey="svc").json()
    assert again["responseCode"] == "NEW_INCIDENT_CREATED"
    assert again["incidentId"] != first["incidentId"]
    old = app.get(f"/api/incidents/{first['incidentId']}").json()
    assert old["status"] == "RESOLVED"
    # RESOLVED is final: actions on it are refused and change nothing.
    for action in ("accept", "resolve"):
        refused = app.put(f"/api/incidents/{first['incidentId']}/{action}")
        assert refused.status_code == 409
        assert refused.json()["code"] == "INCIDENT_RESOLVED"
    refused = app.post(f"/api/incidents/{first['incidentId']}/comments", {"content": "late"})
    assert refused.status_code == 409
    assert app.get(f"/api/incidents/{first['incidentId']}").json() == old


def test_accept_resolve_comment_events_and_their_codes(app: InProcessDaemon) -> None:
    opened = app.event(summary="down", alertKey="k").json()
    assert app.event(eventType="COMMENT", alertKey="k",
                        comments=[{"creator": "bot", "content": "looking"}]).json()["responseCode"] \
        == "COMMENT_ADDED"
    assert app.event(eventType="ACCEPT", alertKey="k").json()["responseCode"] == "INCIDENT_ACCEPTED"
    assert app.event(eventType="ACCEPT", alertKey="k").json()["responseCode"] \
        == "INCIDENT_ALREADY_ACCEPTED"
    assert app.event(summary="again", alertKey="k").json()["responseCode"] == "EVENT_ADDED_TO_INCIDENT"
    assert app.event(eventType="RESOLVE", alertKey="k").json()["responseCode"] == "INCIDENT_RESOLVED"
    types = app.log_types(opened["incidentId"])
    assert "COMMENT" in types and "ACCEPTED" in types and types[-1] == "RESOLVED"
    incident = app.get(f"/api/incidents/{opened['incidentId']}").json()
    assert incident["status"] == "RESOLVED" and incident["acceptedAt"] is not None


def test_alert_without_key_gets_a_generated_one(app: InProcessDaemon) -> None:
    one = app.event(summary="a").json()
    two = app.event(summary="b").json()
    assert one["alertKey"] and two["alertKey"] and one["alertKey"] != two["alertKey"]
    assert one["incidentId"] != two["incidentId"]


def test_action_events_without_open_incident_are_400(app: InProcessDaemon) -> None:
    for event_type in ("ACCEPT", "RESOLVE", "COMMENT"):
        reply = app.event(eventType=event_type, alertKey="C:\\jobs\\Bob's", summary="a note")
        assert reply.status_code == 400
        assert reply.json()["code"] == "NO_OPEN_INCIDENT_WITH_KEY"
        # The key as sent, not Python's repr of it ("C:\\jobs\\Bob's").
        assert "alertKey \"C:\\jobs\\Bob's\" in" in reply.json()["message"]
        # Without a key the event is malformed, not unmatched: so the tool route says too, where
        # it answered 202 as for an event delivered.
        for key in ({}, {"alertKey": "  "}):
            malformed = app.event(eventType=event_type, summary="a note", **key)
            assert (malformed.status_code, malformed.json()["code"], malformed.json()["field"]) == (
                400, "INVALID_FIELD", "alertKey"), malformed.text
        tool = app.client.post(f"/api/v1/events/api/{app.integration_key}",
                               json={"integrationKey": app.integration_key, "eventType": event_type})
        assert (tool.status_code, tool.json()["code"]) == (400, "INVALID_FIELD"), tool.text
        assert f"alertKey is required for {event_type}" in tool.json()["message"]
    assert incident_count(app) == 0


def test_bad_bodies_get_documented_errors_and_change_nothing(app: InProcessDaemon) -> None:
    app.event(summary="baseline", alertKey="base")
    key = app.integration_key
    cases: list[tuple[bytes | dict[str, object], int, str, str | None]] = [
        (b"not json", 400, "INVALID_JSON", None),
        (b"", 400, "INVALID_JSON", None),
        (b"[1, 2]", 400, "INVALID_BODY", None),
        ({"eventType": "ALERT", "summary": "x"}, 400, "INVALID_FIELD", "integrationKey"),
        ({"integrationKey": key, "summary": "x"}, 400, "INVALID_FIELD", "eventType"),
        ({"integrationKey": key, "eventType": "EXPLODE", "summary": "x"}, 400, "INVALID_FIELD",
         "eventType"),
        ({"integrationKey": key, "eventType": "ALERT"}, 400, "INVALID_FIELD", "summary"),
        ({"integrationKey": key, "eventType": "ALERT", "summary": 42}, 400, "INVALID_FIELD", "summary"),
        ({"integrationKey": key, "eventType": "ALERT", "summary": "x", "priority": "URGENT"}, 400,
         "INVALID_FIELD", "priority"),
        ({"integrationKey": key, "eventType": "ALERT", "summary": "x", "labels": ["a"]}, 400,
         "INVALID_FIELD", "labels"),
        ({"integrationKey": key, "eventType": "ALERT", "summary": "x", "alertKey": "k" * 300}, 400,
         "INVALID_FIELD", "alertKey"),
        ({"integrationKey": "no-such-key", "eventType": "ALERT", "summary": "x"}, 404,
         "UNKNOWN_INTEGRATION_KEY", None),
        ({"integrationKey": key, "eventType": "ALERT", "summary": "x" * 600_000}, 413,
         "BODY_TOO_LARGE", None),
    ]
    for body, status, code, field in cases:
        if isinstance(body, bytes):
            reply = app.client.post("/api/events", content=body,
                                       headers={"content-type": "application/json"})
        else:
            reply = app.client.post("/api/events", json=body)
        assert reply.status_code == status, (body if isinstance(body, bytes) else str(body)[:80], reply.text)
        error = reply.json()
        assert error["status"] == status and error["code"] == code and error["message"]
        if field is not None:
            assert error["field"] == field
    assert incident_count(app) == 1
    assert app.get("/api/incidents/1").json()["eventCount"] == 1


def test_streamed_body_over_the_limit_is_refused(app: InProcessDaemon) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(80):
            yield b"x" * 8192

    reply = app.client.post("/api/events", content=chunks())
    assert reply.status_code == 413
    assert reply.json()["code"] == "BODY_TOO_LARGE"


def test_unknown_path_and_method_use_the_envelope(app: InProcessDaemon) -> None:
    missing = app.client.get("/api/nothing-here")
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"
    wrong = app.client.get("/api/events")
    assert wrong.status_code == 405 and wrong.json()["code"] == "METHOD_NOT_ALLOWED"
    assert wrong.headers["allow"] == "POST"
    # A path of several routes (one per method) names them all: it said "HEAD, GET".
    patched = app.client.patch("/api/users/1", headers=app.auth())
    assert (patched.status_code, patched.headers["allow"]) == (405, "DELETE, GET, HEAD, PUT")


def test_incident_list_filters_and_paging(app: InProcessDaemon) -> None:
    ids = [app.event(summary=f"s{i}", alertKey=f"k{i}").json()["incidentId"] for i in range(5)]
    app.put(f"/api/incidents/{ids[0]}/accept")
    app.put(f"/api/incidents/{ids[1]}/resolve")
    listed = app.get("/api/incidents").json()
    assert [i["id"] for i in listed] == sorted(ids, reverse=True)
    pending = app.get("/api/incidents", params={"states": "PENDING"}).json()
    assert {i["id"] for i in pending} == set(ids[2:])
    # Repeated, as PagerDuty's clients send lists, the values add up (the last alone was taken).
    for params in ([("states", "PENDING"), ("states", "RESOLVED")], [("states", "PENDING,RESOLVED")]):
        both = app.get("/api/incidents", params=params).json()
        assert {i["id"] for i in both} == {ids[1], *ids[2:]}, params
    two = app.get("/api/incidents", params=[("sources", "1"), ("sources", "99")]).json()
    assert len(two) == 5
    assert app.get("/api/incidents", params=[("states", "PENDING"), ("states", "OPEN")]).status_code == 400
    page = app.get("/api/incidents", params={"start-index": 1, "max-results": 2}).json()
    assert [i["id"] for i in page] == sorted(ids, reverse=True)[1:3]
    bad = app.get("/api/incidents", params={"max-results": 500})
    assert bad.status_code == 400 and bad.json()["field"] == "max-results"
    bad = app.get("/api/incidents", params={"states": "OPEN"})
    assert bad.status_code == 400 and bad.json()["field"] == "states"
    # Commas and blanks alone (a script joining an empty list) are an empty filter, as `states=`
    # is: they matched nothing, and `[]` read as "no incidents".
    for params in ({"states": ","}, {"states": " "}, {"sources": ","}, {"sources": " ,"}):
        assert len(app.get("/api/incidents", params=params).json()) == 5, params


def test_comments_posted_at_once_are_each_answered_with_their_own(app: InProcessDaemon) -> None:
    """The answer re-read the user's newest comment after the write: ten comments sent together
    were answered with whichever was stored last (eight of ten wrong)."""
    from concurrent.futures import ThreadPoolExecutor

    incident = app.event(summary="disk full", alertKey="disk").json()["incidentId"]
    with ThreadPoolExecutor(10) as pool:
        path = f"/api/incidents/{incident}/comments"
        replies = list(pool.map(lambda i: app.post(path, {"content": f"c{i}"}), range(10)))
    assert [r.status_code for r in replies] == [201] * 10
    assert [r.json()["content"] for r in replies] == [f"c{i}" for i in range(10)]
    assert len({r.json()["id"] for r in replies}) == 10
