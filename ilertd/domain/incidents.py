"""The incident state machine: (incident, action, now) → (incident, log entries, response code).

PENDING escalates until accepted or resolved; ACCEPTED halts escalation; RESOLVED is final and
refuses every action with 409 INCIDENT_RESOLVED. Every change is described by a log entry.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from ilertd.domain.escalation import (
    EscalationPolicy,
    OnCall,
    level_user_ids,
    next_step,
    nobody_on_call,
)
from ilertd.domain.events import Event, Priority
from ilertd.domain.frozen import evolve
from ilertd.domain.incident_model import (
    HELD,
    NO_PAGING,
    SYSTEM,
    WAITING,
    Actor,
    Incident,
    LogEntry,
    Paging,
    ResponseCode,
    Status,
    Transition,
)
from ilertd.domain.levels import LOOK_AGAIN, enter_level
from ilertd.domain.notification_plan import PlannedPage
from ilertd.domain.timeutil import format_instant
from ilertd.errors import ApiError, invalid

if TYPE_CHECKING:
    # Only its type: quiet_times builds on this module (a held incident's hold is moved there).
    from ilertd.domain.quiet_times import Opening


# The model lives in incident_model; callers import it from here, with the transitions.
__all__ = ["HELD", "LOOK_AGAIN", "NO_PAGING", "SYSTEM", "WAITING", "Actor", "Incident", "LogEntry",
           "Paging", "ResponseCode", "Status", "Transition"]



def _refuse_if_resolved(incident: Incident) -> None:
    if incident.status == "RESOLVED":
        raise ApiError(409, "INCIDENT_RESOLVED", f"incident {incident.id} is resolved")


def _by(actor: Actor) -> str:
    return f" by {actor.name}" if actor.name else ""


def open_incident(
    incident_id: int,
    alert_source_id: int,
    alert_key: str,
    default_priority: Priority,
    event: Event,
    policy: EscalationPolicy | None,
    source_name: str,
    now: datetime,
    channel: str = "API",
    paging: Paging = NO_PAGING,
    quiet: Opening | None = None,
) -> Transition:
    """An ALERT on a key with no open incident opens one at level 0 of the source's policy, or
    held until `quiet.hold` ends (a maintenance window, support hours: see quiet_times)."""
    hold = quiet.hold if quiet is not None else None
    priority = (quiet.priority if quiet is not None else None) or event.priority or default_priority
    incident = Incident(
        id=incident_id,
        alert_source_id=alert_source_id,
        alert_key=alert_key,
        summary=event.summary or "",
        details=event.details or "",
        status="PENDING",
        priority=priority,
        report_time=now,
        escalation_policy_id=policy.id if policy else None,
        images=event.images,
        links=event.links,
        labels=dict(event.labels),
        custom_details=dict(event.custom_details),
    )
    log = [
        LogEntry("INCIDENT_CREATED", f"Incident created from alert source {source_name}"),
        LogEntry("EVENT_RECEIVED", f"ALERT received: {incident.summary}", channel=channel),
    ]
    if policy is None:
        log.append(LogEntry("NO_ESCALATION_POLICY", "No escalation policy: nobody is notified"))
    elif not policy.rules:
        log.append(LogEntry("NO_ESCALATION_POLICY", f"Escalation policy {policy.name} has no levels"))
    if quiet is not None and quiet.note:
        log.append(LogEntry("SUPPORT_HOURS", quiet.note))
    pages: tuple[PlannedPage, ...] = ()
    muted: list[str] = []
    if policy is not None and policy.rules and hold is not None:
        # Level -1: escalation_due moves a held incident to level 0 when the hold ends.
        incident = evolve(incident, escalation_level=HELD, next_escalation_at=hold.until)
        log.append(LogEntry("ESCALATION_HELD", f"{hold.reason}: nobody is paged until"
                            f" {format_instant(hold.until)}, then level 0 of policy {policy.name}"))
    elif policy is not None and policy.rules:
        incident, pages = enter_level(
            incident, policy, 0, 0, now, paging, log, f"Level 0 of policy {policy.name} reached",
            opening=True, muted=muted,
        )
    log.extend(_comment_entries(event))
    return Transition(incident, tuple(log), "NEW_INCIDENT_CREATED", pages, muted=tuple(muted))


def _comment_entries(event: Event) -> list[LogEntry]:
    return [
        LogEntry("COMMENT", f"{c.creator.strip()}: {c.content}" if c.creator.strip() else c.content)
        for c in event.comments
    ]


def apply_event(incident: Incident, event: Event, actor: Actor, now: datetime) -> Transition:
    """An integration event for this incident's key (the caller has checked it is open)."""
    _refuse_if_resolved(incident)
    received = LogEntry(
        "EVENT_RECEIVED", f"{event.event_type} received" + (f": {event.summary}" if event.summary else ""),
        channel=actor.channel,
    )
    comments = _comment_entries(event)
    # eventCount counts every event the incident received, whatever its type.
    counted = evolve(incident, event_count=incident.event_count + 1)
    if event.event_type == "ALERT":
        return Transition(counted, (received, *comments), "EVENT_ADDED_TO_INCIDENT")
    if event.event_type in ("ACCEPT", "RESOLVE"):
        act = accept if event.event_type == "ACCEPT" else resolve
        step = act(counted, actor, now)
        return evolve(step, log=(received, *step.log, *comments))
    if not comments and event.summary:
        # A COMMENT event without comments: its summary (and details) are the comment, logged as
        # a comment through the REST API would be.
        text = event.summary + (f"\n{event.details}" if event.details else "")
        comments = [LogEntry("COMMENT", text, channel=actor.channel)]
    return Transition(counted, (received, *comments), "COMMENT_ADDED")


def accept(incident: Incident, actor: Actor, now: datetime) -> Transition:
    _refuse_if_resolved(incident)
    if incident.status == "ACCEPTED":
        return Transition(incident, (), "INCIDENT_ALREADY_ACCEPTED")
    accepted = evolve(
        incident,
        status="ACCEPTED",
        accepted_at=now,
        accepted_by=actor.user_id,
        next_escalation_at=None,
    )
    entry = LogEntry("ACCEPTED", f"Incident accepted{_by(actor)}", actor.user_id, actor.channel)
    return Transition(accepted, (entry,), "INCIDENT_ACCEPTED", cancel_pages=True)


def resolve(incident: Incident, actor: Actor, now: datetime) -> Transition:
    _refuse_if_resolved(incident)
    resolved = evolve(
        incident,
        status="RESOLVED",
        resolved_at=now,
        resolved_by=actor.user_id,
        next_escalation_at=None,
    )
    entry = LogEntry("RESOLVED", f"Incident resolved{_by(actor)}", actor.user_id, actor.channel)
    return Transition(resolved, (entry,), "INCIDENT_RESOLVED", cancel_pages=True)


def comment(incident: Incident, content: str, actor: Actor) -> Transition:
    _refuse_if_resolved(incident)
    entry = LogEntry("COMMENT", content, actor.user_id, actor.channel)
    return Transition(incident, (entry,), "COMMENT_ADDED")


# How much of a reply's own words its log entry quotes: a code or a word, not a whole mail.
REPLY_QUOTED = 60


def quoted_reply(words: str) -> str:
    """A reply's own words as its log entry quotes them: on one line, the start of a long one."""
    words = " ".join(words.split())
    return '"' + (words if len(words) <= REPLY_QUOTED else words[:REPLY_QUOTED - 3] + "...") + '"'


def reply_received_text(actor: Actor, replied: str, answer: str) -> str:
    """The log entry of a reply that changed nothing: who `replied` what (`texted "1a"`, `pressed
    4`) and what they were answered."""
    return f"{actor.name} {replied}; answered: {' '.join(answer.split())}"


def reply_received(incident: Incident, actor: Actor, text: str) -> Transition:
    """A reply to a page that changed nothing (already accepted or resolved, an escalation the
    incident had had since its page, words that are no answer), logged with what it was answered
    (`reply_received_text`): the log shows every answer, not only those that acted. Resolved or not."""
    return Transition(incident, (LogEntry("REPLY_RECEIVED", text, actor.user_id, actor.channel),))


def escalation_due(
    incident: Incident, policy: EscalationPolicy | None, now: datetime, paging: Paging = NO_PAGING
) -> Transition:
    """The escalation deadline came: move to the next level, or stop after the last pass.

    A deadline that fires late, twice, or after accept/resolve changes nothing: the state is
    checked, not the timer trusted.
    """
    due = incident.next_escalation_at
    if incident.status != "PENDING" or due is None or due > now:
        return Transition(incident)
    if policy is None or not policy.rules:
        stopped = evolve(incident, next_escalation_at=None)
        return Transition(stopped, (LogEntry("NO_ESCALATION_POLICY", "Escalation policy is gone"),))
    waiting = incident.escalation_level == WAITING
    step = next_step(policy, incident.escalation_level, incident.escalation_pass)
    if step is None:
        ended = evolve(incident, next_escalation_at=None)
        text = f"Last level of policy {policy.name} ran out; no further escalation"
        return Transition(ended, (LogEntry("ESCALATION_ENDED", text),))
    # The new level runs from now, not from the missed deadline: after downtime each overdue
    # escalation fires once instead of cascading through every level at start.
    reason = f"Escalated to level {step.level} of policy {policy.name}"
    if incident.escalation_level == HELD:
        reason = f"Hold ended: level 0 of policy {policy.name} reached"
    if waiting:
        reason = f"Someone is reachable now: level 0 of policy {policy.name} reached"
    if step.pass_number != incident.escalation_pass:
        reason += f" (repeat {step.pass_number} of {policy.frequency})"
    log: list[LogEntry] = []
    muted: list[str] = []
    escalated, pages = enter_level(
        incident, policy, step.level, step.pass_number, now, paging, log, reason, muted=muted
    )
    if waiting and escalated.escalation_level == WAITING:
        # Still nobody: the first try's entries said why and what comes next; each later try
        # would only repeat them (every 15 minutes through a night's gap), and count its mutes again.
        return Transition(escalated, rearmed=True)
    return Transition(escalated, tuple(log), pages=pages, muted=tuple(muted))


def look_again(
    incident: Incident, policy: EscalationPolicy | None, now: datetime, paging: Paging = NO_PAGING
) -> Transition:
    """Someone may be reachable now (a policy, schedule, user, contact or alert rule was written): an
    incident waiting for someone tries level 0 at once, not at its next look. Still nobody: it looks
    again sooner if the write gives a reason to (nothing logged), else nothing changes."""
    due = incident.next_escalation_at
    if incident.status != "PENDING" or incident.escalation_level != WAITING or due is None or due <= now:
        return Transition(incident)
    looked = escalation_due(evolve(incident, next_escalation_at=now), policy, now, paging)
    later = looked.rearmed and (looked.incident.next_escalation_at or due) >= due
    return Transition(incident) if looked.incident.escalation_level == WAITING and later else looked


def escalation_user_ids(
    incident: Incident, policy: EscalationPolicy | None, now: datetime, on_call: OnCall = nobody_on_call
) -> tuple[int, ...]:
    """The users `escalation_due` would reach first: what a batch reads ahead."""
    due = incident.next_escalation_at
    if incident.status != "PENDING" or due is None or due > now or policy is None or not policy.rules:
        return ()
    step = next_step(policy, incident.escalation_level, incident.escalation_pass)
    return level_user_ids(policy.rules[step.level], now, on_call) if step is not None else ()


def escalate(
    incident: Incident,
    policy: EscalationPolicy | None,
    actor: Actor,
    now: datetime,
    level: int | None = None,
    paging: Paging = NO_PAGING,
    page_seq: int | None = None,
) -> Transition:
    """Manual (or reply) escalation: to the next level, wrapping to 0 after the last, or to `level`.

    An ACCEPTED incident becomes PENDING again; the pass count is kept. `page_seq`: where the page
    a reply answers stands in the order messages left ilertd (its `sent_seq`); a level that paged
    after it (a timeout, the same reply twice) did what it asked, and escalating again would page
    a level nobody asked for (as GoAlert refuses). Compared in that order, not by the stamps: a
    wall clock stepped back between the page and the escalation let the same reply escalate twice."""
    _refuse_if_resolved(incident)
    if page_seq is not None and incident.escalated_seq is not None and incident.escalated_seq >= page_seq:
        raise ApiError(409, "ALREADY_ESCALATED",
                       f"incident {incident.id} reached level {incident.escalation_level} at"
                       f" {format_instant(incident.escalated_at)}, after the page answered")
    if policy is None or not policy.rules:
        raise ApiError(400, "NO_ESCALATION_POLICY", f"incident {incident.id} has no escalation policy")
    if level is None:
        # Held or waiting (below 0): level 0 is the next; after the last, level 0 again.
        level = 0 if incident.escalation_level < 0 else (incident.escalation_level + 1) % len(policy.rules)
    elif not 0 <= level < len(policy.rules):
        raise invalid("level", f"level must be from 0 to {len(policy.rules) - 1}")
    pending = evolve(incident, status="PENDING", accepted_at=None, accepted_by=None)
    log: list[LogEntry] = []
    reason = f"Escalated to level {level} of policy {policy.name}{_by(actor)}"
    muted: list[str] = []
    escalated, pages = enter_level(
        pending, policy, level, incident.escalation_pass, now, paging, log, reason, muted=muted, wrap=True
    )
    moved = any(entry.log_entry_type == "ESCALATED" for entry in log)
    if not moved:
        # Nobody reachable anywhere: the incident waits, and the log says whose escalation that
        # was; the same reply again (a provider's retry) is then refused as one that did its work.
        escalated = evolve(escalated, escalated_at=now, escalated_seq=paging.messages_sent())
    log = [evolve(entry, user_id=actor.user_id, channel=actor.channel)
           if entry.log_entry_type == "ESCALATED" or not moved else entry for entry in log]
    return Transition(escalated, tuple(log), pages=pages, muted=tuple(muted))


def acceptor_deleted(incident: Incident, policy: EscalationPolicy | None, user_id: int, username: str,
                     now: datetime, paging: Paging = NO_PAGING) -> Transition:
    """The user who accepted the incident was deleted as the accept landed (the delete's check
    of their accepted incidents ran before it): accepted by nobody who exists, it would never
    escalate again. It escalates anew from its level, as if it had never been accepted; an
    incident accepted by someone else since, or without levels to page, is left as it is."""
    if incident.status != "ACCEPTED" or incident.accepted_by != user_id or policy is None or not policy.rules:
        return Transition(incident, ())
    level = incident.escalation_level if 0 <= incident.escalation_level < len(policy.rules) else None
    return escalate(incident, policy, Actor(name=f"ilertd, as {username}, who accepted it, was deleted"),
                    now, level, paging)
