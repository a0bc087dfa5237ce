"""Small values the daemon generates once and keeps in the store (the link-signing secret, ...)."""

from __future__ import annotations

from ilertd.store import models as m


def setting(key: str) -> str | None:
    """The value kept under `key`, or None when there is none yet."""
    row = m.Setting.get_or_none(m.Setting.key == key)
    return row.value if row is not None else None
