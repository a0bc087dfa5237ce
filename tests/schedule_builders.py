"""What the tests of ilertd.domain.schedules share: weekdays and restriction windows, UTC and local
instants, and builders of layers, recurring schedules and expected shift timelines."""

from __future__ import annotations

from datetime import UTC, datetime, time

from ilertd.domain.schedules import Layer, Override, Restriction, Schedule, Shift, Weekday

MON, TUE, WED, THU, FRI, SAT, SUN = Weekday
BUSINESS_HOURS = tuple(Restriction(day, time(9), day, time(17)) for day in (MON, TUE, WED, THU, FRI))
WEEKEND = (Restriction(FRI, time(18), MON, time(8)),)


def z(text: str) -> datetime:
    """A UTC instant written without its zone, so expectations never go through the code under test."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text)


def recurring(zone: str, *layers: Layer, overrides: tuple[Override, ...] = ()) -> Schedule:
    return Schedule(1, "on-call", "RECURRING", zone, layers, (), overrides)


def layer(
    users: tuple[int, ...], rotation: str, starts_on: str, *, ends_on: str | None = None,
    restrictions: tuple[Restriction, ...] = (), name: str = "layer",
) -> Layer:
    return Layer(name, users, rotation, local(starts_on), local(ends_on) if ends_on else None, restrictions)


def timeline(*rows: tuple[int, str, str]) -> list[Shift]:
    return [Shift(user, z(start), z(end)) for user, start, end in rows]


DAILY = layer((1, 2), "P1D", "2021-03-01T00:00")  # Chicago midnight is 06:00Z before 2021-03-14
