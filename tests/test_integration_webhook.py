"""The generic JSON webhook: JSON pointer resolution, the fieldMapping rules, and the mapping's checks."""

from __future__ import annotations

import json
from typing import Any

import httpx2 as httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ilertd.plugins.webhook import NoMatch, PointerError, parse_body, pointer_tokens, resolve_pointer
from tests import integration_helpers as helpers
from tests.inprocess import InProcessDaemon

MAPPING = {
    "summary": "/alert/title",
    "details": "/alert/description",
    "alertKey": "/alert/id",
    "eventType": "/state",
    "priority": "/alert/severity",
}
FIRING = {"state": "firing", "alert": {"id": 42, "title": "Disk full on db-1",
                                       "description": "/var is 99% full", "severity": "critical"}}
RESOLVED = {"state": "resolved", "alert": {"id": 42}}

# RFC 6901 §5's example document.
RFC_DOCUMENT = {"foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3, "g|h": 4, "i\\j": 5,
                'k"l': 6, " ": 7, "m~n": 8}


# --- JSON pointers ------------------------------------------------------------------------------


@pytest.mark.parametrize(("pointer", "expected"), [
    ("", RFC_DOCUMENT), ("/foo", ["bar", "baz"]), ("/foo/0", "bar"), ("/", 0), ("/a~1b", 1),
    ("/c%d", 2), ("/e^f", 3), ("/g|h", 4), ("/i\\j", 5), ('/k"l', 6), ("/ ", 7), ("/m~0n", 8),
])
def test_the_rfc_6901_examples_resolve(pointer: str, expected: Any) -> None:
    assert resolve_pointer(RFC_DOCUMENT, pointer) == expected


def test_escapes_are_undone_tilde_one_first() -> None:
    assert pointer_tokens("/~01") == ["~1"]
    assert pointer_tokens("/a~1b~0c/~0~1") == ["a/b~c", "~/"]
    assert resolve_pointer({"~1": "tilde-one", "/": "slash"}, "/~01") == "tilde-one"


@pytest.mark.parametrize("pointer", [
    "/nope", "/foo/2", "/foo/-", "/foo/01", "/foo/-1", "/foo/x", "/foo/0/deeper", "//", "/ /x",
])
def test_a_pointer_that_names_nothing_is_no_match(pointer: str) -> None:
    with pytest.raises(NoMatch):
        resolve_pointer(RFC_DOCUMENT, pointer)


@pytest.mark.parametrize("pointer", ["foo", "/m~2n", "/m~", "#/foo"])
def test_a_malformed_pointer_is_refused(pointer: str) -> None:
    with pytest.raises(PointerError) as raised:
        resolve_pointer(RFC_DOCUMENT, pointer)
    assert not isinstance(raised.value, NoMatch)


def test_null_is_a_value_a_pointer_can_match() -> None:
    assert resolve_pointer({"a": None}, "/a") is None
    with pytest.raises(NoMatch):
        resolve_pointer({"a": None}, "/a/b")


@given(st.lists(st.text(max_size=8), min_size=1, max_size=4), st.integers())
def test_any_key_path_round_trips_through_an_escaped_pointer(keys: list[str], value: int) -> None:
    document: Any = value
    for key in reversed(keys):
        document = {key: [document]}
    pointer = "".join("/" + key.replace("~", "~0").replace("/", "~1") + "/0" for key in keys)
    assert resolve_pointer(document, pointer) == value


# --- the mapping rules, pure --------------------------------------------------------------------


def test_a_full_mapping_reads_every_field() -> None:
    (event,) = parse_body(FIRING, MAPPING)
    assert (event.event_type, event.alert_key, event.summary, event.details, event.priority) == (
        "ALERT", "42", "Disk full on db-1", "/var is 99% full", "HIGH")


@pytest.mark.parametrize(("word", "event_type"), [
    ("ALERT", "ALERT"), ("alert", "ALERT"), ("Firing", "ALERT"), ("TRIGGERED", "ALERT"), ("problem", "ALERT"),
    ("RESOLVE", "RESOLVE"), ("resolved", "RESOLVE"), ("OK", "RESOLVE"), ("Recovered", "RESOLVE"),
    ("accept", "ACCEPT"), ("acknowledged", "ACCEPT"), ("Comment", "COMMENT"),
])
def test_event_types_are_read_case_insensitively_with_common_words(word: str, event_type: str) -> None:
    (event,) = parse_body({**FIRING, "state": word}, MAPPING)
    assert event.event_type == event_type


@pytest.mark.parametrize(("word", "priority"), [
    ("HIGH", "HIGH"), ("high", "HIGH"), ("Critical", "HIGH"), ("low", "LOW"), ("WARNING", "LOW"),
    ("info", "LOW"), (None, None),
])
def test_priorities_are_read_case_insensitively(word: str | None, priority: str | None) -> None:
    body = {**FIRING, "alert": {**FIRING["alert"], "severity": word}}  # type: ignore[dict-item]
    assert parse_body(body, MAPPING)[0].priority == priority


def test_without_an_event_type_pointer_every_body_is_an_alert() -> None:
    (event,) = parse_body({"title": "x", "state": "resolved"}, {"summary": "/title"})
    assert (event.event_type, event.alert_key) == ("ALERT", None)


def test_scalars_become_strings_and_structures_become_json_details() -> None:
    body = {"n": 3.5, "flag": True, "data": {"disk": "/var", "used": [99]}}
    (event,) = parse_body(body, {"summary": "/n", "alertKey": "/flag", "details": "/data"})
    assert (event.summary, event.alert_key) == ("3.5", "true")
    assert json.loads(event.details or "") == {"disk": "/var", "used": [99]}


def test_array_indexes_and_escapes_map_fields() -> None:
    body = {"alerts": [{"a/b": "first"}, {"m~n": "second"}]}
    (event,) = parse_body(body, {"summary": "/alerts/0/a~1b", "alertKey": "/alerts/1/m~0n"})
    assert (event.summary, event.alert_key) == ("first", "second")


def test_a_resolve_body_without_the_title_is_fine() -> None:
    (event,) = parse_body(RESOLVED, MAPPING)
    assert (event.event_type, event.alert_key, event.summary, event.details) == ("RESOLVE", "42", None, None)


def test_a_long_summary_is_truncated() -> None:
    (event,) = parse_body({"t": "x" * 5000}, {"summary": "/t"})
    assert event.summary is not None and len(event.summary) == 1024 and event.summary.endswith("…")


# --- through the route --------------------------------------------------------------------------


def hook_source(app: InProcessDaemon, mapping: dict[str, str] | None = MAPPING) -> str:
    """A WEBHOOK source with this fieldMapping (None: without one)."""
    return helpers.new_source(app, "WEBHOOK", **({} if mapping is None else {"fieldMapping": mapping}))


def send(app: InProcessDaemon, key: str, body: Any) -> httpx.Response:
    return helpers.post_payload(app, "webhook", key, body)


def test_firing_opens_an_incident_and_the_same_again_adds_to_it(app: InProcessDaemon) -> None:
    key = hook_source(app)
    (opened,) = helpers.results(send(app, key, FIRING))
    assert (opened["alertKey"], opened["responseCode"]) == ("42", "NEW_INCIDENT_CREATED")
    (again,), (incident,) = helpers.post_in_turn(app, "webhook", key, FIRING)
    assert again["responseCode"] == "EVENT_ADDED_TO_INCIDENT"
    assert (incident["summary"], incident["details"], incident["priority"], incident["alertKey"]) == (
        "Disk full on db-1", "/var is 99% full", "HIGH", "42")
    assert incident["eventCount"] == 2


@pytest.mark.parametrize(("later", "response_code", "status"), [
    (RESOLVED, "INCIDENT_RESOLVED", "RESOLVED"),
    ({"state": "Acknowledged", "alert": {"id": 42}}, "INCIDENT_ACCEPTED", "ACCEPTED"),
    # A comment adds its summary to the open incident, which stays open.
    ({**FIRING, "state": "Comment"}, "COMMENT_ADDED", "PENDING"),
])
def test_a_resolved_acknowledged_or_comment_body_acts_on_the_incident(
    app: InProcessDaemon, later: dict[str, Any], response_code: str, status: str,
) -> None:
    (reply,), (incident,) = helpers.post_in_turn(app, "webhook", hook_source(app), FIRING, later)
    assert (reply["responseCode"], incident["status"]) == (response_code, status)


def test_a_low_priority_word_lowers_the_priority(app: InProcessDaemon) -> None:
    key = hook_source(app)
    body = {**FIRING, "alert": {**FIRING["alert"], "severity": "warning"}}  # type: ignore[dict-item]
    assert send(app, key, body).status_code == 202
    (incident,) = helpers.incidents(app)
    assert incident["priority"] == "LOW"


@pytest.mark.parametrize(("mapping", "body", "reason"), [
    (MAPPING, b"{not json", "not valid JSON"),
    (MAPPING, {"state": "firing", "alert": {"id": 1, "description": "d", "severity": "low"}},
     "fieldMapping.summary '/alert/title' matches nothing in the body"),
    (MAPPING, {"state": "firing", "alert": {"id": 1, "title": "t", "severity": "low"}},
     "fieldMapping.details '/alert/description' matches nothing"),
    (MAPPING, {"state": "firing", "alert": {"title": "t", "description": "d", "severity": "low"}},
     "fieldMapping.alertKey '/alert/id' matches nothing"),
    (MAPPING, {"alert": {"id": 1, "title": "t"}}, "fieldMapping.eventType '/state' matches nothing"),
    (MAPPING, {**FIRING, "state": "exploded"}, "eventType 'exploded'"),
    (MAPPING, {**FIRING, "alert": {**FIRING["alert"], "severity": "urgent"}},  # type: ignore[dict-item]
     "priority 'urgent'"),
    (MAPPING, {**FIRING, "alert": {**FIRING["alert"], "title": {"text": "t"}}},  # type: ignore[dict-item]
     "fieldMapping.summary '/alert/title' is an object, not a string or number"),
    (MAPPING, {**FIRING, "alert": {**FIRING["alert"], "title": "  "}},  # type: ignore[dict-item]
     "summary (fieldMapping.summary '/alert/title') is empty"),
    (MAPPING, {"state": "resolved", "alert": {"id": None}}, "RESOLVE events need an alertKey"),
    ({"eventType": "/state"}, FIRING, "the alert source has no fieldMapping for summary"),
    (None, FIRING, "the alert source has no fieldMapping for summary"),
    ({"summary": "/alert/title", "eventType": "/state"}, RESOLVED,
     "the alert source has no fieldMapping for alertKey"),
    ({"summary": "/alert/ti~2tle"}, FIRING, "has a '~' not followed by 0 or 1"),
])
def test_a_body_the_mapping_cannot_read_is_refused_and_nothing_is_stored(
    app: InProcessDaemon, mapping: dict[str, str] | None, body: Any, reason: str,
) -> None:
    key = hook_source(app, mapping)
    helpers.assert_refused(app, send(app, key, body), reason=reason)


def test_the_key_of_another_source_type_is_a_mismatch(app: InProcessDaemon) -> None:
    helpers.assert_type_mismatch(app, "webhook", "GRAFANA", FIRING)


# --- the mapping's own checks, through the API ------------------------------------------------


@pytest.mark.parametrize(("mapping", "field"), [
    ("summary=/title", "fieldMapping"),
    (["/title"], "fieldMapping"),
    ({"title": "/title"}, "fieldMapping.title"),
    ({"summary": "title"}, "fieldMapping.summary"),
    ({"summary": 5}, "fieldMapping.summary"),
    ({"alertKey": "/" + "k" * 300}, "fieldMapping.alertKey"),
])
def test_a_malformed_field_mapping_is_refused_naming_the_field(
    app: InProcessDaemon, mapping: Any, field: str,
) -> None:
    created = app.post("/api/alert-sources", {"name": "hook", "integrationType": "WEBHOOK",
                                              "fieldMapping": mapping})
    assert created.status_code == 400, created.text
    assert created.json()["field"] == field
    source = app.post("/api/alert-sources", {"name": "hook", "integrationType": "WEBHOOK"}).json()
    updated = app.put(f"/api/alert-sources/{source['id']}", {"fieldMapping": mapping})
    assert updated.status_code == 400 and updated.json()["field"] == field


def test_a_changed_mapping_applies_to_the_next_body(app: InProcessDaemon) -> None:
    source = app.post("/api/alert-sources", {"name": "hook", "integrationType": "WEBHOOK",
                                             "fieldMapping": {"summary": "/title"}}).json()
    assert source["fieldMapping"] == {"summary": "/title"}
    refused = send(app, source["integrationKey"], {"headline": "new shape"})
    assert refused.status_code == 400 and "'/title' matches nothing" in refused.json()["message"]
    updated = app.put(f"/api/alert-sources/{source['id']}", {"fieldMapping": {"summary": "/headline"}})
    assert updated.status_code == 200, updated.text
    assert app.get(f"/api/alert-sources/{source['id']}").json()["fieldMapping"] == {"summary": "/headline"}
    assert send(app, source["integrationKey"], {"headline": "new shape"}).status_code == 202
    assert [i["summary"] for i in helpers.incidents(app)] == ["new shape"]
