"""An escalation policy edited while its incidents escalate: each goes on from its own level, as
the policy is now (ilertd.domain.policy_edits)."""

from __future__ import annotations

from typing import Any

import pytest

from ilertd.store.policy_moves import owed_policy_moves
from tests.paging import Paging


def levels(*people: tuple[int, list[int]]) -> dict[str, Any]:
    return {"escalationRules": [{"escalationTimeout": t, "users": [{"id": u} for u in users]}
                                for t, users in people]}


def state(paging: Paging, incident: int) -> tuple[int, str | None]:
    served = paging.daemon.get(f"/api/incidents/{incident}").json()
    return served["escalationLevel"], served["nextEscalationAt"]


def at_b_of_a_b_c(paging: Paging) -> tuple[int, int, int, int, int]:
    """a, b and c the three levels of the policy (10 minutes each), its incident at b: (a, b, c,
    policy, incident)."""
    a, b, c = paging.user("a"), paging.user("b"), paging.user("c")
    policy = paging.policy([(10, [a]), (10, [b]), (10, [c])])
    incident = paging.alert()
    paging.daemon.advance("PT10M")
    return a, b, c, policy, incident


def test_a_level_removed_in_front_leaves_the_incident_at_its_own_level(paging_either_store: Paging) -> None:
    """At b (level 1 of a, b, c), a removed: the index 1 was c's, so b's timeout ended the
    escalation, and c was never paged."""
    paging = paging_either_store
    _, b, c, policy, incident = at_b_of_a_b_c(paging)
    edited = paging.daemon.put(f"/api/escalation-policies/{policy}", levels((10, [b]), (10, [c])))
    assert edited.status_code == 200
    assert state(paging, incident) == (0, "2026-01-05T09:20:00.000Z")
    paging.daemon.advance("PT10M")
    assert len(paging.mails_to("c@example.com")) == 1
    assert state(paging, incident)[0] == 1


def test_a_level_added_in_front_does_not_page_the_incidents_level_again(app_paging: Paging) -> None:
    a, b, c, x = (app_paging.user(name) for name in "abcx")
    policy = app_paging.policy([(10, [a]), (10, [b]), (10, [c])])
    incident = app_paging.alert()
    app_paging.daemon.advance("PT10M")
    edited = levels((10, [x]), (10, [a]), (10, [b]), (10, [c]))
    assert app_paging.daemon.put(f"/api/escalation-policies/{policy}", edited).status_code == 200
    assert state(app_paging, incident)[0] == 2
    app_paging.daemon.advance("PT10M")
    assert len(app_paging.mails_to("b@example.com")) == 1 and len(app_paging.mails_to("c@example.com")) == 1
    entries = app_paging.daemon.get(f"/api/incidents/{incident}/log-entries").json()
    assert [e["text"] for e in entries if e["logEntryType"] == "ESCALATION_CHANGED"] == [
        "Escalation policy ops changed: level 1 is level 2 now, running out at 2026-01-05T09:20:00.000Z"]


@pytest.mark.parametrize(("timeout", "level", "runs_out"),
                         [(10, 0, "09:10"), (3, 1, "09:15"), (90, 0, "10:30")])
def test_a_timeout_changed_moves_the_deadline_from_when_the_level_was_reached(
        app_paging: Paging, timeout: int, level: int, runs_out: str) -> None:
    """The deadline stayed that of the old timeout (an hour) whatever the new one said. One
    already past runs out at once: level 1 is reached now, running out 10 minutes on."""
    a, b = app_paging.user("a"), app_paging.user("b")
    policy = app_paging.policy([(60, [a]), (10, [b])])
    incident = app_paging.alert()
    app_paging.daemon.advance("PT5M")
    assert app_paging.daemon.put(f"/api/escalation-policies/{policy}",
                                 levels((timeout, [a]), (10, [b]))).status_code == 200
    app_paging.daemon.advance("PT0S")
    assert state(app_paging, incident) == (level, f"2026-01-05T{runs_out}:00.000Z")
    assert len(app_paging.mails_to("b@example.com")) == level


def test_the_level_it_was_at_removed_it_goes_on_at_once_at_the_one_in_its_place(app_paging: Paging) -> None:
    a, _, c, policy, incident = at_b_of_a_b_c(app_paging)
    edited = app_paging.daemon.put(f"/api/escalation-policies/{policy}", levels((10, [a]), (10, [c])))
    assert edited.status_code == 200
    app_paging.daemon.advance("PT0S")
    assert len(app_paging.mails_to("c@example.com")) == 1
    assert state(app_paging, incident) == (1, "2026-01-05T09:20:00.000Z")
    # The last level removed while at it: as when the last runs out.
    assert app_paging.daemon.put(f"/api/escalation-policies/{policy}", levels((10, [a]))).status_code == 200
    assert state(app_paging, incident) == (1, None)
    entries = app_paging.daemon.get(f"/api/incidents/{incident}/log-entries").json()
    assert entries[-1]["text"] == ("Escalation policy ops changed: level 1 was removed, the last;"
                                   " no further escalation")


def test_an_edit_a_crash_kept_from_its_incidents_moves_each_once_at_the_next_start(
        app_paging: Paging) -> None:
    """The edit commits, then the process dies before its incidents move (as a kill -9 right
    after the COMMIT would: tests/test_crash_between_commit_and_moves.py has the real one)."""
    app = app_paging.daemon
    a, b, c = app_paging.user("a"), app_paging.user("b"), app_paging.user("c")
    policy = app_paging.policy([(10, [a]), (10, [b]), (10, [c])])
    first, second = app_paging.alert("first"), app_paging.alert("second")
    app.daemon.services.app.ctx.policy_edited = lambda *_: None
    assert app.put(f"/api/escalation-policies/{policy}", levels((10, [b]), (10, [c]))).status_code == 200
    assert state(app_paging, first) == (0, "2026-01-05T09:10:00.000Z")  # still a's deadline
    owed = owed_policy_moves()
    assert [incident for _, incident in owed] == [first, second]
    app.stop()
    app.start()
    app.advance("PT0S")

    def paged(incident: int) -> list[str]:
        return sorted(n["target"] for n in app_paging.notifications(incident))

    # a's level removed: each goes on at once at b's, now level 0.
    for incident in (first, second):
        assert paged(incident) == ["a@example.com", "b@example.com"]
        assert state(app_paging, incident) == (0, "2026-01-05T09:10:00.000Z")
    # Told again (a second start, a retry): moved already, nothing moves.
    app.daemon.gateway.policy_edited(owed[0][0], [first, second])
    app.stop()
    app.start()
    app.advance("PT10M")
    assert owed_policy_moves() == []
    for incident in (first, second):
        assert paged(incident) == ["a@example.com", "b@example.com", "c@example.com"]
        assert app.log_types(incident).count("ESCALATION_CHANGED") == 0
