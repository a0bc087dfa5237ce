"""Phone numbers the store holds that ilertd answers on: the numbers of SMS alert sources."""

from __future__ import annotations

from ilertd.store import models as m


def sms_source_numbers() -> list[str]:
    """The number of every SMS alert source that has one, in order (a text to it opens an alert)."""
    query = (m.AlertSource.select(m.AlertSource.phone_number)
             .where(m.AlertSource.integration_type == "SMS", m.AlertSource.phone_number.is_null(False))
             .order_by(m.AlertSource.phone_number))
    return [number for (number,) in query.tuples()]
