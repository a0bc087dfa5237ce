"""Maintenance windows as the API and the incident actors read them; the windows kept in memory."""

from __future__ import annotations

import threading
from datetime import datetime

from ilertd.domain.quiet_times import MaintenanceWindow
from ilertd.store import models as m


def window_from_row(row: m.MaintenanceWindow) -> MaintenanceWindow:
    return MaintenanceWindow(row.id, row.summary, row.starts_at, row.ends_at,
                             frozenset(int(i) for i in row.alert_source_ids))


def window(window_id: int) -> m.MaintenanceWindow | None:
    return m.MaintenanceWindow.get_or_none(m.MaintenanceWindow.id == window_id)


def windows_page(start: int, size: int) -> list[m.MaintenanceWindow]:
    query = m.MaintenanceWindow.select().order_by(m.MaintenanceWindow.starts_at, m.MaintenanceWindow.id)
    return list(query.offset(start).limit(size))


def take_source_out_of_windows(source_id: int) -> None:
    """In the caller's transaction, as the source is deleted: it leaves every window naming it,
    and a window that named only it goes (it covers nothing any more)."""
    for row in m.MaintenanceWindow.select(m.MaintenanceWindow.id, m.MaintenanceWindow.alert_source_ids):
        ids = [int(i) for i in row.alert_source_ids]
        if source_id not in ids:
            continue
        rest = [i for i in ids if i != source_id]
        query = (m.MaintenanceWindow.update(alert_source_ids=rest) if rest else m.MaintenanceWindow.delete())
        query.where(m.MaintenanceWindow.id == row.id).execute()


def windows_ending_after(instant: datetime) -> list[MaintenanceWindow]:
    query = m.MaintenanceWindow.select().where(m.MaintenanceWindow.ends_at > instant)
    return [window_from_row(row) for row in query]


class MaintenanceCache:
    """The windows not yet over when last read: every incident that opens asks whether one covers
    its source, and there are few. A write invalidates; a read that began before an invalidation
    is not kept (it may hold what the writer just replaced)."""

    def __init__(self) -> None:
        self._windows: tuple[MaintenanceWindow, ...] | None = None
        self._generation = 0
        self._lock = threading.Lock()

    def current(self, now: datetime) -> tuple[MaintenanceWindow, ...]:
        with self._lock:
            if self._windows is not None:
                return self._windows
            generation = self._generation
        windows = tuple(windows_ending_after(now))
        with self._lock:
            if generation == self._generation:
                self._windows = windows
        return windows

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1
            self._windows = None
