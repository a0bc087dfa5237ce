"""Alert sources as events need them, cached by integration key: every event looks one up, edits are rare."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ilertd.domain.events import Priority
from ilertd.store import models as m


@dataclass(frozen=True)
class SourceInfo:
    id: int
    name: str
    integration_type: str
    priority: Priority
    escalation_policy_id: int | None


class SourceCache:
    def __init__(self) -> None:
        self._by_key: dict[str, SourceInfo | None] = {}
        self._lock = threading.Lock()

    def cached(self, integration_key: str) -> SourceInfo | None:
        """The source if it is in memory; never touches the store (safe on the event loop)."""
        with self._lock:
            return self._by_key.get(integration_key)

    def get(self, integration_key: str) -> SourceInfo | None:
        with self._lock:
            if integration_key in self._by_key:
                return self._by_key[integration_key]
        row = m.AlertSource.get_or_none(m.AlertSource.integration_key == integration_key)
        info = (
            SourceInfo(row.id, row.name, row.integration_type, row.priority,
                       row.escalation_policy_id)
            if row is not None else None
        )
        with self._lock:
            # Unknown keys are not remembered: a flood of random keys must not grow memory.
            if info is not None:
                self._by_key[integration_key] = info
        return info

    def invalidate(self) -> None:
        with self._lock:
            self._by_key.clear()
