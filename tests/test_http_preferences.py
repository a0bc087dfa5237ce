"""Contacts and notification preferences over HTTP: CRUD, validation, ownership and roles."""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
import pytest

from tests.inprocess import InProcessDaemon

RULES = "/api/users/{}/notification-preferences/{}"


def make_user(app: InProcessDaemon, username: str, role: str = "USER") -> tuple[int, str]:
    created = app.post("/api/users", {"username": username, "email": f"{username}@example.com",
                                         "role": role})
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    token = app.post(f"/api/users/{user_id}/tokens", {"name": "test"})
    assert token.status_code == 201
    return user_id, token.json()["token"]


def delete(app: InProcessDaemon, path: str, token: str | None = None) -> httpx.Response:
    return app.client.delete(path, headers=app.auth(token))


def add_contact(app: InProcessDaemon, user_id: int, method: str, target: str,
                token: str | None = None) -> int:
    reply = app.post(f"/api/users/{user_id}/contacts", {"method": method, "target": target}, token=token)
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


def assert_invalid(reply: httpx.Response, field: str) -> dict[str, Any]:
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert body["code"] == "INVALID_FIELD" and body["field"] == field, body
    assert body["status"] == 400 and body["message"]
    return body


# --- contacts --------------------------------------------------------------------------------


def test_contacts_crud_round_trip(app: InProcessDaemon) -> None:
    alice, _ = make_user(app, "alice")
    path = f"/api/users/{alice}/contacts"
    assert app.get(path).json() == []
    bodies = [
        {"method": "EMAIL", "target": "alice@example.com"},
        {"method": "SMS", "target": "+4915112345678"},
        {"method": "VOICE", "target": "+14155550100"},
        {"method": "push", "target": "https://ntfy.sh/alice-pager"},
    ]
    created = []
    for body in bodies:
        reply = app.post(path, body)
        assert reply.status_code == 201, reply.text
        created.append(reply.json())
    assert [c["method"] for c in created] == ["EMAIL", "SMS", "VOICE", "PUSH"]
    assert all(isinstance(c["id"], int) for c in created)
    assert created[0] == {"id": created[0]["id"], "method": "EMAIL", "target": "alice@example.com",
                          "stopped": False}
    listed = app.get(path).json()
    assert listed == sorted(created, key=lambda c: c["id"])

    sms = created[1]["id"]
    assert app.get(f"{path}/{sms}").json() == created[1]
    # Surrounding blanks are trimmed; the method may be repeated unchanged.
    changed = app.put(f"{path}/{sms}", {"method": "SMS", "target": " +4917698765432\n"})
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"id": sms, "method": "SMS", "target": "+4917698765432", "stopped": False}
    assert app.get(f"{path}/{sms}").json()["target"] == "+4917698765432"

    gone = delete(app, f"{path}/{sms}")
    assert gone.status_code == 204
    assert app.get(f"{path}/{sms}").status_code == 404
    assert [c["id"] for c in app.get(path).json()] == [c["id"] for c in created if c["id"] != sms]


def test_a_number_is_kept_as_e164_however_it_is_written(app: InProcessDaemon) -> None:
    """A number as people write it, with spaces, dashes, dots or brackets, was a 400: it is kept as
    E.164, the form a reply by SMS comes from."""
    path = "/api/users/1/contacts"
    voice = app.post(path, {"method": "VOICE", "target": "+1 415 555 0199"})
    assert (voice.status_code, voice.json()["target"]) == (201, "+14155550199"), voice.text
    written = app.put(f"{path}/{voice.json()['id']}", {"target": "+49 (176) 987-654.32"})
    assert (written.status_code, written.json()["target"]) == (200, "+4917698765432"), written.text


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
def test_contact_validation_errors(app: InProcessDaemon, body: dict[str, Any], field: str,
                                   fragment: str) -> None:
    path = "/api/users/1/contacts"
    reply = assert_invalid(app.post(path, body), field)
    assert fragment in reply["message"]
    assert app.get(path).json() == []


def test_contact_method_is_fixed_and_target_checked_on_update(app: InProcessDaemon) -> None:
    contact = add_contact(app, 1, "SMS", "+4915112345678")
    path = f"/api/users/1/contacts/{contact}"
    assert_invalid(app.put(path, {"method": "VOICE"}), "method")
    assert_invalid(app.put(path, {"method": "PAGER"}), "method")
    assert_invalid(app.put(path, {"target": "alice@example.com"}), "target")
    assert_invalid(app.put(path, {"target": ""}), "target")
    assert app.get(path).json() == {"id": contact, "method": "SMS", "target": "+4915112345678",
                                   "stopped": False}


def test_a_second_contact_of_one_method_and_target_is_refused(app: InProcessDaemon) -> None:
    """A number typed once with spaces and once without made two contacts of one phone: its rules
    and pages split between them, and the profile listed it twice."""
    first = add_contact(app, 1, "SMS", "+4915112345678")
    again = app.post("/api/users/1/contacts", {"method": "SMS", "target": "+49 151 1234 5678"})
    assert (again.status_code, again.json()["code"]) == (409, "ALREADY_EXISTS")
    assert again.json()["field"] == "target"
    assert again.json()["message"] == f"user 1 already has this contact (id {first}): SMS +4915112345678"
    # Another method, or another user, may have it.
    voice = add_contact(app, 1, "VOICE", "+4915112345678")
    bob = app.post("/api/users", {"username": "bob"}).json()["id"]
    add_contact(app, bob, "SMS", "+4915112345678")
    moved = app.put(f"/api/users/1/contacts/{voice}", {"target": "+4915112345679"})
    assert moved.status_code == 200, moved.text
    add_contact(app, 1, "VOICE", "+4915112345678")
    refused = app.put(f"/api/users/1/contacts/{voice}", {"target": "+4915112345678"})
    assert (refused.status_code, refused.json()["code"]) == (409, "ALREADY_EXISTS"), refused.text
    # Given its own target again, a contact is unchanged, not refused.
    assert app.put(f"/api/users/1/contacts/{first}", {"target": "+4915112345678"}).status_code == 200
    assert [c["target"] for c in app.get("/api/users/1/contacts").json()] == [
        "+4915112345678", "+4915112345679", "+4915112345678"]


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
def test_rule_crud_round_trip(app: InProcessDaemon, collection: str, create: dict[str, Any],
                              created: dict[str, Any], update: dict[str, Any],
                              updated: dict[str, Any]) -> None:
    bob, _ = make_user(app, "bob")
    sms = add_contact(app, bob, "SMS", "+4915112345678")
    email = add_contact(app, bob, "EMAIL", "bob@example.com")
    path = RULES.format(bob, collection)
    assert app.get(path).json() == []

    reply = app.post(path, {"method": "SMS", "contact": {"id": sms}, **create})
    assert reply.status_code == 201, reply.text
    rule = reply.json()
    assert rule == {"id": rule["id"], "method": "SMS", "contact": {"id": sms}, **created}
    second = app.post(path, {"method": "EMAIL", "contact": {"id": email}, **create}).json()
    assert [r["id"] for r in app.get(path).json()] == sorted([rule["id"], second["id"]])
    assert app.get(f"{path}/{rule['id']}").json() == rule

    changed = app.put(f"{path}/{rule['id']}", update)
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"id": rule["id"], "method": "SMS", "contact": {"id": sms}, **updated}
    # Moving the rule to another contact takes that contact's method with it.
    moved = app.put(f"{path}/{rule['id']}", {"method": "EMAIL", "contact": {"id": email}})
    assert moved.status_code == 200, moved.text
    assert moved.json() == {"id": rule["id"], "method": "EMAIL", "contact": {"id": email}, **updated}
    assert app.get(f"{path}/{rule['id']}").json() == moved.json()

    assert delete(app, f"{path}/{rule['id']}").status_code == 204
    assert app.get(f"{path}/{rule['id']}").status_code == 404
    assert delete(app, f"{path}/{rule['id']}").status_code == 404
    assert app.get(path).json() == [second]


def test_alert_rule_delay_defaults_to_zero(app: InProcessDaemon) -> None:
    contact = add_contact(app, 1, "PUSH", "ntfy-topic")
    reply = app.post(RULES.format(1, "alerts"),
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
def test_rule_validation_errors(app: InProcessDaemon, collection: str) -> None:
    carol, _ = make_user(app, "carol")
    dave, _ = make_user(app, "dave")
    sms = add_contact(app, carol, "SMS", "+4915112345678")
    email = add_contact(app, carol, "EMAIL", "carol@example.com")
    daves = add_contact(app, dave, "SMS", "+4915112345679")
    path = RULES.format(carol, collection)
    valid = {"method": "SMS", "contact": {"id": sms}, **VALID_EXTRAS[collection]}
    cases = [*COMMON_RULE_ERRORS, *SPECIFIC_RULE_ERRORS[collection],
             ({"contact": {"id": daves}}, "contact")]
    for change, field in cases:
        assert_invalid(app.post(path, {**valid, **change}), field)
    missing_method = {k: value for k, value in valid.items() if k != "method"}
    assert_invalid(app.post(path, missing_method), "method")
    missing_contact = {k: value for k, value in valid.items() if k != "contact"}
    assert_invalid(app.post(path, missing_contact), "contact")
    assert app.get(path).json() == []

    rule = app.post(path, valid)
    assert rule.status_code == 201, rule.text
    rule_path = f"{path}/{rule.json()['id']}"
    # A new contact of another method without the matching method is a mismatch.
    assert_invalid(app.put(rule_path, {"contact": {"id": email}}), "method")
    assert_invalid(app.put(rule_path, {"contact": {"id": daves}}), "contact")
    for change, field in SPECIFIC_RULE_ERRORS[collection]:
        if change.get("type", "") is not None:  # null on update means "unchanged"
            assert_invalid(app.put(rule_path, change), field)
    assert app.get(rule_path).json() == rule.json()


def test_duty_rules_refuse_voice(app: InProcessDaemon) -> None:
    voice = add_contact(app, 1, "VOICE", "+4915112345678")
    path = RULES.format(1, "duties")
    body = assert_invalid(app.post(path, {"method": "VOICE", "contact": {"id": voice}}), "method")
    assert "EMAIL, SMS, PUSH" in body["message"]
    assert app.get(path).json() == []
    # Alert rules may call.
    alert = app.post(RULES.format(1, "alerts"),
                        {"method": "VOICE", "contact": {"id": voice}, "type": "HIGH_PRIORITY"})
    assert alert.status_code == 201, alert.text


def test_duty_rule_before_defaults_to_zero(app: InProcessDaemon) -> None:
    push = add_contact(app, 1, "PUSH", "ntfy-topic")
    reply = app.post(RULES.format(1, "duties"), {"method": "PUSH", "contact": {"id": push}})
    assert reply.status_code == 201, reply.text
    assert reply.json()["beforeMin"] == 0


@pytest.mark.parametrize("collection", ["alerts", "updates", "duties"])
def test_an_identical_rule_is_refused_on_create_and_update(app: InProcessDaemon, collection: str
                                                           ) -> None:
    sms = add_contact(app, 1, "SMS", "+4915112345678")
    email = add_contact(app, 1, "EMAIL", "admin@example.com")
    path = RULES.format(1, collection)
    valid = {"method": "SMS", "contact": {"id": sms}, **VALID_EXTRAS[collection]}
    first = app.post(path, valid)
    assert first.status_code == 201, first.text
    if collection == "alerts":
        # Defaults count: a rule that leaves out delayMin is the one that says 0.
        unsaid = app.post(path, {k: v for k, v in valid.items() if k != "delayMin"})
        assert unsaid.status_code == 409 and unsaid.json()["code"] == "ALREADY_EXISTS", unsaid.text
    twice = app.post(path, {**valid, "method": "sms"})
    assert twice.status_code == 409, twice.text
    body = twice.json()
    assert body["code"] == "ALREADY_EXISTS" and body["status"] == 409
    assert f"(id {first.json()['id']})" in body["message"], body
    # The same type and delay at another contact, or another type or delay, is another rule.
    other = app.post(path, {**valid, "method": "EMAIL", "contact": {"id": email}})
    assert other.status_code == 201, other.text
    differing = {"alerts": {"delayMin": 5}, "updates": {"type": "ALERT_RESOLVED"},
                 "duties": {"beforeMin": 60}}[collection]
    third = app.post(path, {**valid, **differing})
    assert third.status_code == 201, third.text
    # Turning one rule into a copy of another is refused and changes nothing.
    copy = app.put(f"{path}/{third.json()['id']}", VALID_EXTRAS[collection])
    assert copy.status_code == 409 and copy.json()["code"] == "ALREADY_EXISTS", copy.text
    moved = app.put(f"{path}/{other.json()['id']}", {"method": "SMS", "contact": {"id": sms}})
    assert moved.status_code == 409, moved.text
    assert app.get(f"{path}/{third.json()['id']}").json() == third.json()
    assert app.get(f"{path}/{other.json()['id']}").json() == other.json()
    # A rule sent back unchanged (GET-modify-PUT) is not a copy of itself.
    same = app.put(f"{path}/{first.json()['id']}", valid)
    assert same.status_code == 200, same.text
    assert len(app.get(path).json()) == 3


def test_deleting_a_contact_removes_its_rules(app: InProcessDaemon) -> None:
    doomed = add_contact(app, 1, "SMS", "+4915112345678")
    kept = add_contact(app, 1, "EMAIL", "admin@example.com")
    for contact, method in ((doomed, "SMS"), (kept, "EMAIL")):
        for collection, extras in VALID_EXTRAS.items():
            reply = app.post(RULES.format(1, collection),
                                {"method": method, "contact": {"id": contact}, **extras})
            assert reply.status_code == 201, reply.text
    assert delete(app, f"/api/users/1/contacts/{doomed}").status_code == 204
    for collection in VALID_EXTRAS:
        rules = app.get(RULES.format(1, collection)).json()
        assert [r["contact"]["id"] for r in rules] == [kept], (collection, rules)
    assert [c["id"] for c in app.get("/api/users/1/contacts").json()] == [kept]


# --- who may do what -------------------------------------------------------------------------


def test_user_reads_anyones_preferences_but_edits_only_their_own(app: InProcessDaemon) -> None:
    erin, erin_token = make_user(app, "erin")
    frank, frank_token = make_user(app, "frank")
    franks = add_contact(app, frank, "EMAIL", "frank@example.com", token=frank_token)
    franks_rule = app.post(RULES.format(frank, "alerts"),
                              {"method": "EMAIL", "contact": {"id": franks}, "type": "HIGH_PRIORITY"},
                              token=frank_token)
    assert franks_rule.status_code == 201, franks_rule.text
    rule_id = franks_rule.json()["id"]

    contacts = app.get(f"/api/users/{frank}/contacts", token=erin_token)
    assert contacts.status_code == 200 and [c["id"] for c in contacts.json()] == [franks]
    assert app.get(f"/api/users/{frank}/contacts/{franks}", token=erin_token).status_code == 200
    rules = app.get(RULES.format(frank, "alerts"), token=erin_token)
    assert rules.status_code == 200 and [r["id"] for r in rules.json()] == [rule_id]

    attempts = [
        app.post(f"/api/users/{frank}/contacts", {"method": "SMS", "target": "+4915112345678"},
                    token=erin_token),
        app.put(f"/api/users/{frank}/contacts/{franks}", {"target": "erin@example.com"},
                   token=erin_token),
        delete(app, f"/api/users/{frank}/contacts/{franks}", token=erin_token),
        app.post(RULES.format(frank, "updates"),
                    {"method": "EMAIL", "contact": {"id": franks}, "type": "ALERT_ACCEPTED"},
                    token=erin_token),
        app.put(f"{RULES.format(frank, 'alerts')}/{rule_id}", {"delayMin": 60}, token=erin_token),
        delete(app, f"{RULES.format(frank, 'alerts')}/{rule_id}", token=erin_token),
    ]
    for reply in attempts:
        assert reply.status_code == 403, reply.text
        assert reply.json()["code"] == "FORBIDDEN"
    assert app.get(f"/api/users/{frank}/contacts").json() == [
        {"id": franks, "method": "EMAIL", "target": "frank@example.com", "stopped": False}
    ]
    assert app.get(f"{RULES.format(frank, 'alerts')}/{rule_id}").json()["delayMin"] == 0
    assert app.get(RULES.format(frank, "updates")).json() == []

    # Erin's own are hers to change.
    own = add_contact(app, erin, "PUSH", "erin-topic", token=erin_token)
    renamed = app.put(f"/api/users/{erin}/contacts/{own}", {"target": "erin-pager"}, token=erin_token)
    assert renamed.status_code == 200 and renamed.json()["target"] == "erin-pager"
    duty = app.post(RULES.format(erin, "duties"), {"method": "PUSH", "contact": {"id": own}},
                       token=erin_token)
    assert duty.status_code == 201, duty.text
    assert delete(app, f"{RULES.format(erin, 'duties')}/{duty.json()['id']}",
                  token=erin_token).status_code == 204


def test_admin_edits_anyones_preferences(app: InProcessDaemon) -> None:
    gina, gina_token = make_user(app, "gina")
    contact = add_contact(app, gina, "SMS", "+4915112345678")
    rule = app.post(RULES.format(gina, "alerts"),
                       {"method": "SMS", "contact": {"id": contact}, "type": "HIGH_PRIORITY"})
    assert rule.status_code == 201, rule.text
    changed = app.put(f"{RULES.format(gina, 'alerts')}/{rule.json()['id']}", {"delayMin": 15})
    assert changed.status_code == 200 and changed.json()["delayMin"] == 15
    # Gina sees what the admin set up for her.
    seen = app.get(RULES.format(gina, "alerts"), token=gina_token).json()
    assert [(r["contact"]["id"], r["delayMin"]) for r in seen] == [(contact, 15)]
    assert delete(app, f"/api/users/{gina}/contacts/{contact}").status_code == 204
    assert app.get(f"/api/users/{gina}/contacts", token=gina_token).json() == []


def test_unknown_users_and_other_users_ids_are_404(app: InProcessDaemon) -> None:
    hank, _ = make_user(app, "hank")
    ivy, _ = make_user(app, "ivy")
    hanks = add_contact(app, hank, "EMAIL", "hank@example.com")
    hanks_rule = app.post(RULES.format(hank, "updates"),
                             {"method": "EMAIL", "contact": {"id": hanks}, "type": "ALERT_RESOLVED"})
    assert hanks_rule.status_code == 201
    rule_id = hanks_rule.json()["id"]

    missing = [
        app.get("/api/users/999/contacts"),
        app.post("/api/users/999/contacts", {"method": "EMAIL", "target": "x@example.com"}),
        app.get(RULES.format(999, "alerts")),
        app.get("/api/users/abc/contacts"),
        app.get(f"/api/users/{ivy}/contacts/{hanks}"),
        app.put(f"/api/users/{ivy}/contacts/{hanks}", {"target": "ivy@example.com"}),
        delete(app, f"/api/users/{ivy}/contacts/{hanks}"),
        app.get(f"/api/users/{hank}/contacts/4242"),
        app.get(f"{RULES.format(ivy, 'updates')}/{rule_id}"),
        app.put(f"{RULES.format(ivy, 'updates')}/{rule_id}", {"type": "ALERT_ACCEPTED"}),
        delete(app, f"{RULES.format(ivy, 'updates')}/{rule_id}"),
        app.get(f"{RULES.format(hank, 'alerts')}/{rule_id + 100}"),
        app.get(RULES.format(hank, "reminders")),
    ]
    for reply in missing:
        assert reply.status_code == 404, (reply.request.method, reply.request.url, reply.text)
        assert reply.json()["code"] == "NOT_FOUND"
    assert app.get(f"/api/users/{hank}/contacts/{hanks}").json()["target"] == "hank@example.com"
    assert app.get(f"{RULES.format(hank, 'updates')}/{rule_id}").json()["type"] == "ALERT_RESOLVED"


def test_requests_without_a_valid_token_are_401(app: InProcessDaemon) -> None:
    contact = add_contact(app, 1, "EMAIL", "admin@example.com")
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
            reply = app.client.request(method, path, json=body, headers=headers)
            assert reply.status_code == 401, (method, path, reply.text)
            assert reply.json()["code"] == "UNAUTHORIZED"
    assert app.get("/api/users/1/contacts").json() == [
        {"id": contact, "method": "EMAIL", "target": "admin@example.com", "stopped": False}
    ]
    assert app.get(RULES.format(1, "duties")).json() == []


def test_a_caller_the_role_refuses_is_told_403_whatever_the_body(app: InProcessDaemon) -> None:
    """The body was read before the role was judged: a USER sending a malformed body to an
    ADMIN-only route (or to another user's settings) was told 400 INVALID_JSON, or how to mend it."""
    erin, erin_token = make_user(app, "erin")
    frank, _frank_token = make_user(app, "frank")
    franks = add_contact(app, frank, "EMAIL", "frank@example.com")
    writes = [("POST", "/api/schedules"), ("PUT", "/api/alert-sources/1"), ("POST", "/api/alert-sources"),
              ("POST", "/api/escalation-policies"), ("POST", "/api/heartbeat-monitors"),
              ("POST", "/api/maintenance-windows"), ("POST", "/api/users"), ("PUT", f"/api/users/{frank}"),
              ("POST", f"/api/users/{frank}/contacts"), ("PUT", f"/api/users/{frank}/contacts/{franks}"),
              ("POST", RULES.format(frank, "alerts")), ("POST", f"/api/users/{frank}/tokens")]
    for method, path in writes:
        for body in (b"x", b"[]", b"{}"):
            reply = app.client.request(method, path, content=body, headers={
                "Authorization": f"Bearer {erin_token}", "Content-Type": "application/json"})
            assert (reply.status_code, reply.json()["code"]) == (403, "FORBIDDEN"), (method, path, body)
    refused = app.client.delete(f"/api/users/{frank}?force=bogus",
                                headers={"Authorization": f"Bearer {erin_token}"})
    assert refused.status_code == 403
    # Their own settings: the body is read, and a malformed one is a 400 as before.
    own = app.client.post(f"/api/users/{erin}/contacts", content=b"x", headers={
        "Authorization": f"Bearer {erin_token}", "Content-Type": "application/json"})
    assert (own.status_code, own.json()["code"]) == (400, "INVALID_JSON")


def test_a_null_delay_is_one_not_given_on_create_and_refused_on_a_put(app: InProcessDaemon) -> None:
    """It was refused as "delayMin is required", which it is not. A rule's PUT refuses a null for
    any of its fields, naming it: taken as not given, it answered 200 and changed nothing."""
    ann, _ = make_user(app, "ann")
    sms = {"method": "SMS", "target": "+4915112345678"}
    contact = app.post(f"/api/users/{ann}/contacts", sms).json()["id"]
    path = f"/api/users/{ann}/notification-preferences/alerts"
    created = app.post(path, {"method": "SMS", "contact": {"id": contact}, "type": "HIGH_PRIORITY",
                              "delayMin": None})
    assert created.status_code == 201 and created.json()["delayMin"] == 0, created.text
    later = app.post(path, {"method": "SMS", "contact": {"id": contact}, "type": "HIGH_PRIORITY",
                            "delayMin": 5})
    refused = app.put(f"{path}/{later.json()['id']}", {"delayMin": None, "type": "LOW_PRIORITY"})
    assert (refused.status_code, refused.json()["field"]) == (400, "delayMin"), refused.text
    changed = app.put(f"{path}/{later.json()['id']}", {"type": "LOW_PRIORITY"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["delayMin"], changed.json()["type"]) == (5, "LOW_PRIORITY")
    wrong = app.put(f"{path}/{later.json()['id']}", {"delayMin": "5"})
    assert (wrong.status_code, wrong.json()["field"]) == (400, "delayMin")
