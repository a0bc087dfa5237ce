"""Tests of ilertd.domain.events: the native Event API body, its refusals, and alert key identity."""

from __future__ import annotations

from typing import Any

import pytest

from ilertd.domain.events import (
    MAX_ALERT_KEY,
    MAX_DETAILS,
    MAX_ITEMS,
    MAX_SUMMARY,
    Comment,
    Event,
    alert_key_identity,
    normalize_alert_key,
    parse_native_event,
)
from ilertd.errors import ApiError

IMAGES = [
    {"src": "https://grafana/render/1.png", "href": "https://grafana/d/1", "alt": "CPU graph"},
    {"src": "https://grafana/render/2.png"},
]
LINKS = [{"href": "https://wiki/runbooks/cpu", "text": "Runbook"}, {"href": "https://grafana/d/1"}]
CUSTOM = {"host": "db1", "load": 12.5, "cores": [1, 2], "nested": {"ok": False}}
LABELS = {"env": "prod", "team": "storage"}
COMMENTS = [{"creator": "nagios", "content": "first look"}, {"content": "no creator"}]


def full_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "integrationKey": "il1api0123",
        "eventType": "ALERT",
        "summary": "CPU load high on db1",
        "details": "load average 12.5 over 5 minutes",
        "alertKey": "db1/cpu",
        "priority": "LOW",
        "images": IMAGES,
        "links": LINKS,
        "customDetails": CUSTOM,
        "labels": LABELS,
        "comments": COMMENTS,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


EXPECTED = Event(
    event_type="ALERT",
    alert_key="db1/cpu",
    summary="CPU load high on db1",
    details="load average 12.5 over 5 minutes",
    priority="LOW",
    images=(
        {"src": "https://grafana/render/1.png", "href": "https://grafana/d/1", "alt": "CPU graph"},
        {"src": "https://grafana/render/2.png"},
    ),
    links=({"href": "https://wiki/runbooks/cpu", "text": "Runbook"}, {"href": "https://grafana/d/1"}),
    custom_details=CUSTOM,
    labels=LABELS,
    comments=(Comment("nagios", "first look"), Comment("", "no creator")),
)


def refusal(body: object) -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse_native_event(body)
    return caught.value


# --- valid bodies --------------------------------------------------------------------------------


def test_a_full_body_maps_every_field() -> None:
    key, event = parse_native_event(full_body())
    assert key == "il1api0123"
    assert event == EXPECTED
    # Field by field too, so a failure says which one.
    assert event.event_type == "ALERT"
    assert event.alert_key == "db1/cpu"
    assert event.summary == "CPU load high on db1"
    assert event.details == "load average 12.5 over 5 minutes"
    assert event.priority == "LOW"
    assert event.images == EXPECTED.images
    assert event.links == EXPECTED.links
    assert event.custom_details == CUSTOM
    assert event.labels == LABELS
    assert event.comments == EXPECTED.comments


def test_the_aliases_api_key_and_incident_key_work() -> None:
    body = full_body(integrationKey=..., alertKey=..., apiKey="il1api0123", incidentKey="db1/cpu")
    assert "integrationKey" not in body and "alertKey" not in body
    key, event = parse_native_event(body)
    assert key == "il1api0123"
    assert event == EXPECTED


def test_the_canonical_names_win_over_the_aliases() -> None:
    body = full_body(apiKey="other-key", incidentKey="other/key")
    key, event = parse_native_event(body)
    assert key == "il1api0123"
    assert event.alert_key == "db1/cpu"


def test_image_and_link_fields_outside_the_contract_are_dropped() -> None:
    body = full_body(images=[{"src": "https://x/1.png", "onclick": "x"}], links=[{"href": "h", "rel": "r"}])
    _, event = parse_native_event(body)
    assert event.images == ({"src": "https://x/1.png"},)
    assert event.links == ({"href": "h"},)


def test_a_minimal_alert_has_empty_defaults() -> None:
    key, event = parse_native_event({"integrationKey": "k", "eventType": "ALERT", "summary": "s"})
    assert key == "k"
    assert event == Event("ALERT", summary="s")
    assert event.alert_key is None
    assert event.priority is None
    assert (event.images, event.links, event.comments) == ((), (), ())
    assert (dict(event.labels), dict(event.custom_details)) == ({}, {})


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("ALERT", "ALERT"),
        ("alert", "ALERT"),
        ("Alert", "ALERT"),
        ("aLeRt", "ALERT"),
        ("accept", "ACCEPT"),
        ("Resolve", "RESOLVE"),
        ("comment", "COMMENT"),
    ],
)
def test_event_type_is_case_insensitive(given: str, expected: str) -> None:
    body = {"integrationKey": "k", "eventType": given, "summary": "s", "alertKey": "k"}
    _, event = parse_native_event(body)
    assert event.event_type == expected


@pytest.mark.parametrize("event_type", ["ACCEPT", "RESOLVE"])
def test_accept_and_resolve_need_no_summary(event_type: str) -> None:
    _, event = parse_native_event({"integrationKey": "k", "eventType": event_type, "alertKey": "db1"})
    assert event.event_type == event_type
    assert event.summary is None
    assert event.alert_key == "db1"


@pytest.mark.parametrize(
    ("field", "value"),
    [("alertKey", "k" * MAX_ALERT_KEY), ("alertKey", "  " + "k" * MAX_ALERT_KEY + "  "),
     ("summary", "s" * MAX_SUMMARY)],
    ids=["alertKey at the limit", "alertKey at the limit once trimmed", "summary at the limit"],
)
def test_values_at_the_length_limit_are_accepted(field: str, value: str) -> None:
    _, event = parse_native_event(full_body(**{field: value}))
    assert event.summary == full_body(**{field: value})["summary"]
    assert event.alert_key == full_body(**{field: value})["alertKey"].strip()


def test_the_documented_limits() -> None:
    # README "Choices where the contract is silent": the limits are part of the API.
    assert (MAX_ALERT_KEY, MAX_SUMMARY, MAX_DETAILS, MAX_ITEMS) == (255, 1024, 65536, 50)


def test_lists_at_the_item_limit_are_accepted() -> None:
    body = full_body(
        details="d" * MAX_DETAILS,
        images=[{"src": "i"}] * MAX_ITEMS,
        links=[{"href": "l"}] * MAX_ITEMS,
        comments=[{"content": "c"}] * MAX_ITEMS,
    )
    _, event = parse_native_event(body)
    assert len(event.details or "") == MAX_DETAILS
    assert (len(event.images), len(event.links), len(event.comments)) == (MAX_ITEMS,) * 3


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [None, [], ["eventType", "ALERT"], "ALERT", 42, True])
def test_a_body_that_is_not_an_object_is_invalid_body(body: object) -> None:
    error = refusal(body)
    assert error.status == 400
    assert error.code == "INVALID_BODY"
    assert error.field is None


LONG_KEY = "k" * (MAX_ALERT_KEY + 1)
LONG_SUMMARY = "s" * (MAX_SUMMARY + 1)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"integrationKey": ...}, "integrationKey"),
        ({"integrationKey": ""}, "integrationKey"),
        ({"integrationKey": None}, "integrationKey"),
        ({"integrationKey": 12345}, "integrationKey"),
        ({"integrationKey": ..., "apiKey": 12345}, "apiKey"),
        ({"eventType": ...}, "eventType"),
        ({"eventType": None}, "eventType"),
        ({"eventType": "TRIGGER"}, "eventType"),
        ({"eventType": ""}, "eventType"),
        ({"eventType": 1}, "eventType"),
        ({"eventType": ["ALERT"]}, "eventType"),
        ({"summary": ...}, "summary"),
        ({"summary": None}, "summary"),
        ({"summary": ""}, "summary"),
        ({"summary": "   \t\n"}, "summary"),
        ({"summary": 42}, "summary"),
        ({"summary": LONG_SUMMARY}, "summary"),
        ({"details": 42}, "details"),
        ({"details": "d" * (MAX_DETAILS + 1)}, "details"),
        ({"alertKey": LONG_KEY}, "alertKey"),
        ({"alertKey": ..., "incidentKey": LONG_KEY}, "alertKey"),
        ({"alertKey": 7}, "alertKey"),
        ({"priority": "MEDIUM"}, "priority"),
        ({"priority": "CRITICAL"}, "priority"),
        ({"priority": ""}, "priority"),
        ({"priority": 1}, "priority"),
        ({"labels": ["env", "prod"]}, "labels"),
        ({"labels": "env=prod"}, "labels"),
        ({"labels": {"env": 1}}, "labels.env"),
        ({"labels": {"env": "prod", "replicas": None}}, "labels.replicas"),
        ({"customDetails": [1, 2]}, "customDetails"),
        ({"images": {"src": "https://x/1.png"}}, "images"),
        ({"images": "https://x/1.png"}, "images"),
        ({"images": [{"href": "https://x"}]}, "images[0].src"),
        ({"images": [{"src": "https://x/1.png"}, {"alt": "no src"}]}, "images[1].src"),
        ({"images": [{"src": 5}]}, "images[0].src"),
        ({"images": ["https://x/1.png"]}, "images[0]"),
        ({"images": [{"src": "ok"}] * (MAX_ITEMS + 1)}, "images"),
        ({"links": [{"href": "ok"}] * (MAX_ITEMS + 1)}, "links"),
        ({"comments": [{"content": "ok"}] * (MAX_ITEMS + 1)}, "comments"),
        ({"links": {"href": "https://x"}}, "links"),
        ({"links": ["https://x"]}, "links[0]"),
        ({"links": [{"href": "https://x"}, 3]}, "links[1]"),
        ({"links": [{"text": "no href"}]}, "links[0].href"),
        ({"links": [{"href": "https://x", "text": 3}]}, "links[0].text"),
        ({"comments": [{"creator": "me"}]}, "comments[0].content"),
        ({"comments": ["looks bad"]}, "comments[0]"),
    ],
)
def test_each_bad_body_is_refused_with_its_field(overrides: dict[str, Any], field: str) -> None:
    error = refusal(full_body(**overrides))
    assert error.status == 400
    assert error.code == "INVALID_FIELD"
    assert error.field == field
    assert error.body()["field"] == field


def test_a_refusal_names_the_allowed_event_types() -> None:
    error = refusal(full_body(eventType="TRIGGER"))
    assert error.message == "eventType must be one of ALERT, ACCEPT, RESOLVE, COMMENT"
    assert error.body() == {
        "status": 400,
        "code": "INVALID_FIELD",
        "message": "eventType must be one of ALERT, ACCEPT, RESOLVE, COMMENT",
        "field": "eventType",
    }


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"event_type": "TRIGGER"}, "eventType"),
        ({"event_type": "ALERT"}, "summary"),
        ({"event_type": "ALERT", "summary": " "}, "summary"),
        ({"event_type": "RESOLVE", "alert_key": LONG_KEY}, "alertKey"),
        ({"event_type": "RESOLVE", "alert_key": "db1", "priority": "URGENT"}, "priority"),
        ({"event_type": "RESOLVE"}, "alertKey"),
        ({"event_type": "ACCEPT", "alert_key": "  "}, "alertKey"),
        ({"event_type": "COMMENT", "alert_key": "db1", "summary": "s", "details": "d" * 65537}, "details"),
        ({"event_type": "COMMENT", "alert_key": "db1"}, "comments"),
    ],
)
def test_an_event_validates_itself_on_construction(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ApiError) as caught:
        Event(**kwargs)
    assert caught.value.status == 400
    assert caught.value.field == field


# --- alert keys ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("\t\n", None),
        ("db1", "db1"),
        ("  db1  ", "db1"),
        ("\tDB1/cpu\n", "DB1/cpu"),
        (" two words ", "two words"),
    ],
)
def test_normalize_alert_key(raw: str | None, expected: str | None) -> None:
    assert normalize_alert_key(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [("  db1/cpu ", "db1/cpu"), ("   ", None), ("", None)])
@pytest.mark.parametrize("name", ["alertKey", "incidentKey"])
def test_parsed_alert_keys_are_trimmed(name: str, raw: str, expected: str | None) -> None:
    body = {"integrationKey": "k", "eventType": "ALERT", "summary": "s", name: raw}
    _, event = parse_native_event(body)
    assert event.alert_key == expected
    # Only an ALERT goes without a key: ACCEPT, RESOLVE and COMMENT name the incident by it.
    if expected is None:
        with pytest.raises(ApiError) as refused:
            parse_native_event({**body, "eventType": "RESOLVE"})
        assert (refused.value.code, refused.value.field) == ("INVALID_FIELD", "alertKey")


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("DB1", "db1", True),
        ("Db1/Cpu", "dB1/cPU", True),
        ("db1", "db1", True),
        ("db1", "db2", False),
        ("db1", "db1 ", False),
    ],
)
def test_alert_key_identity_is_case_insensitive(a: str, b: str, same: bool) -> None:
    assert (alert_key_identity(a) == alert_key_identity(b)) is same


def test_a_folded_key_longer_than_a_key_is_cut_to_a_key_and_stays_distinct() -> None:
    """Folding "ß" gives "ss": 255 of them folded are 510 characters, which PostgreSQL's column of 255
    refused (every event of that key was a 503). Now at most 255, the same for every spelling of
    the key, and apart from a key differing only at its end."""
    key = "ß" * 255
    identity = alert_key_identity(key)
    assert len(identity) == 255 and identity.startswith("ss" * 100)
    assert alert_key_identity("\u1e9e" * 255) == identity, "the capital sharp s folds alike"
    assert alert_key_identity("ß" * 254 + "x") != identity
    assert alert_key_identity("a" * 255) == "a" * 255, "a key that folds to no more than 255 is as before"
