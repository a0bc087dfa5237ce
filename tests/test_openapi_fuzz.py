"""Schemathesis against a real `ilertd serve` with an admin token: every operation of its OpenAPI
document, with data that fits the document and data that does not, a bounded number of examples
each. No answer is a 5xx, every answer fits the document (status, content type, schema), and a
refused request stores nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.daemon import CLOCK_START, DaemonProcess
from tests.test_fuzz import seed
from tests.test_input_safety import Snapshots

if TYPE_CHECKING:
    # Imported where the test runs, not where the suite is collected: every pytest process
    # collects this module, one runs it, and schemathesis takes about a second to import
    # (pyproject's addopts leave its pytest plugin out for the same reason).
    import schemathesis

# Examples per operation and mode: about 90 operations, two modes, in under two minutes.
EXAMPLES = 8
ID_PARAMETERS = ("id", "cid", "rid", "tid", "oid")
# Built once, not in every draw: hypothesis validates each new strategy.
AIMED = st.integers(0, 3)
SEEDED_IDS = st.sampled_from([1, 2])
TYPES = st.sampled_from(["api", "pagerduty", "prometheus", "webhook"])


class Settled:
    """The subprocess daemon as `Snapshots` reads it: settled once the manual clock, read, answers
    (every timer due has fired, the actors are idle, every page due has been attempted)."""

    def __init__(self, daemon: DaemonProcess) -> None:
        self.daemon = daemon
        self.data_dir = daemon.data_dir

    def quiet(self) -> None:
        self.daemon.now()


def seed_more(daemon: DaemonProcess) -> dict[str, str]:
    """Beyond `seed`'s user, contact, rules, schedule, policy and incident: a heartbeat monitor, a
    maintenance window and an override to come, so that ids 1 and 2 name something everywhere.
    The keys a path may hold: (parameter → a key that opens something)."""
    monitor = daemon.post("/api/heartbeat-monitors", {"name": "backup", "intervalSec": 3600,
                                                       "alertSource": {"id": 1}})
    assert monitor.status_code == 201, monitor.text
    window = daemon.post("/api/maintenance-windows", {"summary": "upgrade", "start": "2026-02-01T00:00:00Z",
                                                       "end": "2026-02-01T02:00:00Z",
                                                       "alertSources": [{"id": 1}]})
    assert window.status_code == 201, window.text
    override = daemon.post("/api/schedules/1/overrides", {"user": {"id": 2}, "start": "2026-01-10T00:00:00Z",
                                                          "end": "2026-01-11T00:00:00Z"})
    assert override.status_code == 201, override.text
    assert daemon.post("/api/incidents/1/comments", {"content": "looking"}).status_code == 201
    return {"key": monitor.json()["integrationKey"]}


def admin_token_id(daemon: DaemonProcess) -> int:
    tokens = daemon.get("/api/users/1/tokens").json()
    assert len(tokens) == 1, tokens
    return int(tokens[0]["id"])


def aim(case: schemathesis.Case, draw: Callable[[st.SearchStrategy[Any]], Any], daemon: DaemonProcess,
        keys: dict[str, str]) -> None:
    """Mostly, a path names seeded objects (user 2 owns contact 1 and rules 1) and real keys, so
    requests reach past 404 to the validators and the writes behind them."""
    if not draw(AIMED):
        return
    params = case.path_parameters or {}
    owned = case.operation.path.startswith("/api/users/{id}/")
    for name in params:
        if name == "id":
            params[name] = 2 if owned else draw(SEEDED_IDS)
        elif name in ID_PARAMETERS:
            params[name] = draw(SEEDED_IDS)
        elif name == "key":
            params[name] = daemon.integration_key if "/events/" in case.operation.path else keys["key"]
        elif name == "type":
            params[name] = draw(TYPES)
    if isinstance(case.body, dict) and "integrationKey" in case.body:
        case.body["integrationKey"] = daemon.integration_key


def pinned_clock(case: schemathesis.Case) -> None:
    """`POST /api/_clock` reads its time as sent, but never moves it: moving the clock years ahead
    is slow (every timer on the way fires), not unsafe, and its refusals are tested elsewhere."""
    if case.operation.path == "/api/_clock" and isinstance(case.body, dict):
        if isinstance(case.body.get("advance"), str):
            case.body["advance"] = "PT0S"
        if isinstance(case.body.get("set"), str):
            case.body["set"] = CLOCK_START


def takes_the_callers_rights(case: schemathesis.Case, token_id: int) -> bool:
    """The run keeps its own admin rights: demoting user 1 or revoking its token would turn every
    later request into a 401 or 403."""
    params = case.path_parameters or {}
    method, path = case.operation.method.upper(), case.operation.path
    if method == "PUT" and path == "/api/users/{id}" and str(params.get("id")) == "1":
        role = case.body.get("role") if isinstance(case.body, dict) else None
        return isinstance(role, str) and role.upper() != "ADMIN"
    return (method == "DELETE" and path == "/api/users/{id}/tokens/{tid}"
            and str(params.get("id")) == "1" and str(params.get("tid")) == str(token_id))


def negatable(definition: dict[str, Any]) -> bool:
    """Whether the document says anything a request could break: a parameter other than a bare
    string, a JSON body with a shape, or the bearer token. (A key in the path, a form of optional
    strings or a public route without parameters cannot be sent wrong.)"""
    for parameter in definition.get("parameters", []):
        if set(parameter["schema"]) - {"description"} != {"type"} or parameter["schema"]["type"] != "string":
            return True
    for media, content in definition.get("requestBody", {}).get("content", {}).items():
        if media == "application/json" and set(content["schema"]) - {"description"}:
            return True
    return definition.get("security") != []


def test_every_operation_answers_as_documented_and_a_refusal_stores_nothing(tmp_path: Path) -> None:
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance]
    daemon = DaemonProcess(tmp_path / "fuzz").start()
    snapshots = Snapshots(Settled(daemon))  # type: ignore[arg-type]
    try:
        seed(daemon)  # type: ignore[arg-type]
        keys = seed_more(daemon)
        token_id = admin_token_id(daemon)
        document = requests.get(f"{daemon.url}/api/openapi.json", timeout=30).json()
        schema = schemathesis.openapi.from_dict(document)
        results = list(schema.get_all_operations())
        # Deletions last, the innermost first: the seeded objects stay for the other operations.
        operations = sorted((result.ok() for result in results),
                            key=lambda op: (op.method.upper() == "DELETE", -op.path.count("/")))
        assert len(operations) > 85
        session = requests.Session()
        headers = daemon.auth()
        sent: dict[str, int] = {}
        succeeded: set[str] = set()
        # The store as the last refusal left it (unchanged since, as nothing else was sent): the
        # next request's "before", read once instead of twice.
        unchanged: list[dict[str, Any]] = []

        for operation in operations:
            definition = document["paths"][operation.path][operation.method.lower()]
            modes = [GenerationMode.POSITIVE, *([GenerationMode.NEGATIVE] if negatable(definition) else [])]
            for mode in modes:

                @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                          suppress_health_check=list(HealthCheck))
                @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
                def one_request(case: schemathesis.Case, data: st.DataObject) -> None:
                    aim(case, data.draw, daemon, keys)
                    pinned_clock(case)
                    if takes_the_callers_rights(case, token_id):
                        return
                    before = unchanged.pop() if unchanged else snapshots.take()
                    response = case.call(base_url=daemon.url, session=session, headers=headers)
                    case.validate_response(response, checks=checks)
                    label = case.operation.label
                    sent[label] = sent.get(label, 0) + 1
                    if response.status_code < 300:
                        succeeded.add(label)
                    if response.status_code >= 400:
                        after = snapshots.take()
                        assert after == before, (label, case.path_parameters, case.body, response.text[:300])
                        unchanged.append(after)

                one_request()

        session.close()
        assert set(sent) == {operation.label for operation in operations}, "operations never called"
        # Most operations got past the checks to a 2xx: the run reached what lies behind them.
        assert len(succeeded) >= 55, sorted(succeeded)
        assert "ERROR" not in daemon.log() and "Traceback" not in daemon.log(), daemon.log()[-3000:]
    finally:
        snapshots.close()
        daemon.stop()
