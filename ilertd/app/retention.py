"""Keeping resolved incidents for `retention.resolved_incident_days`, then deleting them."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from ilertd.domain.timeutil import format_instant
from ilertd.store.committer import Committer, WriteUnit
from ilertd.store.retention import deletion, resolved_before

logger = logging.getLogger(__name__)

# Incidents deleted a unit. The units go through the group-commit writer, in turn with the
# events and pages: a connection of its own would take SQLite's one write lock from it, and a
# run of deletions taken back to back could keep it from the lock for the whole run.
BATCH = 200
LANDED_WITHIN_S = 60.0


class RetentionError(RuntimeError):
    """A deletion did not land; the next run tries again."""


def prune_resolved(committer: Committer, now: datetime, days: int) -> int:
    """Delete every incident resolved more than `days` days before `now` (0: keep them all), in
    units of BATCH; how many. Logged when it deleted any."""
    if days <= 0:
        return 0
    cutoff = now - timedelta(days=days)
    deleted = 0
    while ids := resolved_before(cutoff, BATCH):
        _delete(committer, ids)
        deleted += len(ids)
        if len(ids) < BATCH:
            break
    if deleted:
        logger.info("retention: deleted %d incident(s) resolved before %s (retention.resolved_incident_days"
                    " = %d), with their events, log entries and pages", deleted, format_instant(cutoff), days)
    return deleted


def _delete(committer: Committer, ids: list[int]) -> None:
    landed = threading.Event()
    errors: list[BaseException | None] = []

    def done(error: BaseException | None) -> None:
        errors.append(error)
        landed.set()

    committer.submit(WriteUnit(ids[0], (deletion(ids),), done))
    if not landed.wait(LANDED_WITHIN_S):
        raise RetentionError(f"deleting {len(ids)} resolved incident(s): not landed in {LANDED_WITHIN_S:g} s")
    if errors[0] is not None:
        raise RetentionError(f"deleting {len(ids)} resolved incident(s) failed: {errors[0]}") from errors[0]
