"""Contacts and notification preferences over HTTP: CRUD, validation, ownership and roles."""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
import pytest

from tests.daemon import DaemonProcess

RULES = "/api/users/{}/notification-preferences/{}"


def make_user(daemon: DaemonProcess, username: str, role: str = "USER") -> tuple[int, str]:
    created = daemon.post("/api/users", {"username": username, "email": f"{username}@example.com",
                                         "role": role})
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    token = daemon.post(f"/api/users/{user_id}/tokens", {"name": "test"})
    assert token.status_code == 201
    return user_id, token.json()["token"]


def delete(daemon: DaemonProcess, path: str, token: str | None = None) -> httpx.Response:
    return daemon.client.delete(path, headers=daemon.auth(token))


def add_contact(daemon: DaemonProcess, user_id: int, method: str, target: str,
                token: str | None = None) -> int:
    reply = daemon.post(f"/api/users/{user_id}/contacts", {"method": method, "target": target}, token=token)
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


def assert_invalid(reply: httpx.Response, field: str) -> dict[str, Any]:
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert body["code"] == "INVALID_FIELD" and body["field"] == field, body
    assert body["status"] == 400 and body["message"]
    return body


# --- contacts --------------------------------------------------------------------------------


def test_contacts_crud_round_trip(daemon: DaemonProcess) -> None:
    alice, _ = make_user(daemon, "alice")
    path = f"/api/users/{alice}/contacts"
    assert daemon.get(path).json() == []
    bodies = [
        {"method": "EMAIL", "target": "alice@example.com"},
        {"method": "SMS", "target": "+4915112345678"},
        {"method": "VOICE", "target": "+14155550100"},
        {"method": "push", "target": "https://ntfy.sh/alice-pager"},
    ]
    created = []
    for body in bodies:
        reply = daemon.post(path, body)
        assert reply.status_code == 201, reply.text
        created.append(reply.json())
    assert [c["method"] for c in created] == ["EMAIL", "SMS", "VOICE", "PUSH"]
    assert all(isinstance(c["id"], int) for c in created)
    assert created[0] == {"id": created[0]["id"], "method": "EMAIL", "target": "alice@example.com"}
    listed = daemon.get(path).json()
    assert listed == sorted(created, key=lambda c: c["id"])

    sms = created[1]["id"]
    assert daemon.get(f"{path}/{sms}").json() == created[1]
    # Surrounding blanks are trimmed; the method may be repeated unchanged.
    changed = daemon.put(f"{path}/{sms}", {"method": "SMS", "target": " +4917698765432\n"})
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"id": sms, "method": "SMS", "target": "+4917698765432"}
    assert daemon.get(f"{path}/{sms}").json()["target"] == "+4917698765432"

    gone = delete(daemon, f"{path}/{sms}")
    assert gone.status_code == 204
    assert daemon.get(f"{path}/{sms}").status_code == 404
    assert [c["id"] for c in daemon.get(path).json()] == [c["id"] for c in created if c["id"] != sms]


@pytest.mark.parametrize(("body", "field", "fragment"), [
    ({"target": "a@example.com"}, "method", "required"),
    ({"method": "FAX", "target": "a@example.com"}, "method", "EMAIL, SMS, VOICE, PUSH"),
    ({"method": "EMAIL"}, "target", "required"),
    ({"method": "EMAIL", "target": 42}, "target", "string"),
    ({"method": "EMAIL", "target": "not-an-address"}, "target", "e-mail"),
    ({"method": "SMS", "target": "015112345678"}, "target", "E.164 number such as +4915112345678"),
    ({"method": "SMS", "target": "+49151"}, "target", "E.164"),
    ({"method": "VOICE", "target": "+0123456789"}, "target", "E.164"),
    ({"method": "VOICE", "target": "+4915112345678901"}, "target", "E.164"),
    ({"method": "PUSH", "target": "my topic"}, "target", "whitespace"),
    ({"method": "PUSH", "target": "   "}, "target", "empty"),
    ({"method": "PUSH", "target": "x" * 513}, "target", "512"),
])
def test_contact_validation_errors(daemon: DaemonProcess, body: dict[str, Any], field: str,
                                   fragment: str) -> None:
    path = "/api/users/1/contacts"
    reply = assert_invalid(daemon.post(path, body), field)
    assert fragment in reply["message"]
    assert daemon.get(path).json() == []


def test_contact_method_is_fixed_and_target_checked_on_update(daemon: DaemonProcess) -> None:
    contact = add_contact(daemon, 1, "SMS", "+4915112345678")
    path = f"/api/users/1/contacts/{contact}"
    assert_invalid(daemon.put(path, {"method": "VOICE"}), "method")
    assert_invalid(daemon.put(path, {"method": "PAGER"}), "method")
    assert_invalid(daemon.put(path, {"target": "alice@example.com"}), "target")
    assert_invalid(daemon.put(path, {"target": ""}), "target")
    assert daemon.get(path).json() == {"id": contact, "method": "SMS", "target": "+4915112345678"}


# --- rules -----------------------------------------------------------------------------------

# (collection, extra fields on create, expected extras, an update, expected extras after it)
RULE_CASES = [
    ("alerts", {"delayMin": 5, "type": "HIGH_PRIORITY"}, {"delayMin": 5, "type": "HIGH_PRIORITY"},
     {"delayMin": 30}, {"delayMin": 30, "type": "HIGH_PRIORITY"}),
    ("updates", {"type": "ALERT_ACCEPTED"}, {"type": "ALERT_ACCEPTED"},
     {"type": "alert_resolved"}, {"type": "ALERT_RESOLVED"}),
    ("duties", {"beforeMin": 60}, {"beforeMin": 60},
     {"beforeMin": 1440}, {"beforeMin": 1440}),
]


@pytest.mark.parametrize(("collection", "create", "created", "update", "updated"), RULE_CASES)
def test_rule_crud_round_trip(daemon: DaemonProcess, collection: str, create: dict[str, Any],
                              created: dict[str, Any], update: dict[str, Any],
                              updated: dict[str, Any]) -> None:
    bob, _ = make_user(daemon, "bob")
    sms = add_contact(daemon, bob, "SMS", "+4915112345678")
    email = add_contact(daemon, bob, "EMAIL", "bob@example.com")
    path = RULES.format(bob, collection)
    assert daemon.get(path).json() == []

    reply = daemon.post(path, {"method": "SMS", "contact": {"id": sms}, **create})
    assert reply.status_code == 201, reply.text
    rule = reply.json()
    assert rule == {"id": rule["id"], "method": "SMS", "contact": {"id": sms}, **created}
    second = daemon.post(path, {"method": "EMAIL", "contact": {"id": email}, **create}).json()
    assert [r["id"] for r in daemon.get(path).json()] == sorted([rule["id"], second["id"]])
    assert daemon.get(f"{path}/{rule['id']}").json() == rule

    changed = daemon.put(f"{path}/{rule['id']}", update)
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"id": rule["id"], "method": "SMS", "contact": {"id": sms}, **updated}
    # Moving the rule to another contact takes that contact's method with it.
    moved = daemon.put(f"{path}/{rule['id']}", {"method": "EMAIL", "contact": {"id": email}})
    assert moved.status_code == 200, moved.text
    assert moved.json() == {"id": rule["id"], "method": "EMAIL", "contact": {"id": email}, **updated}
    assert daemon.get(f"{path}/{rule['id']}").json() == moved.json()

    assert delete(daemon, f"{path}/{rule['id']}").status_code == 204
    assert daemon.get(f"{path}/{rule['id']}").status_code == 404
    assert delete(daemon, f"{path}/{rule['id']}").status_code == 404
    assert daemon.get(path).json() == [second]


def test_alert_rule_delay_defaults_to_zero(daemon: DaemonProcess) -> None:
    contact = add_contact(daemon, 1, "PUSH", "ntfy-topic")
    reply = daemon.post(RULES.format(1, "alerts"),
                        {"method": "PUSH", "contact": {"id": contact}, "type": "LOW_PRIORITY"})
    assert reply.status_code == 201, reply.text
    assert reply.json()["delayMin"] == 0 and reply.json()["type"] == "LOW_PRIORITY"


COMMON_RULE_ERRORS: list[tuple[dict[str, Any], str]] = [
    ({"contact": {"id": "SMS"}}, "contact"),
    ({"method": None}, "method"),
    ({"method": "FAX"}, "method"),
    ({"contact": None}, "contact"),
    ({"contact": 7}, "contact"),
    ({"contact": {"id": "7"}}, "contact"),
    ({"contact": {"id": 9999}}, "contact"),
    ({"method": "EMAIL"}, "method"),  # the contact is SMS
]
SPECIFIC_RULE_ERRORS: dict[str, list[tuple[dict[str, Any], str]]] = {
    "alerts": [
        ({"type": None}, "type"),
        ({"type": "URGENT"}, "type"),
        ({"delayMin": -1}, "delayMin"),
        ({"delayMin": 1441}, "delayMin"),
        ({"delayMin": "5"}, "delayMin"),
        ({"delayMin": True}, "delayMin"),
        ({"delayMin": 2.5}, "delayMin"),
    ],
    "updates": [
        ({"type": None}, "type"),
        ({"type": "HIGH_PRIORITY"}, "type"),
    ],
    "duties": [
        ({"beforeMin": 10}, "beforeMin"),
        ({"beforeMin": -15}, "beforeMin"),
        ({"beforeMin": "60"}, "beforeMin"),
        ({"beforeMin": 2880}, "beforeMin"),
    ],
}
VALID_EXTRAS = {"alerts": {"type": "HIGH_PRIORITY", "delayMin": 0}, "updates": {"type": "ALERT_ESCALATED"},
                "duties": {"beforeMin": 15}}


@pytest.mark.parametrize("collection", ["alerts", "updates", "duties"])
def test_rule_validation_errors(daemon: DaemonProcess, collection: str) -> None:
    carol, _ = make_user(daemon, "carol")
    dave, _ = make_user(daemon, "dave")
    sms = add_contact(daemon, carol, "SMS", "+4915112345678")
    email = add_contact(daemon, carol, "EMAIL", "carol@example.com")
    daves = add_contact(daemon, dave, "SMS", "+4915112345679")
    path = RULES.format(carol, collection)
    valid = {"method": "SMS", "contact": {"id": sms}, **VALID_EXTRAS[collection]}
    cases = [*COMMON_RULE_ERRORS, *SPECIFIC_RULE_ERRORS[collection],
             ({"contact": {"id": daves}}, "contact")]
    for change, field in cases:
        assert_invalid(daemon.post(path, {**valid, **change}), field)
    missing_method = {k: value for k, value in valid.items() if k != "method"}
    assert_invalid(daemon.post(path, missing_method), "method")
    missing_contact = {k: value for k, value in valid.items() if k != "contact"}
    assert_invalid(daemon.post(path, missing_contact), "contact")
    assert daemon.get(path).json() == []

    rule = daemon.post(path, valid)
    assert rule.status_code == 201, rule.text
    rule_path = f"{path}/{rule.json()['id']}"
    # A new contact of another method without the matching method is a mismatch.
    assert_invalid(daemon.put(rule_path, {"contact": {"id": email}}), "method")
    assert_invalid(daemon.put(rule_path, {"contact": {"id": daves}}), "contact")
    for change, field in SPECIFIC_RULE_ERRORS[collection]:
        if change.get("type", "") is not None:  # null on update means "unchanged"
            assert_invalid(daemon.put(rule_path, change), field)
    assert daemon.get(rule_path).json() == rule.json()


def test_duty_rules_refuse_voice(daemon: DaemonProcess) -> None:
    voice = add_contact(daemon, 1, "VOICE", "+4915112345678")
    path = RULES.format(1, "duties")
    body = assert_invalid(daemon.post(path, {"method": "VOICE", "contact": {"id": voice}}), "method")
    assert "EMAIL, SMS, PUSH" in body["message"]
    assert daemon.get(path).json() == []
    # Alert rules may call.
    alert = daemon.post(RULES.format(1, "alerts"),
                        {"method": "VOICE", "contact": {"id": voice}, "type": "HIGH_PRIORITY"})
    assert alert.status_code == 201, alert.text


def test_duty_rule_before_defaults_to_zero(daemon: DaemonProcess) -> None:
    push = add_contact(daemon, 1, "PUSH", "ntfy-topic")
    reply = daemon.post(RULES.format(1, "duties"), {"method": "PUSH", "contact": {"id": push}})
    assert reply.status_code == 201, reply.text
    assert reply.json()["beforeMin"] == 0


def test_deleting_a_contact_removes_its_rules(daemon: DaemonProcess) -> None:
    doomed = add_contact(daemon, 1, "SMS", "+4915112345678")
    kept = add_contact(daemon, 1, "EMAIL", "admin@example.com")
    for contact, method in ((doomed, "SMS"), (kept, "EMAIL")):
        for collection, extras in VALID_EXTRAS.items():
            reply = daemon.post(RULES.format(1, collection),
                                {"method": method, "contact": {"id": contact}, **extras})
            assert reply.status_code == 201, reply.text
    assert delete(daemon, f"/api/users/1/contacts/{doomed}").status_code == 204
    for collection in VALID_EXTRAS:
        rules = daemon.get(RULES.format(1, collection)).json()
        assert [r["contact"]["id"] for r in rules] == [kept], (collection, rules)
    assert [c["id"] for c in daemon.get("/api/users/1/contacts").json()] == [kept]


# --- who may do what -------------------------------------------------------------------------


def test_user_reads_anyones_preferences_but_edits_only_their_own(daemon: DaemonProcess) -> None:
    erin, erin_token = make_user(daemon, "erin")
    frank, frank_token = make_user(daemon, "frank")
    franks = add_contact(daemon, frank, "EMAIL", "frank@example.com", token=frank_token)
    franks_rule = daemon.post(RULES.format(frank, "alerts"),
                              {"method": "EMAIL", "contact": {"id": franks}, "type": "HIGH_PRIORITY"},
                              token=frank_token)
    assert franks_rule.status_code == 201, franks_rule.text
    rule_id = franks_rule.json()["id"]

    contacts = daemon.get(f"/api/users/{frank}/contacts", token=erin_token)
    assert contacts.status_code == 200 and [c["id"] for c in contacts.json()] == [franks]
    assert daemon.get(f"/api/users/{frank}/contacts/{franks}", token=erin_token).status_code == 200
    rules = daemon.get(RULES.format(frank, "alerts"), token=erin_token)
    assert rules.status_code == 200 and [r["id"] for r in rules.json()] == [rule_id]

    attempts = [
        daemon.post(f"/api/users/{frank}/contacts", {"method": "SMS", "target": "+4915112345678"},
                    token=erin_token),
        daemon.put(f"/api/users/{frank}/contacts/{franks}", {"target": "erin@example.com"},
                   token=erin_token),
        delete(daemon, f"/api/users/{frank}/contacts/{franks}", token=erin_token),
        daemon.post(RULES.format(frank, "updates"),
                    {"method": "EMAIL", "contact": {"id": franks}, "type": "ALERT_ACCEPTED"},
                    token=erin_token),
        daemon.put(f"{RULES.format(frank, 'alerts')}/{rule_id}", {"delayMin": 60}, token=erin_token),
        delete(daemon, f"{RULES.format(frank, 'alerts')}/{rule_id}", token=erin_token),
    ]
    for reply in attempts:
        assert reply.status_code == 403, reply.text
        assert reply.json()["code"] == "FORBIDDEN"
    assert daemon.get(f"/api/users/{frank}/contacts").json() == [
        {"id": franks, "method": "EMAIL", "target": "frank@example.com"}
    ]
    assert daemon.get(f"{RULES.format(frank, 'alerts')}/{rule_id}").json()["delayMin"] == 0
    assert daemon.get(RULES.format(frank, "updates")).json() == []

    # Erin's own are hers to change.
    own = add_contact(daemon, erin, "PUSH", "erin-topic", token=erin_token)
    renamed = daemon.put(f"/api/users/{erin}/contacts/{own}", {"target": "erin-pager"}, token=erin_token)
    assert renamed.status_code == 200 and renamed.json()["target"] == "erin-pager"
    duty = daemon.post(RULES.format(erin, "duties"), {"method": "PUSH", "contact": {"id": own}},
                       token=erin_token)
    assert duty.status_code == 201, duty.text
    assert delete(daemon, f"{RULES.format(erin, 'duties')}/{duty.json()['id']}",
                  token=erin_token).status_code == 204


def test_admin_edits_anyones_preferences(daemon: DaemonProcess) -> None:
    gina, gina_token = make_user(daemon, "gina")
    contact = add_contact(daemon, gina, "SMS", "+4915112345678")
    rule = daemon.post(RULES.format(gina, "alerts"),
                       {"method": "SMS", "contact": {"id": contact}, "type": "HIGH_PRIORITY"})
    assert rule.status_code == 201, rule.text
    changed = daemon.put(f"{RULES.format(gina, 'alerts')}/{rule.json()['id']}", {"delayMin": 15})
    assert changed.status_code == 200 and changed.json()["delayMin"] == 15
    # Gina sees what the admin set up for her.
    seen = daemon.get(RULES.format(gina, "alerts"), token=gina_token).json()
    assert [(r["contact"]["id"], r["delayMin"]) for r in seen] == [(contact, 15)]
    assert delete(daemon, f"/api/users/{gina}/contacts/{contact}").status_code == 204
    assert daemon.get(f"/api/users/{gina}/contacts", token=gina_token).json() == []


def test_unknown_users_and_other_users_ids_are_404(daemon: DaemonProcess) -> None:
    hank, _ = make_user(daemon, "hank")
    ivy, _ = make_user(daemon, "ivy")
    hanks = add_contact(daemon, hank, "EMAIL", "hank@example.com")
    hanks_rule = daemon.post(RULES.format(hank, "updates"),
                             {"method": "EMAIL", "contact": {"id": hanks}, "type": "ALERT_RESOLVED"})
    assert hanks_rule.status_code == 201
    rule_id = hanks_rule.json()["id"]

    missing = [
        daemon.get("/api/users/999/contacts"),
        daemon.post("/api/users/999/contacts", {"method": "EMAIL", "target": "x@example.com"}),
        daemon.get(RULES.format(999, "alerts")),
        daemon.get("/api/users/abc/contacts"),
        daemon.get(f"/api/users/{ivy}/contacts/{hanks}"),
        daemon.put(f"/api/users/{ivy}/contacts/{hanks}", {"target": "ivy@example.com"}),
        delete(daemon, f"/api/users/{ivy}/contacts/{hanks}"),
        daemon.get(f"/api/users/{hank}/contacts/4242"),
        daemon.get(f"{RULES.format(ivy, 'updates')}/{rule_id}"),
        daemon.put(f"{RULES.format(ivy, 'updates')}/{rule_id}", {"type": "ALERT_ACCEPTED"}),
        delete(daemon, f"{RULES.format(ivy, 'updates')}/{rule_id}"),
        daemon.get(f"{RULES.format(hank, 'alerts')}/{rule_id + 100}"),
        daemon.get(RULES.format(hank, "reminders")),
    ]
    for reply in missing:
        assert reply.status_code == 404, (reply.request.method, reply.request.url, reply.text)
        assert reply.json()["code"] == "NOT_FOUND"
    assert daemon.get(f"/api/users/{hank}/contacts/{hanks}").json()["target"] == "hank@example.com"
    assert daemon.get(f"{RULES.format(hank, 'updates')}/{rule_id}").json()["type"] == "ALERT_RESOLVED"


def test_requests_without_a_valid_token_are_401(daemon: DaemonProcess) -> None:
    contact = add_contact(daemon, 1, "EMAIL", "admin@example.com")
    requests = [
        ("GET", "/api/users/1/contacts", None),
        ("POST", "/api/users/1/contacts", {"method": "EMAIL", "target": "x@example.com"}),
        ("PUT", f"/api/users/1/contacts/{contact}", {"target": "x@example.com"}),
        ("DELETE", f"/api/users/1/contacts/{contact}", None),
        ("GET", RULES.format(1, "alerts"), None),
        ("POST", RULES.format(1, "duties"), {"method": "EMAIL", "contact": {"id": contact}}),
    ]
    for headers in ({}, {"Authorization": "Bearer nope"}):
        for method, path, body in requests:
            reply = daemon.client.request(method, path, json=body, headers=headers)
            assert reply.status_code == 401, (method, path, reply.text)
            assert reply.json()["code"] == "UNAUTHORIZED"
    assert daemon.get("/api/users/1/contacts").json() == [
        {"id": contact, "method": "EMAIL", "target": "admin@example.com"}
    ]
    assert daemon.get(RULES.format(1, "duties")).json() == []
