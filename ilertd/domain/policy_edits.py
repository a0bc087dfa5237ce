"""An escalation policy edited while its incidents escalate: where each goes on from.

An incident keeps the index of its level. Edited underneath, that index named another level: a
level added in front had the incident's level paged again at the next timeout, one removed in
front ended the escalation with the following levels never paged, and a timeout changed kept
the deadline of the old one. So an incident escalating by an edited policy stays with its level
(the same users and schedules) wherever the edit moved it, running out at the level's timeout
as it is now (from when the level was reached, never before now). A level edited in place (its
people changed, the number of levels the same) is still its level. The level it was at removed,
it goes on at once at the level that now stands in its place (after the last: as when the last
runs out).

A user deleted (ilertd.app.offboarding) who was the last of those an incident's level had paged
left it waiting for nobody until the level ran out (for good after the last): the delete is
recorded as an edit too, and each such incident reaches its level again at once.

Each incident makes an edit's move once: the edit is recorded with the moves it owes, each move
is committed with the end of what it owes, and what a crash left owed is made at the next start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ilertd.domain.escalation import EscalationPolicy, EscalationRule, level_deadline, next_step
from ilertd.domain.frozen import evolve
from ilertd.domain.incident_model import NO_PAGING, Incident, LogEntry, Paging, Transition
from ilertd.domain.levels import enter_level
from ilertd.domain.timeutil import format_instant
from ilertd.domain.wording import quoted

LOG_TYPE = "ESCALATION_CHANGED"


@dataclass(frozen=True)
class PolicyEdit:
    """One edit of a policy's levels, as recorded: the policy before it and after it."""

    id: int
    before: EscalationPolicy
    after: EscalationPolicy
    # Not an edit of the levels but this user's delete: the incidents' levels are reached again.
    deleted_user: str | None = None


def _people(rule: EscalationRule) -> tuple[frozenset[int], frozenset[int]]:
    return frozenset(rule.user_ids), frozenset(rule.schedule_ids)


def follow_policy_edit(incident: Incident, before: EscalationPolicy, after: EscalationPolicy,
                       now: datetime, paging: Paging = NO_PAGING) -> Transition:
    """Where `incident`, at a level of `before`, goes on from in `after` (see the module)."""
    level = incident.escalation_level
    if (incident.status != "PENDING" or incident.priority == "LOW" or incident.next_escalation_at is None
            or not 0 <= level < len(before.rules) or not after.rules):
        return Transition(incident)
    people = _people(before.rules[level])
    found = [i for i, rule in enumerate(after.rules) if _people(rule) == people]
    if found or len(after.rules) == len(before.rules):
        # Its level, moved (the nearest if it is there twice), or edited in place.
        moved_to = min(found, key=lambda i: abs(i - level)) if found else level
        deadline = incident.next_escalation_at
        if incident.escalated_at is not None:
            deadline = max(level_deadline(after, moved_to, incident.escalated_at) or deadline, now)
        if moved_to == level and deadline == incident.next_escalation_at:
            return Transition(incident)
        where = f"level {level} is level {moved_to} now" if moved_to != level else f"level {level} changed"
        text = f"Escalation policy {after.name} changed: {where}, running out at {format_instant(deadline)}"
        return Transition(evolve(incident, escalation_level=moved_to, next_escalation_at=deadline),
                          (LogEntry(LOG_TYPE, text),))
    reason = f"Escalation policy {after.name} changed: level {level} was removed"
    if level < len(after.rules):
        step_level, step_pass = level, incident.escalation_pass
    else:
        step = next_step(after, len(after.rules) - 1, incident.escalation_pass)
        if step is None:
            ended = evolve(incident, next_escalation_at=None)
            text = f"{reason}, the last; no further escalation"
            return Transition(ended, (LogEntry("ESCALATION_ENDED", text),))
        step_level, step_pass = step.level, step.pass_number
    log: list[LogEntry] = []
    muted: list[str] = []
    entered, pages = enter_level(incident, after, step_level, step_pass, now, paging, log,
                                 f"{reason}: level {step_level} reached", muted=muted)
    return Transition(entered, tuple(log), pages=pages, muted=tuple(muted))


def reach_level_again(incident: Incident, policy: EscalationPolicy | None, deleted_user: str,
                      responders_left: bool, now: datetime, paging: Paging = NO_PAGING) -> Transition:
    """`deleted_user` was deleted, and of the users the incident's level paged since it reached it
    nobody is left (`responders_left` false): the level is reached again now, paging whoever it
    reaches now; reaching nobody, it moves on as any level does. An incident not pending at a
    level of its policy, or whose level has someone left (moved on meanwhile), stays as it is."""
    level = incident.escalation_level
    if (incident.status != "PENDING" or responders_left or policy is None
            or not 0 <= level < len(policy.rules)):
        return Transition(incident)
    reason = f"User {quoted(deleted_user)} was deleted; level {level} reached again"
    log: list[LogEntry] = []
    muted: list[str] = []
    entered, pages = enter_level(incident, policy, level, incident.escalation_pass, now, paging, log,
                                 reason, muted=muted)
    if not any(entry.text.startswith(reason) for entry in log):
        # The level paged nobody: only the entries of its move on would say what happened.
        log.insert(0, LogEntry(LOG_TYPE, f"User {quoted(deleted_user)} was deleted, the last one level"
                                         f" {level} had paged; level {level} reached again"))
    return Transition(entered, tuple(log), pages=pages, muted=tuple(muted))
