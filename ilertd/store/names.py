"""Which row already holds values that are to be unique: a name of its kind, a user's rule."""

from __future__ import annotations

from typing import Any


def holder_of(model: Any, values: dict[str, Any], other_than: int | None = None) -> int | None:
    """The id of the row of `model` whose columns equal `values`, besides `other_than`; None if
    there is none. The oldest, should an older store hold several."""
    query = model.select(model.id)
    for column, value in values.items():
        query = query.where(getattr(model, column) == value)
    if other_than is not None:
        query = query.where(model.id != other_than)
    row = query.order_by(model.id).first()
    return None if row is None else int(row.id)
