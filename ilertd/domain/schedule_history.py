"""A schedule's edits over time: each version rules from its effective instant on, so the past never changes.

Editing a schedule (its layers, rotations, users or static shifts) does not rewrite it: the edit
becomes a new version effective from the moment it was made. Before that moment the earlier
version still says who was on call, so shifts already served, and reports about them, stay as
they were. The first version rules from the beginning of time, but the schedule itself only from
its creation (`begins`): before it no one was on call in it. Overrides are not versioned: they
can only be added from now on, and taking one back ends it now (see `end_override`), so they
never reach into the past either.

The timeline of a history is each version's timeline over its own span, joined: a shift that
runs across an edit with the same user stays one shift.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from ilertd.domain import schedules as arithmetic
from ilertd.domain.schedule_model import parse_rotation
from ilertd.domain.schedules import Override, Schedule, Shift
from ilertd.domain.timeutil import format_instant

BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Version:
    """The schedule as it was defined from `effective_from` until the next version."""

    effective_from: datetime
    schedule: Schedule


@dataclass(frozen=True)
class History:
    """Every version of one schedule, oldest first, and the overrides that sit above all of them;
    nothing before `begins`, when the schedule was created."""

    versions: tuple[Version, ...]
    overrides: tuple[Override, ...] = ()
    begins: datetime = BEGINNING

    def __post_init__(self) -> None:
        if not self.versions:
            raise ValueError("a schedule history needs at least one version")
        starts = [v.effective_from for v in self.versions]
        if starts != sorted(starts) or len(set(starts)) != len(starts):
            raise ValueError("versions must be ordered by effective_from, each at its own instant")

    @property
    def current(self) -> Schedule:
        return self.versions[-1].schedule

    def _spans(self) -> list[tuple[datetime, datetime | None, Schedule]]:
        """(from, until, schedule with the overrides) per version; the last one never ends."""
        result = []
        for index, version in enumerate(self.versions):
            until = self.versions[index + 1].effective_from if index + 1 < len(self.versions) else None
            schedule = replace(version.schedule, overrides=self.overrides)
            result.append((version.effective_from, until, schedule))
        return result


def edit(history: History, schedule: Schedule, now: datetime) -> History:
    """The history after `schedule` replaced the definition at `now`: only the future changes.

    Versions that would only have started after `now` (none, unless the clock was set back) are
    dropped; an edit at the very instant of the last one replaces it.
    """
    kept = tuple(v for v in history.versions if v.effective_from < now)
    if not kept:
        return replace(history, versions=(Version(history.versions[0].effective_from, schedule),))
    return replace(history, versions=(*kept, Version(now, schedule)))


def in_effect_at(history: History, now: datetime) -> History:
    """`history` as paging reads it at `now`: a schedule that exists is in effect, even when its
    creation was stamped by a clock ahead of this one (another host's, or a command's real clock
    beside a daemon on the manual clock). Only a past before its creation has nobody on call."""
    return history if history.begins <= now else replace(history, begins=now)


def end_override(override: Override, now: datetime) -> Override | None:
    """An override taken back at `now`: one not yet begun goes; a running one ends now; a past one stays.

    Returns the override to keep (None when it goes); ValueError for one that is already over,
    since removing it would change who was on call in the past.
    """
    if override.start >= now:
        return None
    if override.end <= now:
        raise ValueError(
            f"override {override.id} ended at {format_instant(override.end)}; the past does not change")
    return replace(override, end=now)


def shifts(history: History, start: datetime, end: datetime) -> list[Shift]:
    """The on-call timeline over [start, end) across every version: sorted, merged, gaps absent,
    nothing before the schedule began."""
    start = max(start, history.begins)
    timeline: list[Shift] = []
    for low, high, schedule in history._spans():
        low = max(low, start)
        high = end if high is None else min(high, end)
        if low >= high:
            continue
        for shift in arithmetic.shifts(schedule, low, high):
            if timeline and timeline[-1].end == shift.start and timeline[-1].user == shift.user:
                timeline[-1] = Shift(shift.user, timeline[-1].start, shift.end)
            else:
                timeline.append(shift)
    return timeline


def handoffs(history: History, start: datetime, end: datetime) -> int:
    """How many hand-offs working out [start, end) takes, at most: each layer's rotations over the
    part of the window its version rules, and two a week for each of its restrictions."""
    start = max(start, history.begins)
    total = 0
    for low, high, schedule in history._spans():
        low = max(low, start)
        high = end if high is None else min(high, end)
        if low >= high:
            continue
        span = (high - low).total_seconds()
        weeks = int(span // (7 * 86_400)) + 1
        for layer in schedule.layers:
            step = max(parse_rotation(layer.rotation).step.total_seconds(), 1.0)
            total += int(span // step) + 1 + 2 * weeks * len(layer.restrictions)
    return total


def on_call(history: History, at: datetime) -> int | None:
    """The user on call at the instant `at`, or None in a gap or before the schedule began."""
    if at < history.begins:
        return None
    _, _, schedule = _span_at(history, at)
    return arithmetic.on_call(schedule, at)


def on_call_shift(history: History, at: datetime) -> Shift | None:
    """The merged shift containing `at`, followed across edits while the same user stays on call,
    back to the schedule's beginning at most."""
    if at < history.begins:
        return None
    spans = history._spans()
    index = _index_at(history, at)
    low, high, schedule = spans[index]
    found = arithmetic.on_call_shift(schedule, at)
    if found is None:
        return None
    start = max(found.start, low, history.begins)
    end = found.end if high is None else min(found.end, high)
    # Walk back over earlier versions while the same user was on call right up to the edit.
    back = index
    while start == spans[back][0] and back > 0 and start > history.begins:
        back -= 1
        before = arithmetic.on_call_shift(spans[back][2], start - _TICK)
        if before is None or before.user != found.user:
            break
        start = max(before.start, spans[back][0], history.begins)
    ahead = index
    while spans[ahead][1] is not None and end == spans[ahead][1]:
        ahead += 1
        after = arithmetic.on_call_shift(spans[ahead][2], end)
        if after is None or after.user != found.user or after.start > end:
            break
        next_high = spans[ahead][1]
        end = after.end if next_high is None else min(after.end, next_high)
    return Shift(found.user, start, end)


def shift_began(history: History, shift: Shift) -> datetime:
    """When the on-call of `shift` really began: on_call_shift follows a shift a year back at most,
    so an unbroken on-call older than that is followed further, a year at a time. (A calendar
    feed names a shift by its start: one cut at a year before the window moved every day.)"""
    start = shift.start
    while True:
        earlier = on_call_shift(history, start - _TICK)
        if earlier is None or earlier.user != shift.user or earlier.start >= start:
            return start
        start = earlier.start


@dataclass(frozen=True)
class Outlook:
    """A schedule seen from `now`, out to `end`: who is on call, when that next changes, and the
    shifts that begin from `since` on (the hand-offs a shift reminder may be due for)."""

    on_call: int | None
    next_change: datetime | None
    starts: tuple[Shift, ...]


def outlook(history: History, now: datetime, end: datetime, since: datetime | None = None) -> Outlook:
    """All three from one timeline. A shift already running at `since` is not a start: the
    timeline begins a tick before `since`, so such a shift is clipped to that tick, while one
    that begins exactly at `since` keeps its start."""
    since = now if since is None else min(since, now)
    timeline = shifts(history, since - _TICK, end)
    on_call = next((s.user for s in timeline if s.start <= now < s.end), None)
    change = None
    for shift in timeline:
        if shift.start > now:
            change = shift.start
            break
        if now < shift.end < end:
            change = shift.end
            break
    return Outlook(on_call, change, tuple(s for s in timeline if s.start >= since))


def _span_at(history: History, at: datetime) -> tuple[datetime, datetime | None, Schedule]:
    return history._spans()[_index_at(history, at)]


def _index_at(history: History, at: datetime) -> int:
    starts = [v.effective_from for v in history.versions]
    return max(bisect.bisect_right(starts, at) - 1, 0)

