"""Reaching an escalation level: who it pages and why, or, with nobody reachable, what comes next."""

from __future__ import annotations

from datetime import datetime, timedelta

from ilertd.domain.escalation import (
    EscalationPolicy,
    LevelStep,
    level_deadline,
    level_reach,
    level_user_ids,
    next_step,
)
from ilertd.domain.frozen import evolve
from ilertd.domain.incident_model import WAITING, Incident, LogEntry, Paging
from ilertd.domain.notification_plan import PlannedPage, no_rule_reason, pages_for, unreachable_reason
from ilertd.domain.timeutil import format_instant

# How often an incident nobody could be paged for tries level 0 again at the latest: what no
# timer announces (a contact or an alert rule added, the policy edited) is seen this late at most.
LOOK_AGAIN = timedelta(minutes=15)


def reach_level(
    incident: Incident, policy: EscalationPolicy, level: int, pass_number: int, now: datetime,
    sent: int | None = None,
) -> Incident:
    deadline = level_deadline(policy, level, now)
    if incident.priority == "LOW":
        # LOW priority pages level 0 only and never escalates.
        deadline = None
    return evolve(
        incident, escalation_level=level, escalation_pass=pass_number, next_escalation_at=deadline,
        escalated_at=now, escalated_seq=sent,
    )


def enter_level(
    incident: Incident,
    policy: EscalationPolicy,
    level: int,
    pass_number: int,
    now: datetime,
    paging: Paging,
    log: list[LogEntry],
    reason: str,
    opening: bool = False,
    muted: list[str] | None = None,
    wrap: bool = False,
) -> tuple[Incident, tuple[PlannedPage, ...]]:
    """Reach a level: start a notification cycle for each reachable user of it.

    A level with nobody reachable now (muted users, empty schedules) escalates at once; when
    no level of the policy has anyone, nobody is paged, the incident stays PENDING and waits
    (WAITING): level 0 is tried again when someone may be reachable (`next_look`). `wrap` (a
    manual escalation): after the last level comes level 0 of the same pass, whatever the
    policy's repeats, so it never ends the escalation with someone reachable."""
    checked = 0
    first_pass = pass_number
    while True:
        rule = policy.rules[level]
        pages: list[PlannedPage] = []
        names: list[str] = []
        unreachable: list[str] = []
        for user_id, schedule_id in level_reach(rule, now, paging.on_call):
            through = f" (on call in {paging.schedule_name(schedule_id)})" if schedule_id is not None else ""
            if user_id is None:
                unreachable.append(f"{paging.schedule_name(schedule_id or 0)} (nobody on call)")
                continue
            person = paging.person(user_id)
            if person is None:
                unreachable.append(f"user {user_id}{through} (no longer exists)")
                continue
            planned = pages_for(person, incident.priority, now, paging.channels)
            if not planned:
                unreachable.append(f"{person.username}{through} "
                                   f"({unreachable_reason(person, incident.priority, now, paging.channels)})")
                if person.muted_at(now) and muted is not None:
                    muted.extend(p.method for p in pages_for(evolve(person, muted_until=None),
                                                               incident.priority, now, paging.channels))
            if planned:
                names.append(person.username + through)
            for page in planned:
                pages.append(evolve(page, level=level))
                if page.fallback:
                    log.append(LogEntry(
                        "NOTIFICATION_PLANNED",
                        f"{person.username} has {no_rule_reason(person, incident.priority, paging.channels)}:"
                        f" e-mail to {page.target}",
                        person.user_id,
                    ))
        if pages:
            # Opening at level 0 moves the incident nowhere: ESCALATED is for a move to a level.
            moved = not (opening and level == 0 and checked == 0)
            log.append(LogEntry("ESCALATED" if moved else "NOTIFICATION_PLANNED",
                                f"{reason}: paging {', '.join(names)}"))
            # Opening: no page of the incident has been sent yet, and an alert storm reads no
            # more of the store for each incident it opens.
            sent = None if opening else paging.messages_sent()
            return reach_level(incident, policy, level, pass_number, now, sent), tuple(pages)
        checked += 1
        who = ": " + ", ".join(unreachable) if unreachable else ": the level names nobody"
        log.append(LogEntry("NOBODY_ON_CALL",
                            f"Nobody reachable at level {level} of policy {policy.name}{who}"))
        if wrap:
            step: LevelStep | None = LevelStep((level + 1) % len(policy.rules), pass_number)
        else:
            step = None if incident.priority == "LOW" else next_step(policy, level, pass_number)
        if checked >= len(policy.rules) or (step is None and incident.priority == "LOW"):
            # Nobody anywhere (LOW: at level 0, its only level): paged when someone is, not never.
            look = next_look(policy, now, paging)
            waiting = evolve(incident, escalation_level=WAITING, escalation_pass=first_pass,
                             next_escalation_at=look)
            log.append(LogEntry("NOBODY_ON_CALL", f"Nobody reachable in policy {policy.name}: nobody is "
                                f"paged; level 0 is tried again when someone comes on call or a mute"
                                f" ends, at the latest every {int(LOOK_AGAIN.total_seconds()) // 60}"
                                f" minutes (next at {format_instant(look)})"))
            return waiting, ()
        if step is None:
            stopped = evolve(incident, escalation_level=level, escalation_pass=pass_number,
                              next_escalation_at=None)
            text = f"No further level of policy {policy.name} to escalate to"
            log.append(LogEntry("ESCALATION_ENDED", text))
            return stopped, ()
        level, pass_number = step.level, step.pass_number
        reason = f"Escalated at once to level {level} of policy {policy.name}"


def next_look(policy: EscalationPolicy, now: datetime, paging: Paging) -> datetime:
    """When an incident nobody in `policy` could be paged for tries level 0 again: the next change
    of who is on call in one of its schedules, or the end of a mute of one of its users (or of
    whoever is on call), and LOOK_AGAIN from now at the latest."""
    candidates = [now + LOOK_AGAIN]
    for rule in policy.rules:
        for schedule_id in rule.schedule_ids:
            changes = paging.on_call_changes(schedule_id, now)
            if changes is not None:
                candidates.append(changes)
        for user_id in level_user_ids(rule, now, paging.on_call):
            person = paging.person(user_id)
            if person is not None and person.muted_until is not None and person.muted_at(now):
                candidates.append(person.muted_until)
    return min(at for at in candidates if at > now)
