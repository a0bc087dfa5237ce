"""Phone numbers the store holds that ilertd answers on: the numbers of SMS alert sources."""

from __future__ import annotations

from collections.abc import Iterable

from ilertd.store import models as m


def sms_source_numbers() -> list[str]:
    """The number of every SMS alert source that has one, in order (a text to it opens an alert)."""
    query = (m.AlertSource.select(m.AlertSource.phone_number)
             .where(m.AlertSource.integration_type == "SMS", m.AlertSource.phone_number.is_null(False))
             .order_by(m.AlertSource.phone_number))
    return [number for (number,) in query.tuples()]


def sms_sources_numbered(numbers: Iterable[str]) -> list[tuple[int, str, str]]:
    """(id, name, number) of each SMS alert source whose number is one of `numbers`."""
    query = (m.AlertSource.select(m.AlertSource.id, m.AlertSource.name, m.AlertSource.phone_number)
             .where(m.AlertSource.integration_type == "SMS", m.AlertSource.phone_number.in_(list(numbers)))
             .order_by(m.AlertSource.id))
    return [(int(i), str(name), str(number)) for i, name, number in query.tuples()]
