"""Which schedule, escalation policy or alert source already holds a name."""

from __future__ import annotations

from typing import Any


def holder_of(model: Any, name: str, other_than: int | None = None) -> int | None:
    """The id of the row of `model` (Schedule, EscalationPolicy or AlertSource) named `name`,
    besides `other_than`; None if there is none. The oldest, should an older store hold several."""
    query = model.select(model.id).where(model.name == name)
    if other_than is not None:
        query = query.where(model.id != other_than)
    row = query.order_by(model.id).first()
    return None if row is None else int(row.id)
