"""A PUT's null: a 400 naming the field where it cannot be null, cleared where it may be."""

from __future__ import annotations

from typing import Any

import pytest

from tests.inprocess import InProcessDaemon


def created(app: InProcessDaemon, path: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = app.post(path, body)
    assert reply.status_code == 201, reply.text
    return reply.json()  # type: ignore[no-any-return]


def everything(app: InProcessDaemon) -> dict[str, tuple[str, list[str]]]:
    """One of each thing a PUT changes: its path, and the fields of its body that cannot be null."""
    user = created(app, "/api/users", {"username": "nulls", "email": "nulls@example.com"})
    base = f"/api/users/{user['id']}"
    contact = created(app, f"{base}/contacts", {"method": "EMAIL", "target": "pager@example.com"})
    ref = {"method": "EMAIL", "contact": {"id": contact["id"]}}
    prefs = f"{base}/notification-preferences"
    alert = created(app, f"{prefs}/alerts", {**ref, "type": "HIGH_PRIORITY", "delayMin": 1})
    update = created(app, f"{prefs}/updates", {**ref, "type": "ALERT_ACCEPTED"})
    duty = created(app, f"{prefs}/duties", {**ref, "beforeMin": 15})
    level = {"escalationTimeout": 5, "users": [{"id": user["id"]}]}
    policy = created(app, "/api/escalation-policies", {"name": "p", "escalationRules": [level]})
    source = created(app, "/api/alert-sources", {"name": "s", "escalationPolicy": {"id": policy["id"]}})
    monitor = created(app, "/api/heartbeat-monitors",
                      {"name": "h", "intervalSec": 60, "alertSource": {"id": source["id"]}})
    window = created(app, "/api/maintenance-windows", {"summary": "upgrade", "start": "2026-03-01T00:00:00Z",
                                                       "end": "2026-03-02T00:00:00Z",
                                                       "alertSources": [{"id": source["id"]}]})
    schedule = created(app, "/api/schedules", {"name": "sc", "timezone": "UTC", "scheduleLayers": [
        {"users": [{"id": user["id"]}], "rotation": "P1W", "startsOn": "2026-01-05T09:00"}]})
    return {
        "window": (f"/api/maintenance-windows/{window['id']}", ["summary", "start", "end", "alertSources"]),
        "user": (base, ["username", "timezone", "role"]),
        "contact": (f"{base}/contacts/{contact['id']}", ["method", "target"]),
        "alert rule": (f"{prefs}/alerts/{alert['id']}", ["method", "contact", "type", "delayMin"]),
        "update rule": (f"{prefs}/updates/{update['id']}", ["method", "contact", "type"]),
        "duty rule": (f"{prefs}/duties/{duty['id']}", ["method", "contact", "beforeMin"]),
        "policy": (f"/api/escalation-policies/{policy['id']}",
                   ["name", "escalationRules", "repeating", "frequency"]),
        "source": (f"/api/alert-sources/{source['id']}", ["name", "integrationType", "priority"]),
        "monitor": (f"/api/heartbeat-monitors/{monitor['id']}", ["name", "intervalSec", "alertSource"]),
        "schedule": (f"/api/schedules/{schedule['id']}", ["name", "type", "timezone", "scheduleLayers"]),
    }


def as_listed(app: InProcessDaemon, path: str) -> Any:
    """The thing as a GET shows it (contacts and rules are read from their user's list)."""
    collection, _, item = path.rpartition("/")
    if "/contacts" in path or "/notification-preferences" in path:
        return next(row for row in app.get(collection).json() if row["id"] == int(item))
    return app.get(path).json()


def test_a_maintenance_window_put_with_null_fields_is_refused_naming_the_field(app: InProcessDaemon) -> None:
    """`{"summary": null}` answered 200 and changed nothing."""
    path, names = everything(app)["window"]
    before = app.get(path).json()
    for name in names:
        reply = app.put(path, {name: None})
        assert reply.status_code == 400, (name, reply.text)
        message = f"{name} cannot be null: give a value, or leave the field out to keep it as it is"
        assert reply.json() == {"status": 400, "code": "INVALID_FIELD", "field": name, "message": message}
    assert app.put(path, {"summary": None, "end": "2026-03-03T00:00:00Z"}).status_code == 400
    assert app.get(path).json() == before


@pytest.mark.parametrize("what", ["user", "contact", "alert rule", "update rule", "duty rule", "policy",
                                  "source", "monitor", "schedule"])
def test_every_put_refuses_a_null_for_a_field_that_cannot_be_null(app: InProcessDaemon, what: str) -> None:
    path, names = everything(app)[what]
    before = as_listed(app, path)
    whole = {k: v for k, v in before.items() if k not in ("id", "shifts")} if what == "schedule" else {}
    for name in names:
        reply = app.put(path, {**whole, name: None})
        assert reply.status_code == 400, (name, reply.text)
        assert reply.json()["field"] == name and "cannot be null" in reply.json()["message"], reply.text
    assert as_listed(app, path) == before


def test_a_null_clears_a_field_that_may_be_cleared(app: InProcessDaemon) -> None:
    user = created(app, "/api/users", {"username": "named", "firstName": "Ada", "lastName": "L",
                                       "email": "ada@example.com", "mutedUntil": "2026-02-01T00:00:00Z"})
    cleared = app.put(f"/api/users/{user['id']}", {"firstName": None, "email": None, "mutedUntil": None})
    assert cleared.status_code == 200, cleared.text
    assert {k: cleared.json()[k] for k in ("firstName", "lastName", "email", "mutedUntil")} == {
        "firstName": "", "lastName": "L", "email": "", "mutedUntil": None}
    source = created(app, "/api/alert-sources", {
        "name": "texts", "integrationType": "SMS", "phoneNumber": "+4915112345678", "signingSecret": "abc",
        "supportHours": {"timezone": "UTC", "supportDays": {"MONDAY": {"start": "09:00", "end": "17:00"}}}})
    reply = app.put(f"/api/alert-sources/{source['id']}",
                    {"phoneNumber": None, "signingSecret": None, "supportHours": None})
    assert reply.status_code == 200, reply.text
    assert [reply.json()[k] for k in ("phoneNumber", "signingSecret", "supportHours")] == [None, None, None]
