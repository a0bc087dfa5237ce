"""Escalation and delivery end to end: the whole daemon (in process; in a subprocess where a kill -9
is the point), manual clock, pages received by loopback servers."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ilertd.actors.dispatch import page_timer_key
from ilertd.channels.twilio_voice import twilio_signature
from tests.paging import Paging

T0 = "2026-01-05T09:00:00.000Z"



def test_level_1_is_paged_exactly_at_the_timeout(app_paging: Paging) -> None:
    alice = app_paging.user("alice")
    bob = app_paging.user("bob")
    app_paging.policy([(10, [alice]), (10, [bob])])
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    assert len(app_paging.mails_to("alice@example.com")) == 1
    mail = app_paging.mails_to("alice@example.com")[0]
    assert f"#{incident_id}" in mail["Subject"] and "db1 is down" in mail["Subject"]
    assert mail["X-Ilertd-Notification"].startswith("ilertd-n")
    app_paging.daemon.advance("PT9M59S")
    assert app_paging.mails_to("bob@example.com") == []
    app_paging.daemon.advance("PT1S")
    assert len(app_paging.mails_to("bob@example.com")) == 1
    incident = app_paging.daemon.get(f"/api/incidents/{incident_id}").json()
    assert incident["escalationLevel"] == 1
    rows = app_paging.notifications(incident_id)
    assert [(r["user"]["username"], r["status"], r["dueAt"]) for r in rows] == [
        ("alice", "SUCCESS", T0), ("bob", "SUCCESS", "2026-01-05T09:10:00.000Z"),
    ]
    assert "NOTIFICATION_PLANNED" in app_paging.daemon.log_types(incident_id)  # no rules: account e-mail


def test_rules_sms_0_voice_0_sms_30_page_exactly_those(app_paging: Paging) -> None:
    carol = app_paging.user("carol", [("SMS", 0, "HIGH_PRIORITY"), ("VOICE", 0, "HIGH_PRIORITY"),
                                  ("SMS", 30, "HIGH_PRIORITY"), ("PUSH", 0, "LOW_PRIORITY")])
    app_paging.policy([(60, [carol])])
    incident_id = app_paging.alert(summary="checkout latency high")
    app_paging.daemon.advance("PT0S")
    sms = app_paging.http.to("/sms/")
    calls = app_paging.http.to("/2010-04-01/Accounts/ACtest/Calls.json")
    assert len(sms) == 1 and len(calls) == 1
    assert sms[0].path == "/sms/+4915100000001"
    assert "checkout latency high" in sms[0].json()["message"]
    assert sms[0].json()["reference"].startswith("ilertd-n")
    call = calls[0].form()
    assert call["To"] == "+4915100000002" and call["From"] == "+15550001111"
    # Twilio fetches the TwiML with a signed POST; an unsigned or wrongly signed one is refused.
    form = {"CallSid": "CA1", "From": "+15550001111", "To": call["To"]}
    path = call["Url"].replace(app_paging.daemon.url, "")
    signature = twilio_signature(app_paging.http.twilio_token, call["Url"], form)
    twiml = app_paging.daemon.client.post(path, data=form, headers={"X-Twilio-Signature": signature})
    assert twiml.status_code == 200 and "checkout latency high" in twiml.text and "<Say" in twiml.text
    assert app_paging.daemon.client.post(path, data=form).status_code == 403
    forged = twilio_signature("not-the-token", call["Url"], form)
    refused = app_paging.daemon.client.post(path, data=form, headers={"X-Twilio-Signature": forged})
    assert refused.status_code == 403
    assert app_paging.http.to("/ops-carol") == []  # the LOW rule is not used for HIGH
    app_paging.daemon.advance("PT29M59S")
    assert len(app_paging.http.to("/sms/")) == 1
    app_paging.daemon.advance("PT1S")
    assert len(app_paging.http.to("/sms/")) == 2
    rows = app_paging.notifications(incident_id)
    assert sorted((r["method"], r["dueAt"], r["status"]) for r in rows) == [
        ("SMS", "2026-01-05T09:00:00.000Z", "SUCCESS"),
        ("SMS", "2026-01-05T09:30:00.000Z", "SUCCESS"),
        ("VOICE", "2026-01-05T09:00:00.000Z", "SUCCESS"),
    ]


def test_accept_at_t_plus_5_cancels_everything_pending(app_paging: Paging) -> None:
    dave = app_paging.user("dave", [("EMAIL", 0, "HIGH_PRIORITY"), ("SMS", 10, "HIGH_PRIORITY")])
    erin = app_paging.user("erin")
    app_paging.policy([(30, [dave]), (30, [erin])])
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT5M")
    assert len(app_paging.mails_to("dave.pager@example.com")) == 1
    accepted = app_paging.daemon.put(f"/api/incidents/{incident_id}/accept")
    assert accepted.status_code == 200
    app_paging.daemon.advance("PT2H")
    assert app_paging.http.to("/sms/") == []
    assert app_paging.mails_to("erin@example.com") == []
    statuses = {r["method"]: r["status"] for r in app_paging.notifications(incident_id)}
    assert statuses == {"EMAIL": "SUCCESS", "SMS": "CANCELLED"}


def test_repeating_with_frequency_2_makes_exactly_three_passes(app_paging: Paging) -> None:
    frank = app_paging.user("frank")
    gina = app_paging.user("gina")
    app_paging.policy([(5, [frank]), (5, [gina])], repeating=True, frequency=2)
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT3H")
    assert len(app_paging.mails_to("frank@example.com")) == 3
    assert len(app_paging.mails_to("gina@example.com")) == 3
    types = app_paging.daemon.log_types(incident_id)
    # Three passes of two levels: five moves to another level after the opening at level 0.
    assert types.count("ESCALATED") == 5
    assert types[-1] == "ESCALATION_ENDED"
    assert app_paging.daemon.get(f"/api/incidents/{incident_id}").json()["nextEscalationAt"] is None


def test_a_level_whose_only_user_is_muted_escalates_at_once(app_paging: Paging) -> None:
    henry = app_paging.user("henry", muted_until="2026-01-05T12:00:00Z")
    ivan = app_paging.user("ivan")
    app_paging.policy([(30, [henry]), (30, [ivan])])
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    assert app_paging.mails_to("henry@example.com") == []
    assert len(app_paging.mails_to("ivan@example.com")) == 1
    incident = app_paging.daemon.get(f"/api/incidents/{incident_id}").json()
    assert incident["escalationLevel"] == 1
    assert incident["nextEscalationAt"] == "2026-01-05T09:30:00.000Z"
    assert "NOBODY_ON_CALL" in app_paging.daemon.log_types(incident_id)


def test_nobody_reachable_in_the_policy_pages_nobody_until_a_mute_ends(app_paging: Paging) -> None:
    muted = app_paging.user("jo", muted_until="2026-01-05T11:00:00Z")
    app_paging.policy([(5, [muted]), (5, [muted])])
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT1H")
    incident = app_paging.daemon.get(f"/api/incidents/{incident_id}").json()
    # Waiting: shown held at level 0 until the next look (every 15 minutes at the latest).
    assert (incident["status"], incident["escalationLevel"], incident["held"]) == ("PENDING", 0, True)
    assert incident["nextEscalationAt"] == "2026-01-05T10:15:00.000Z"
    assert app_paging.notifications(incident_id) == []
    # Logged once, however many looks found nobody since.
    assert app_paging.daemon.log_types(incident_id).count("NOBODY_ON_CALL") == 3
    # Her mute ends at 11:00: she is paged then, not never.
    app_paging.daemon.advance("PT1H")
    assert [(n["user"]["username"], n["status"]) for n in app_paging.notifications(incident_id)] == [
        ("jo", "SUCCESS")]
    incident = app_paging.daemon.get(f"/api/incidents/{incident_id}").json()
    assert (incident["escalationLevel"], incident["held"]) == (0, False)
    assert incident["nextEscalationAt"] == "2026-01-05T11:05:00.000Z"


MUTED_FOR_A_DAY = "2026-01-06T09:00:00Z"


def _muted(paging: Paging) -> int:
    return paging.user("jo", muted_until=MUTED_FOR_A_DAY)


def _unmute(paging: Paging, jo: int, _policy_id: int) -> str:
    reply = paging.daemon.put(f"/api/users/{jo}", {"mutedUntil": None})
    assert reply.status_code == 200, reply.text
    return "jo"


def _without_contacts(paging: Paging) -> int:
    return paging.user("jo", email=False)


def _add_a_contact_and_rule(paging: Paging, jo: int, _policy_id: int) -> str:
    contact = paging.daemon.post(f"/api/users/{jo}/contacts", {"method": "EMAIL", "target": "jo@example.com"})
    assert contact.status_code == 201, contact.text
    rule = paging.daemon.post(f"/api/users/{jo}/notification-preferences/alerts",
                              {"method": "EMAIL", "contact": {"id": contact.json()["id"]}, "delayMin": 0,
                               "type": "HIGH_PRIORITY"})
    assert rule.status_code == 201, rule.text
    return "jo"


def _add_someone_to_the_policy(paging: Paging, jo: int, policy_id: int) -> str:
    kay = paging.user("kay")
    reply = paging.daemon.put(f"/api/escalation-policies/{policy_id}", {"escalationRules": [
        {"escalationTimeout": 5, "users": [{"id": jo}, {"id": kay}]}]})
    assert reply.status_code == 200, reply.text
    return "kay"


@pytest.mark.parametrize("unreachable, fix", [
    (_muted, _unmute), (_without_contacts, _add_a_contact_and_rule), (_muted, _add_someone_to_the_policy),
], ids=["unmuted", "contact added", "policy edited"])
def test_a_waiting_incident_pages_at_once_when_an_operator_makes_someone_reachable(
        app_paging: Paging, unreachable: Callable[[Paging], int],
        fix: Callable[[Paging, int, int], str]) -> None:
    """The fix is seen at once, not at the next look up to 15 minutes later."""
    jo = unreachable(app_paging)
    policy_id = app_paging.policy([(5, [jo])])
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT7M")
    waiting = app_paging.daemon.get(f"/api/incidents/{incident_id}").json()
    assert (waiting["held"], waiting["nextEscalationAt"]) == (True, "2026-01-05T09:15:00.000Z")
    paged = fix(app_paging, jo, policy_id)
    app_paging.daemon.advance("PT0S")
    pages = app_paging.notifications(incident_id)
    assert [(n["user"]["username"], n["status"], n["dueAt"]) for n in pages] == [
        (paged, "SUCCESS", "2026-01-05T09:07:00.000Z")]
    incident = app_paging.daemon.get(f"/api/incidents/{incident_id}").json()
    assert (incident["escalationLevel"], incident["held"], incident["nextEscalationAt"]) == (
        0, False, "2026-01-05T09:12:00.000Z")


def test_a_write_that_makes_nobody_reachable_leaves_a_waiting_incident_quiet(app_paging: Paging) -> None:
    """Someone else's change: the waiting incident looks, finds nobody, logs nothing, and keeps its
    next look (nothing about it is written)."""
    jo = _muted(app_paging)
    app_paging.policy([(5, [jo])])
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT7M")
    logged = app_paging.daemon.log_types(incident_id)
    lee = app_paging.user("lee")
    assert app_paging.daemon.put(f"/api/users/{lee}", {"mutedUntil": MUTED_FOR_A_DAY}).status_code == 200
    app_paging.daemon.advance("PT0S")
    incident = app_paging.daemon.get(f"/api/incidents/{incident_id}").json()
    assert (incident["held"], incident["nextEscalationAt"]) == (True, "2026-01-05T09:15:00.000Z")
    assert app_paging.daemon.log_types(incident_id) == logged
    assert app_paging.notifications(incident_id) == []


def test_low_priority_never_escalates(app_paging: Paging) -> None:
    jack = app_paging.user("jack", [("EMAIL", 0, "LOW_PRIORITY")])
    kim = app_paging.user("kim")
    app_paging.policy([(5, [jack]), (5, [kim])])
    incident_id = app_paging.alert(priority="LOW")
    app_paging.daemon.advance("PT2H")
    assert len(app_paging.mails_to("jack.pager@example.com")) == 1
    assert app_paging.mails_to("kim@example.com") == []
    incident = app_paging.daemon.get(f"/api/incidents/{incident_id}").json()
    assert incident["escalationLevel"] == 0 and incident["nextEscalationAt"] is None


def test_manual_escalation_to_the_next_level_and_to_level_n(app_paging: Paging) -> None:
    lea = app_paging.user("lea")
    max_ = app_paging.user("max")
    nina = app_paging.user("nina")
    app_paging.policy([(60, [lea]), (60, [max_]), (60, [nina])])
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    app_paging.daemon.put(f"/api/incidents/{incident_id}/accept")
    escalated = app_paging.daemon.put(f"/api/incidents/{incident_id}/escalate")
    assert escalated.status_code == 200, escalated.text
    assert escalated.json()["status"] == "PENDING" and escalated.json()["escalationLevel"] == 1
    app_paging.daemon.advance("PT0S")
    assert len(app_paging.mails_to("max@example.com")) == 1
    to_level_2 = app_paging.daemon.put(f"/api/incidents/{incident_id}/escalate", {"level": 2})
    assert to_level_2.json()["escalationLevel"] == 2
    wrapped = app_paging.daemon.put(f"/api/incidents/{incident_id}/escalate")
    assert wrapped.json()["escalationLevel"] == 0
    # Lea's second page falls inside her e-mail throttle window (10 s) from the first.
    app_paging.daemon.advance("PT10S")
    assert len(app_paging.mails_to("nina@example.com")) == 1
    assert len(app_paging.mails_to("lea@example.com")) == 2
    bad = app_paging.daemon.put(f"/api/incidents/{incident_id}/escalate", {"level": 3})
    assert bad.status_code == 400 and bad.json()["field"] == "level"
    app_paging.daemon.put(f"/api/incidents/{incident_id}/resolve")
    assert app_paging.daemon.put(f"/api/incidents/{incident_id}/escalate").status_code == 409


def test_smtp_down_for_a_while_then_delivered_and_no_page_lost(app_paging: Paging) -> None:
    olga = app_paging.user("olga")
    app_paging.policy([(600, [olga])])
    app_paging.smtp.stop()
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    app_paging.daemon.advance("PT30S")
    row = app_paging.notifications(incident_id)[0]
    assert row["status"] == "SCHEDULED" and row["attempts"] == 2 and row["errorMessage"]
    assert app_paging.daemon.log_types(incident_id).count("NOTIFICATION_FAILED") == 2
    app_paging.smtp.start()
    app_paging.daemon.advance("PT2M")
    assert len(app_paging.mails_to("olga@example.com")) == 1
    row = app_paging.notifications(incident_id)[0]
    assert row["status"] == "SUCCESS" and row["attempts"] == 3


def test_kill_9_before_delivery_then_the_page_goes_out_once_after_restart(paging: Paging) -> None:
    pia = paging.user("pia", [("EMAIL", 10, "HIGH_PRIORITY")])
    paging.policy([(600, [pia])])
    incident_id = paging.alert()
    paging.daemon.advance("PT5M")
    paging.daemon.kill()
    # The page fell due while the daemon was down.
    (paging.daemon.data_dir / "manual-clock").write_text("2026-01-05T09:20:00Z")
    paging.daemon.start()
    paging.daemon.advance("PT0S")
    assert len(paging.mails_to("pia.pager@example.com")) == 1
    paging.daemon.advance("PT1H")
    assert len(paging.mails_to("pia.pager@example.com")) == 1
    assert [r["status"] for r in paging.notifications(incident_id)] == ["SUCCESS"]


def test_a_300_event_storm_sends_one_sms_contact_at_most_two_messages(app_paging: Paging) -> None:
    quinn = app_paging.user("quinn", [("SMS", 0, "HIGH_PRIORITY")])
    app_paging.policy([(600, [quinn])])
    body = {"integrationKey": app_paging.daemon.integration_key, "eventType": "ALERT", "summary": "storm"}
    client = app_paging.daemon.client  # 16 threads at once into the daemon's one event loop
    with ThreadPoolExecutor(max_workers=16) as pool:
        replies = list(pool.map(
            lambda i: client.post("/api/events", json={**body, "alertKey": f"node-{i}"}), range(300)
        ))
    assert all(r.status_code == 202 for r in replies)
    app_paging.daemon.advance("PT20S")
    app_paging.daemon.advance("PT40S")
    app_paging.daemon.advance("PT5M")
    sms = app_paging.http.to("/sms/")
    assert 1 <= len(sms) <= 2
    statuses: dict[str, int] = {}
    for reply in replies[:50]:
        for row in app_paging.notifications(reply.json()["incidentId"]):
            statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    assert set(statuses) <= {"SUCCESS", "AGGREGATED"} and sum(statuses.values()) == 50


def test_push_goes_to_the_ntfy_topic(app_paging: Paging) -> None:
    rosa = app_paging.user("rosa", [("PUSH", 0, "HIGH_PRIORITY")])
    app_paging.policy([(60, [rosa])])
    app_paging.alert(summary="queue stuck")
    app_paging.daemon.advance("PT0S")
    pushes = [r for r in app_paging.http.requests if "ops-rosa" in r.path or b"ops-rosa" in r.body]
    assert len(pushes) == 1
    assert b"queue stuck" in pushes[0].body


def test_status_updates_reach_who_asked_and_not_who_acted(app_paging: Paging) -> None:
    sam = app_paging.user("sam", [("EMAIL", 0, "HIGH_PRIORITY")])
    tia = app_paging.user("tia")
    contact = app_paging.daemon.post(f"/api/users/{sam}/contacts",
                                     {"method": "SMS", "target": "+4915199999999"})
    for kind in ("ALERT_ACCEPTED", "ALERT_RESOLVED"):
        rule = app_paging.daemon.post(f"/api/users/{sam}/notification-preferences/updates",
                                  {"method": "SMS", "contact": {"id": contact.json()["id"]}, "type": kind})
        assert rule.status_code == 201, rule.text
    app_paging.policy([(60, [sam, tia])])
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    token = app_paging.daemon.post(f"/api/users/{tia}/tokens").json()["token"]
    assert app_paging.daemon.put(f"/api/incidents/{incident_id}/accept", token=token).status_code == 200
    app_paging.daemon.advance("PT0S")
    updates = app_paging.http.to("/sms/+4915199999999")
    assert len(updates) == 1 and "accepted" in updates[0].json()["message"]
    # Sam resolving it himself does not tell Sam.
    sam_token = app_paging.daemon.post(f"/api/users/{sam}/tokens").json()["token"]
    app_paging.daemon.put(f"/api/incidents/{incident_id}/resolve", token=sam_token)
    app_paging.daemon.advance("PT5M")
    assert len(app_paging.http.to("/sms/+4915199999999")) == 1
    kinds = sorted(r["kind"] for r in app_paging.notifications(incident_id))
    assert kinds == ["ALERT", "ALERT", "ALERT_ACCEPTED"]


def _sources_each_escalating_to_its_own_user(paging: Paging, count: int) -> list[tuple[str, int]]:
    """`count` alert sources, each with a policy: level 0 a shared first responder, level 1 a
    user of its own. Returns (integration key, level-1 user id) per source."""
    # The first responder's pages go by SMS: a second e-mail to one address within 5.5 s would
    # make apprise sleep that long in a subprocess daemon (its own throttle, on the wall clock).
    first = paging.user("first", [("SMS", 0, "HIGH_PRIORITY")])
    made = []
    for i in range(count):
        second = paging.user(f"second-{i}")
        policy = paging.daemon.post("/api/escalation-policies", {
            "name": f"ops-{i}",
            "escalationRules": [{"escalationTimeout": 10, "users": [{"id": first}]},
                                {"escalationTimeout": 10, "users": [{"id": second}]}],
        })
        assert policy.status_code == 201, policy.text
        source = paging.daemon.post("/api/alert-sources", {
            "name": f"src-{i}", "escalationPolicy": {"id": policy.json()["id"]},
        })
        assert source.status_code == 201, source.text
        made.append((source.json()["integrationKey"], second))
    return made


def test_escalations_due_at_one_instant_page_every_level_1_user_exactly_once(app_paging: Paging) -> None:
    sources = _sources_each_escalating_to_its_own_user(app_paging, 30)
    incidents = []
    for i, (key, _) in enumerate(sources):
        reply = app_paging.daemon.event(key, summary=f"node {i} down", alertKey=f"node-{i}")
        assert reply.status_code == 202, reply.text
        incidents.append(reply.json()["incidentId"])
    app_paging.daemon.advance("PT1M")
    # One of them is accepted before the deadline: it must not escalate with the others.
    assert app_paging.daemon.put(f"/api/incidents/{incidents[0]}/accept").status_code == 200
    app_paging.daemon.advance("PT9M")
    for i in range(30):
        assert len(app_paging.mails_to(f"second-{i}@example.com")) == (0 if i == 0 else 1), i
    for i, incident_id in enumerate(incidents):
        level_1 = [r for r in app_paging.notifications(incident_id) if r["escalationLevel"] == 1]
        assert [(r["user"]["username"], r["status"]) for r in level_1] == (
            [] if i == 0 else [(f"second-{i}", "SUCCESS")]), i
    # The last level ran out: nothing more for anyone.
    app_paging.daemon.advance("PT1H")
    assert sum(len(app_paging.mails_to(f"second-{i}@example.com")) for i in range(30)) == 29
    assert all("ESCALATION_ENDED" in app_paging.daemon.log_types(i) for i in incidents[1:])


def test_escalations_overdue_after_kill_9_fire_once_together_at_start(paging: Paging) -> None:
    sources = _sources_each_escalating_to_its_own_user(paging, 12)
    for i, (key, _) in enumerate(sources):
        assert paging.daemon.event(key, summary=f"db {i} down", alertKey=f"db-{i}").status_code == 202
    paging.daemon.advance("PT5M")
    paging.daemon.kill()
    # Every deadline (09:10) passed while the daemon was down.
    (paging.daemon.data_dir / "manual-clock").write_text("2026-01-05T09:30:00Z")
    paging.daemon.start()
    paging.daemon.advance("PT0S")
    assert [len(paging.mails_to(f"second-{i}@example.com")) for i in range(12)] == [1] * 12
    # The next level is timed from the start, and there is none: nothing fires twice.
    paging.daemon.advance("PT30M")
    assert [len(paging.mails_to(f"second-{i}@example.com")) for i in range(12)] == [1] * 12


def test_a_preference_change_is_seen_by_the_very_next_page(app_paging: Paging) -> None:
    uma = app_paging.user("uma", [("EMAIL", 0, "HIGH_PRIORITY")])
    app_paging.policy([(60, [uma])])
    app_paging.alert("first")
    app_paging.daemon.advance("PT0S")
    assert len(app_paging.mails_to("uma.pager@example.com")) == 1
    # A new address for her contact: the next incident mails the new one.
    contact_id = app_paging.daemon.get(f"/api/users/{uma}/contacts").json()[0]["id"]
    moved = app_paging.daemon.put(f"/api/users/{uma}/contacts/{contact_id}",
                                  {"target": "uma.new@example.com"})
    assert moved.status_code == 200, moved.text
    app_paging.alert("second")
    app_paging.daemon.advance("PT10S")
    assert len(app_paging.mails_to("uma.new@example.com")) == 1
    assert len(app_paging.mails_to("uma.pager@example.com")) == 1
    # A new SMS rule is used at once.
    sms = app_paging.daemon.post(f"/api/users/{uma}/contacts", {"method": "SMS", "target": "+4915177777777"})
    rule = app_paging.daemon.post(f"/api/users/{uma}/notification-preferences/alerts",
                              {"method": "SMS", "contact": {"id": sms.json()["id"]}, "delayMin": 0,
                               "type": "HIGH_PRIORITY"})
    assert rule.status_code == 201, rule.text
    app_paging.alert("third")
    app_paging.daemon.advance("PT10S")
    assert len(app_paging.http.to("/sms/+4915177777777")) == 1
    # Muted: the next incident finds nobody to page.
    muted = app_paging.daemon.put(f"/api/users/{uma}", {"mutedUntil": "2026-01-06T00:00:00Z"})
    assert muted.status_code == 200, muted.text
    fourth = app_paging.alert("fourth")
    app_paging.daemon.advance("PT10M")
    assert app_paging.notifications(fourth) == []
    assert "NOBODY_ON_CALL" in app_paging.daemon.log_types(fourth)
    # Deleting the contact deletes its rule: back to the account address once unmuted.
    app_paging.daemon.put(f"/api/users/{uma}", {"mutedUntil": None})
    assert app_paging.daemon.client.delete(f"/api/users/{uma}/contacts/{sms.json()['id']}",
                                       headers=app_paging.daemon.auth()).status_code == 204
    fifth = app_paging.alert("fifth")
    app_paging.daemon.advance("PT10S")
    assert [(r["method"], r["target"]) for r in app_paging.notifications(fifth)] == [
        ("EMAIL", "uma.new@example.com")]


def test_the_sweep_sends_a_due_page_that_lost_its_timer_once(app_paging: Paging) -> None:
    alice = app_paging.user("alice", rules=[("SMS", 5, "HIGH_PRIORITY")])
    app_paging.policy([(30, [alice])])
    app_paging.daemon.advance("PT10S")  # off the sweep's 30-second beat
    incident_id = app_paging.alert()
    sms = [p for p in app_paging.notifications(incident_id) if p["method"] == "SMS"]
    assert [p["status"] for p in sms] == ["SCHEDULED"]
    # A timer can be lost (a bug, a race); the store still knows the page is due.
    daemon: Any = app_paging.daemon
    clock = daemon.daemon.clock
    # The writer arms a page's timer after it has let the reply go: settled, it is armed.
    app_paging.daemon.now()
    assert clock.armed_at(page_timer_key(sms[0]["id"])) is not None
    clock.disarm(page_timer_key(sms[0]["id"]))
    app_paging.daemon.advance("PT5M")
    assert app_paging.http.to("/sms/") == []
    # The next sweep, at most 30 s later, finds it overdue and sends it; later sweeps do not again.
    app_paging.daemon.advance("PT30S")
    assert len(app_paging.http.to("/sms/")) == 1
    assert f"page {sms[0]['id']}: overdue and without a timer; delivering" in daemon.log()
    app_paging.daemon.advance("PT5M")
    assert len(app_paging.http.to("/sms/")) == 1
    assert [p["status"] for p in app_paging.notifications(incident_id) if p["method"] == "SMS"] == ["SUCCESS"]


def texted_once(paging: Paging) -> str:
    """tia, the one level's only user, texted for a first alert: her number (a second SMS to it
    waits for the first's throttle window)."""
    tia = paging.user("tia", [("SMS", 0, "HIGH_PRIORITY")], email=False)
    paging.policy([(30, [tia])])
    paging.alert("first")
    paging.daemon.advance("PT0S")
    phone = next(c["target"] for c in paging.daemon.get(f"/api/users/{tia}/contacts").json())
    assert len(paging.http.to(f"/sms/{phone}")) == 1
    return str(phone)


def test_a_contacts_throttle_window_holds_across_a_restart(app_paging: Paging) -> None:
    """Each channel actor starts knowing when each contact last got a message (SMS: 60 s apart at
    least), so a restart does not let a second SMS through at once."""
    phone = texted_once(app_paging)
    app_paging.daemon.advance("PT20S")
    app_paging.daemon.stop()  # type: ignore[attr-defined]
    app_paging.daemon.start()  # type: ignore[attr-defined]
    app_paging.alert("second")
    app_paging.daemon.advance("PT39S")
    assert len(app_paging.http.to(f"/sms/{phone}")) == 1
    app_paging.daemon.advance("PT1S")
    assert len(app_paging.http.to(f"/sms/{phone}")) == 2
