"""Tests of who is paged how and when (ilertd.domain.notification_plan): cycles, updates, throttling."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from ilertd.domain.events import Priority
from ilertd.domain.notification_plan import (
    THROTTLE_WINDOW,
    AlertRule,
    Contact,
    Method,
    Person,
    PlannedPage,
    UpdateRule,
    UpdateType,
    after_failure,
    pages_for,
    throttle_until,
    unreachable_reason,
    update_pages,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
EMAIL = "carol@example.com"
SMS = Contact(1, "SMS", "+491511111111")
VOICE = Contact(2, "VOICE", "+491522222222")
PUSH = Contact(3, "PUSH", "ntfy://carol")
MAIL = Contact(4, "EMAIL", "carol@work.example")
CONTACTS = (SMS, VOICE, PUSH, MAIL)


def person(
    *rules: AlertRule,
    email: str = EMAIL,
    muted_until: datetime | None = None,
    contacts: tuple[Contact, ...] = CONTACTS,
    update_rules: tuple[UpdateRule, ...] = (),
    user_id: int = 5,
) -> Person:
    return Person(user_id, f"user{user_id}", email, muted_until, contacts, rules, update_rules)


def high(contact: Contact, delay_min: int = 0) -> AlertRule:
    return AlertRule(contact.method, contact.id, delay_min, "HIGH_PRIORITY")


def low(contact: Contact, delay_min: int = 0) -> AlertRule:
    return AlertRule(contact.method, contact.id, delay_min, "LOW_PRIORITY")


def page(contact: Contact, delay_min: int = 0, user_id: int = 5) -> PlannedPage:
    return PlannedPage(user_id, contact.method, contact.target, T0 + timedelta(minutes=delay_min))


FALLBACK = PlannedPage(5, "EMAIL", EMAIL, T0, fallback=True)


# --- pages_for ------------------------------------------------------------------------------------


def test_each_rule_for_the_priority_pages_at_its_delay() -> None:
    carol = person(high(SMS), high(VOICE), high(SMS, 30), low(PUSH, 5))
    assert Counter(pages_for(carol, "HIGH", T0)) == Counter([page(SMS), page(VOICE), page(SMS, 30)])


def test_pages_come_ordered_by_due_time() -> None:
    carol = person(high(SMS, 30), high(VOICE, 0), high(MAIL, 10), high(PUSH, 5), high(SMS, 0))
    pages = pages_for(carol, "HIGH", T0)
    assert [p.due_at for p in pages] == [T0 + timedelta(minutes=m) for m in (0, 0, 5, 10, 30)]
    assert Counter(pages) == Counter(
        [page(SMS, 30), page(VOICE), page(MAIL, 10), page(PUSH, 5), page(SMS)]
    )


@pytest.mark.parametrize(
    ("priority", "expected"),
    [("HIGH", [page(SMS), page(VOICE, 2)]), ("LOW", [page(PUSH, 15), page(MAIL, 60)])],
)
def test_only_the_rules_of_the_priority_count(priority: Priority, expected: list[PlannedPage]) -> None:
    carol = person(high(SMS), low(PUSH, 15), high(VOICE, 2), low(MAIL, 60))
    assert Counter(pages_for(carol, priority, T0)) == Counter(expected)


@pytest.mark.parametrize(
    ("rules", "priority"),
    [
        ((), "HIGH"),
        ((), "LOW"),
        ((low(SMS),), "HIGH"),
        ((high(SMS), high(VOICE, 5)), "LOW"),
        ((AlertRule("SMS", 99, 0, "HIGH_PRIORITY"),), "HIGH"),
        ((AlertRule("SMS", 99, 0, "HIGH_PRIORITY"), AlertRule("VOICE", 98, 5, "HIGH_PRIORITY")), "HIGH"),
    ],
    ids=[
        "no rules, HIGH",
        "no rules, LOW",
        "only LOW rules",
        "only HIGH rules",
        "contact gone",
        "every contact gone",
    ],
)
def test_without_a_usable_rule_one_email_goes_to_the_account_address_at_once(
    rules: tuple[AlertRule, ...], priority: Priority
) -> None:
    pages = pages_for(person(*rules), priority, T0)
    assert pages == (FALLBACK,)
    assert pages[0].kind == "ALERT"
    assert pages[0].level is None


def test_a_rule_whose_contact_is_gone_is_skipped_when_another_rule_works() -> None:
    carol = person(AlertRule("SMS", 99, 0, "HIGH_PRIORITY"), high(VOICE, 5))
    assert pages_for(carol, "HIGH", T0) == (page(VOICE, 5),)


@pytest.mark.parametrize(
    "rules", [(), (low(SMS),), (AlertRule("SMS", 99, 0, "HIGH_PRIORITY"),)],
    ids=["no rules", "no rule for the priority", "contact gone"],
)
def test_a_user_with_neither_a_usable_rule_nor_an_email_gets_nothing(rules: tuple[AlertRule, ...]) -> None:
    assert pages_for(person(*rules, email=""), "HIGH", T0) == ()


def test_an_sms_contact_whose_number_replied_stop_is_skipped_as_a_gone_one_is() -> None:
    stopped = Contact(1, "SMS", "+491511111111", stopped=True)
    contacts = (stopped, VOICE, PUSH, MAIL)
    also_voice = person(high(stopped), high(VOICE, 5), contacts=contacts)
    assert pages_for(also_voice, "HIGH", T0) == (page(VOICE, 5),)
    only_sms = person(high(stopped), contacts=contacts)
    (fallback,) = pages_for(only_sms, "HIGH", T0)
    assert (fallback.method, fallback.target, fallback.fallback) == ("EMAIL", EMAIL, True)
    nobody = person(high(stopped), contacts=contacts, email="")
    assert pages_for(nobody, "HIGH", T0) == ()
    assert unreachable_reason(nobody, "HIGH", T0) == (
        "no alert rule for HIGH priority but SMS to +491511111111 (which replied STOP) and no e-mail address")
    # STOP is about texts: a call to the number still goes.
    called = Contact(2, "VOICE", "+491511111111", stopped=True)
    assert pages_for(person(high(called), contacts=(called,)), "HIGH", T0) == (page(called),)


def test_a_user_without_an_email_is_still_paged_by_their_rules() -> None:
    assert pages_for(person(high(SMS), email=""), "HIGH", T0) == (page(SMS),)


@pytest.mark.parametrize(
    ("muted_until", "paged"),
    [
        (None, True),
        (T0 - timedelta(hours=1), True),
        (T0, True),  # muted until exactly the level's instant: reachable
        (T0 + timedelta(seconds=1), False),
        (T0 + timedelta(days=30), False),
    ],
    ids=["not muted", "mute over", "mute ends then", "muted 1 s longer", "muted"],
)
@pytest.mark.parametrize("rules", [(high(SMS),), ()], ids=["with rules", "e-mail fallback"])
def test_a_user_muted_at_the_levels_instant_gets_nothing(
    muted_until: datetime | None, paged: bool, rules: tuple[AlertRule, ...]
) -> None:
    pages = pages_for(person(*rules, muted_until=muted_until), "HIGH", T0)
    assert bool(pages) is paged
    if paged:
        assert pages == ((page(SMS),) if rules else (FALLBACK,))


def test_a_later_delay_of_a_muted_user_is_not_paged_either() -> None:
    # Muted now, unmuted before the 30 min rule would fire: the cycle is decided when the level is reached.
    carol = person(high(SMS, 30), muted_until=T0 + timedelta(minutes=10))
    assert pages_for(carol, "HIGH", T0) == ()


# --- update_pages ---------------------------------------------------------------------------------

UPDATE_RULES = (
    UpdateRule("SMS", SMS.id, "ALERT_ACCEPTED"),
    UpdateRule("EMAIL", MAIL.id, "ALERT_RESOLVED"),
    UpdateRule("PUSH", PUSH.id, "ALERT_RESOLVED"),
    UpdateRule("VOICE", VOICE.id, "ALERT_ESCALATED"),
)


@pytest.mark.parametrize(
    ("update", "contacts"),
    [
        ("ALERT_ACCEPTED", [SMS]),
        ("ALERT_RESOLVED", [MAIL, PUSH]),
        ("ALERT_ESCALATED", [VOICE]),
    ],
)
def test_update_pages_follow_only_the_rules_of_that_update(
    update: UpdateType, contacts: list[Contact]
) -> None:
    carol = person(update_rules=UPDATE_RULES)
    pages = update_pages(update, 99, [carol], T0)
    assert Counter((p.user_id, p.method, p.target, p.due_at) for p in pages) == Counter(
        (5, c.method, c.target, T0) for c in contacts
    )
    assert all(p.kind == update for p in pages)
    assert not any(p.fallback for p in pages)


def test_update_pages_never_go_to_the_actor_themself() -> None:
    rules = (UpdateRule("SMS", SMS.id, "ALERT_ACCEPTED"),)
    alice = person(update_rules=rules, user_id=5)
    bob = person(update_rules=rules, user_id=6)
    assert [p.user_id for p in update_pages("ALERT_ACCEPTED", 5, [alice, bob], T0)] == [6]
    assert [p.user_id for p in update_pages("ALERT_ACCEPTED", 6, [alice, bob], T0)] == [5]
    # A change by an integration or the system (no user) updates everyone.
    assert sorted(p.user_id for p in update_pages("ALERT_ACCEPTED", None, [alice, bob], T0)) == [5, 6]


@pytest.mark.parametrize(
    ("muted_until", "updated"),
    [(None, True), (T0, True), (T0 + timedelta(seconds=1), False), (T0 + timedelta(days=1), False)],
    ids=["not muted", "mute ends now", "muted 1 s longer", "muted"],
)
def test_update_pages_skip_muted_users(muted_until: datetime | None, updated: bool) -> None:
    carol = person(update_rules=UPDATE_RULES, muted_until=muted_until)
    assert bool(update_pages("ALERT_ACCEPTED", None, [carol], T0)) is updated


def test_update_rules_whose_contact_is_gone_send_nothing_and_no_fallback() -> None:
    carol = person(update_rules=(UpdateRule("SMS", 99, "ALERT_ACCEPTED"),))
    plain = person(user_id=6)  # no update rules at all
    assert update_pages("ALERT_ACCEPTED", None, [carol, plain], T0) == ()
    # Nor to an SMS number that replied STOP (a call to it still goes).
    stopped = Contact(1, "SMS", "+491511111111", stopped=True)
    called = Contact(2, "VOICE", "+491511111111", stopped=True)
    dora = person(contacts=(stopped, called), update_rules=(
        UpdateRule("SMS", 1, "ALERT_ACCEPTED"), UpdateRule("VOICE", 2, "ALERT_ACCEPTED")), user_id=7)
    assert update_pages("ALERT_ACCEPTED", None, [dora], T0) == (
        PlannedPage(7, "VOICE", "+491511111111", T0, kind="ALERT_ACCEPTED"),)


# --- throttle_until -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "last_sent", "now", "expected"),
    [
        # nothing sent yet
        ("SMS", None, T0, None),
        ("EMAIL", None, T0, None),
        # inside the window: wait until its end
        ("SMS", T0, T0, T0 + timedelta(seconds=60)),
        ("SMS", T0, T0 + timedelta(seconds=59), T0 + timedelta(seconds=60)),
        ("VOICE", T0, T0 + timedelta(seconds=30), T0 + timedelta(seconds=60)),
        ("EMAIL", T0, T0 + timedelta(seconds=9), T0 + timedelta(seconds=10)),
        ("PUSH", T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=10)),
        # the window has passed (its end is not inside it)
        ("SMS", T0, T0 + timedelta(seconds=60), None),
        ("VOICE", T0, T0 + timedelta(minutes=5), None),
        ("EMAIL", T0, T0 + timedelta(seconds=10), None),
        ("PUSH", T0, T0 + timedelta(seconds=11), None),
        # the e-mail window is over where the SMS one still runs
        ("EMAIL", T0, T0 + timedelta(seconds=30), None),
        # sent before the wall clock stepped back an hour: as if sent now, one window, not the step
        ("SMS", T0 + timedelta(hours=1), T0, T0 + timedelta(seconds=60)),
        ("VOICE", T0 + timedelta(hours=1), T0 + timedelta(seconds=59), T0 + timedelta(seconds=119)),
        ("EMAIL", T0 + timedelta(hours=1), T0, T0 + timedelta(seconds=10)),
        ("PUSH", T0 + timedelta(seconds=3), T0, T0 + timedelta(seconds=10)),
    ],
)
def test_throttle_until(
    method: Method, last_sent: datetime | None, now: datetime, expected: datetime | None
) -> None:
    assert throttle_until(method, last_sent, now) == expected


@pytest.mark.parametrize(
    ("method", "seconds"), [("SMS", 60), ("VOICE", 60), ("EMAIL", 10), ("PUSH", 10)]
)
def test_throttle_windows(method: Method, seconds: int) -> None:
    assert THROTTLE_WINDOW[method] == timedelta(seconds=seconds)


def test_a_providers_retry_after_is_waited_for_up_to_fifteen_minutes() -> None:
    """A gateway's or Twilio's 429 with `Retry-After: 120` was retried at the fixed 30 s step, to be
    refused again."""
    def wait(attempts: int, retry_after: str | None) -> timedelta:
        return after_failure(attempts, "429", T0, retry_after)["due_at"] - T0

    assert wait(1, "120") == timedelta(minutes=2)
    assert wait(1, "5") == wait(1, None) == timedelta(seconds=30)  # never sooner than the back-off
    assert wait(4, "120") == timedelta(minutes=4)
    assert wait(1, "86400") == wait(1, "9" * 40) == timedelta(minutes=15)
    assert wait(1, "Wed, 01 May 2024 12:05:00 GMT") == timedelta(minutes=5)
    assert wait(1, "Wed, 01 May 2024 11:00:00 GMT") == wait(1, "soon") == timedelta(seconds=30)
    assert after_failure(25, "429", T0, "120")["status"] == "ERROR"


def test_a_rule_whose_method_has_no_channel_is_not_usable() -> None:
    """With the push plugin disabled, PUSH rules planned pages nothing would ever send."""
    without_push = frozenset({"EMAIL", "SMS", "VOICE"})
    only_push = person(high(PUSH))
    assert pages_for(only_push, "HIGH", T0, without_push) == (
        PlannedPage(5, "EMAIL", EMAIL, T0, fallback=True),)
    both = person(high(PUSH), high(SMS, 2))
    assert [p.method for p in pages_for(both, "HIGH", T0, without_push)] == ["SMS"]
    assert pages_for(person(high(PUSH), email=""), "HIGH", T0, without_push) == ()
    assert unreachable_reason(person(high(PUSH), email=""), "HIGH", T0, without_push) == (
        "no alert rule for HIGH priority but PUSH (whose channel is not enabled) and no e-mail address")
    # No EMAIL channel either: the account address reaches nobody.
    assert pages_for(only_push, "HIGH", T0, frozenset({"SMS"})) == ()
    updated = person(update_rules=(UpdateRule("PUSH", PUSH.id, "ALERT_ACCEPTED"),
                                   UpdateRule("SMS", SMS.id, "ALERT_ACCEPTED")))
    assert [p.method for p in update_pages("ALERT_ACCEPTED", None, [updated], T0, without_push)] == ["SMS"]
