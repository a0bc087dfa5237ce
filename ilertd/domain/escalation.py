"""Escalation policies and the walk through their levels: which level comes next, and when."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class EscalationRule:
    escalation_timeout_min: int
    user_ids: tuple[int, ...] = ()
    schedule_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class EscalationPolicy:
    id: int
    name: str
    rules: tuple[EscalationRule, ...]
    repeating: bool = False
    frequency: int = 0


@dataclass(frozen=True)
class LevelStep:
    """Where an incident goes when its level runs out: a level and the pass it belongs to."""

    level: int
    pass_number: int


def level_deadline(policy: EscalationPolicy, level: int, reached_at: datetime) -> datetime | None:
    """When a level reached at `reached_at` runs out; None for a level the policy no longer has."""
    if not 0 <= level < len(policy.rules):
        return None
    return reached_at + timedelta(minutes=policy.rules[level].escalation_timeout_min)


def repeats_at_once(timeouts_min: list[int], repeating: bool, frequency: int) -> bool:
    """Whether a policy's repeats would all run in the instant of its first pass: every level's
    timeout is 0, so each repeat pages the same people again at the same moment."""
    return repeating and frequency > 0 and not any(timeouts_min)


def next_step(policy: EscalationPolicy, level: int, pass_number: int) -> LevelStep | None:
    """The level after `level`; after the last, level 0 again while repeats remain, else None.

    `pass_number` counts from 0: `frequency` 2 allows passes 0, 1 and 2 (three in all). A level
    below 0 (held by quiet times, or waiting for someone reachable) is followed by level 0 of
    the same pass. A pass that takes no time is not repeated: its repeats would page everyone
    again in the same instant (a store may hold such a policy from before it was refused).
    """
    if level < 0:
        return LevelStep(0, pass_number) if policy.rules else None
    if level + 1 < len(policy.rules):
        return LevelStep(level + 1, pass_number)
    timeouts = [rule.escalation_timeout_min for rule in policy.rules]
    if (policy.repeating and pass_number < policy.frequency and policy.rules
            and not repeats_at_once(timeouts, policy.repeating, policy.frequency)):
        return LevelStep(0, pass_number + 1)
    return None


OnCall = Callable[[int, datetime], "int | None"]


def nobody_on_call(_schedule_id: int, _at: datetime) -> int | None:
    """The on-call lookup before any schedule exists: nobody."""
    return None


def level_user_ids(rule: EscalationRule, at: datetime, on_call: OnCall) -> tuple[int, ...]:
    """The users a level reaches at `at`: its users, then whoever is on call in its schedules."""
    seen: dict[int, None] = dict.fromkeys(rule.user_ids)
    for schedule_id in rule.schedule_ids:
        user_id = on_call(schedule_id, at)
        if user_id is not None:
            seen.setdefault(user_id)
    return tuple(seen)


def level_reach(rule: EscalationRule, at: datetime, on_call: OnCall
                ) -> tuple[tuple[int, int | None], ...]:
    """Who a level reaches at `at` and why: (user, None) for its own users, then (user, schedule)
    for whoever is on call in each schedule, a user once; (None, schedule) for a schedule with
    nobody on call."""
    reached: list[tuple[int | None, int | None]] = [(user_id, None)
                                                    for user_id in dict.fromkeys(rule.user_ids)]
    seen = set(rule.user_ids)
    for schedule_id in rule.schedule_ids:
        user_id = on_call(schedule_id, at)
        if user_id is None or user_id not in seen:
            reached.append((user_id, schedule_id))
        if user_id is not None:
            seen.add(user_id)
    return tuple(reached)  # type: ignore[arg-type]


def policy_user_ids(policy: EscalationPolicy) -> set[int]:
    return {user_id for rule in policy.rules for user_id in rule.user_ids}
