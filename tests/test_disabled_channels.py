"""A channel plugin disabled by config: rules of its method page nobody, so they are not counted as a
way to reach anyone, and pages planned for it before the restart go by e-mail or wait, logged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ilertd.config import load_config
from tests.conftest import paging_with
from tests.daemon import CHEAP_PASSWORDS
from tests.inprocess import InProcessDaemon
from tests.paging import Paging
from tests.ui_helpers import PASSWORD, login

PUSH_OFF = {"ILERTD_PLUGINS_PUSH_ENABLED": "false"}


@pytest.fixture
def switchable(tmp_path: Path) -> Iterator[Paging]:
    """`app_paging` whose push plugin `restart` turns off or on again."""
    with paging_with(tmp_path, lambda config: InProcessDaemon(tmp_path / "daemon", config=config).start()
                     ) as ready:
        yield ready


def restart(p: Paging, env: dict[str, str]) -> None:
    daemon = p.daemon
    assert isinstance(daemon, InProcessDaemon)
    daemon.stop()
    daemon.config = load_config(daemon.directory.parent / "ilertd.toml", {**CHEAP_PASSWORDS, **env})
    daemon.start()


def entries(p: Paging, incident_id: int, kind: str) -> list[str]:
    found: list[dict[str, Any]] = p.daemon.get(f"/api/incidents/{incident_id}/log-entries",
                                               params={"max-results": 100}).json()
    return [e["text"] for e in sorted(found, key=lambda e: e["id"]) if e["logEntryType"] == kind]


def test_a_rule_of_a_disabled_channel_is_no_way_to_reach_anyone(switchable: Paging) -> None:
    """The incident planned PUSH pages that never went, logged "paging ann", sent no fallback
    e-mail and ran out its levels with nobody paged."""
    p = switchable
    ann = p.user("ann", [("PUSH", 0, "HIGH_PRIORITY")])
    bo = p.user("bo", [("PUSH", 0, "HIGH_PRIORITY")], email=False)
    p.policy([(10, [ann]), (10, [bo])])
    restart(p, PUSH_OFF)
    incident = p.alert()
    p.daemon.advance("PT1M")
    assert [(n["method"], n["target"], n["status"]) for n in p.notifications(incident)] == [
        ("EMAIL", "ann@example.com", "SUCCESS")]
    assert len(p.mails_to("ann@example.com")) == 1
    assert entries(p, incident, "NOTIFICATION_PLANNED") == [
        "ann has no alert rule for HIGH priority but PUSH (whose channel is not enabled):"
        " e-mail to ann@example.com",
        "Level 0 of policy ops reached: paging ann"]
    p.daemon.advance("PT10M")
    # Level 1 has nobody who can be reached: it says so at once, and the escalation moves on.
    assert entries(p, incident, "NOBODY_ON_CALL")[0] == (
        "Nobody reachable at level 1 of policy ops: bo (no alert rule for HIGH priority but PUSH"
        " (whose channel is not enabled) and no e-mail address)")
    assert p.http.requests == []
    # Her profile says so beside the contact and the rule, or nothing shows why no push came.
    daemon = p.daemon
    assert isinstance(daemon, InProcessDaemon) and daemon.daemon.services is not None
    daemon.daemon.services.app.passwords.set("ann", PASSWORD)
    profile = login(daemon, "ann").get("/ui/profile").text
    assert "No PUSH channel is enabled on this daemon: nothing is sent to this contact" in profile
    assert "No PUSH channel is enabled on this daemon: this rule sends nothing." in profile


def test_pages_planned_before_the_channel_was_disabled_go_by_e_mail_or_wait(switchable: Paging) -> None:
    """Pages planned for PUSH before a restart that disabled it stayed SCHEDULED for ever, with
    nothing in the incident's log."""
    p = switchable
    ann = p.user("ann", [("PUSH", 5, "HIGH_PRIORITY")])
    bo = p.user("bo", [("PUSH", 5, "HIGH_PRIORITY")], email=False)
    p.policy([(60, [ann, bo])])
    incident = p.alert()
    p.daemon.advance("PT1M")
    restart(p, PUSH_OFF)
    failed = entries(p, incident, "NOTIFICATION_FAILED")
    assert failed == [
        "PUSH to ops-ann not sent: the PUSH channel is not enabled; e-mail to ann@example.com instead",
        "PUSH to ops-bo not sent: the PUSH channel is not enabled; it waits until the channel is"
        " enabled again"]
    p.daemon.advance("PT5M")
    assert len(p.mails_to("ann@example.com")) == 1
    # Logged once: not by the sweep, nor by the next start.
    p.daemon.advance("PT5M")
    restart(p, PUSH_OFF)
    p.daemon.advance("PT2M")
    assert entries(p, incident, "NOTIFICATION_FAILED") == failed
    assert sorted((n["method"], n["target"], n["status"]) for n in p.notifications(incident)) == [
        ("EMAIL", "ann@example.com", "SUCCESS"), ("PUSH", "ops-bo", "SCHEDULED")]
    # The channel back, the page that waited for it goes.
    restart(p, {})
    p.daemon.advance("PT1M")
    assert sorted((n["method"], n["target"], n["status"]) for n in p.notifications(incident)) == [
        ("EMAIL", "ann@example.com", "SUCCESS"), ("PUSH", "ops-bo", "SUCCESS")]
    assert [r.json()["topic"] for r in p.http.requests] == ["ops-bo"]
    assert "no channel actor" not in p.daemon.log()  # type: ignore[attr-defined]
