"""What the tests of the built-in integrations share: fixture files, alert sources, tool payloads posted
to `/api/v1/events/{type}/{key}`, and the checks of a refusal."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx2 as httpx

from tests.daemon import ApiClient, DaemonProcess

FIXTURES = Path(__file__).resolve().parent / "fixtures"
THIRDPARTY = FIXTURES / "thirdparty"
JSON_HEADERS = {"Content-Type": "application/json"}
# One object of a reply: an event's result, an incident.
Record = dict[str, Any]


def serving(directory: Path) -> Iterator[DaemonProcess]:
    """A real `ilertd serve` on `directory` while the generator runs (the body of a fixture that
    shares one daemon among tests, for what needs a socket: a tool's own script)."""
    daemon = DaemonProcess(directory).start()
    try:
        yield daemon
    finally:
        daemon.stop()


def fixture_bytes(name: str, folder: Path = THIRDPARTY) -> bytes:
    """A fixture file byte for byte: the body as the tool sent it."""
    return (folder / name).read_bytes()


def fixture_json(name: str, folder: Path = THIRDPARTY) -> Any:
    """A fixture file's JSON."""
    return json.loads(fixture_bytes(name, folder))


def new_source(daemon: ApiClient, integration_type: str, name: str = "", **fields: Any) -> str:
    """The integration key of a new alert source of `integration_type` (named `<type> source` unless
    `name` is given); `fields` are more of its body (priority, signingSecret, fieldMapping, ...)."""
    created = daemon.post("/api/alert-sources", {"name": name or f"{integration_type} source",
                                                 "integrationType": integration_type, **fields})
    assert created.status_code == 201, created.text
    return str(created.json()["integrationKey"])


def post_payload(daemon: ApiClient, kind: str, key: str, body: Any,
                 headers: Mapping[str, str] | None = None, query: str = "") -> httpx.Response:
    """POST a tool's payload to `/api/v1/events/{kind}/{key}`: bytes as they are (with `headers`, JSON's
    by default), anything else as JSON."""
    url = f"/api/v1/events/{kind}/{key}" + (f"?{query}" if query else "")
    sent_headers = dict(JSON_HEADERS if headers is None else headers)
    if isinstance(body, bytes):
        return daemon.client.post(url, content=body, headers=sent_headers)
    return daemon.client.post(url, json=body, headers=sent_headers)


def results(reply: httpx.Response) -> list[Record]:
    """What a 202 reply says of each event (responseCode, alertKey, incidentId)."""
    assert reply.status_code == 202, reply.text
    outcomes: list[Record] = reply.json()
    return outcomes


def incidents(daemon: ApiClient) -> list[Record]:
    """Every incident, oldest first."""
    listed: list[Record] = daemon.get("/api/incidents").json()
    return sorted(listed, key=lambda incident: incident["id"])


def log_texts(daemon: ApiClient, incident_id: int) -> list[str]:
    """The text of each entry of an incident's log."""
    entries = daemon.get(f"/api/incidents/{incident_id}/log-entries", params={"max-results": 100}).json()
    return [entry["text"] for entry in entries]


def assert_refused(daemon: ApiClient, reply: httpx.Response, code: str = "INVALID_PAYLOAD",
                   reason: str = "") -> None:
    """`reply` is a 400 with `code` and `reason` in its message, and no incident was stored."""
    assert reply.status_code == 400, reply.text
    assert reply.json()["code"] == code
    assert reason in reply.json()["message"]
    assert incidents(daemon) == []


def post_in_turn(daemon: ApiClient, kind: str, key: str, *bodies: Any,
                 headers: Mapping[str, str] | None = None) -> tuple[list[Record], list[Record]]:
    """POST the payloads in turn, each answered 202: what the last reply says of its events, and then
    every incident, oldest first."""
    replies = [results(post_payload(daemon, kind, key, body, headers)) for body in bodies]
    return replies[-1], incidents(daemon)


def assert_malformed(daemon: ApiClient, kind: str, integration_type: str, body: Any, reason: str,
                     headers: Mapping[str, str] | None = None) -> None:
    """A payload posted on a new source of `integration_type` is 400 INVALID_PAYLOAD with `reason` in
    its message, and nothing is stored."""
    key = new_source(daemon, integration_type)
    assert_refused(daemon, post_payload(daemon, kind, key, body, headers), reason=reason)


def assert_type_mismatch(daemon: ApiClient, kind: str, other_type: str, body: Any,
                         headers: Mapping[str, str] | None = None) -> None:
    """A payload posted with the key of a source of `other_type` (not `kind`'s) is 400
    INTEGRATION_TYPE_MISMATCH, and nothing is stored."""
    key = new_source(daemon, other_type)
    # Which source the key is, its type, and which types the route takes.
    assert_refused(daemon, post_payload(daemon, kind, key, body, headers), "INTEGRATION_TYPE_MISMATCH",
                   f"this key belongs to alert source \"{other_type} source\", of type {other_type};"
                   f" /api/v1/events/{kind}/ takes keys of ")
