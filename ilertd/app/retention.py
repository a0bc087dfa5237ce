"""Keeping resolved incidents for `retention.resolved_incident_days`, then deleting them."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from ilertd.store.committer import Committer, WriteUnit
from ilertd.store.retention import deletion, keeping_given_ids, resolved_before

# Incidents deleted a unit. The units go through the group-commit writer, in turn with the
# events and pages: a connection of its own would take SQLite's one write lock from it, and a
# run of deletions taken back to back could keep it from the lock for the whole run.
BATCH = 200
LANDED_WITHIN_S = 60.0


class RetentionError(RuntimeError):
    """A deletion did not land; the next run tries again."""


def cutoff(now: datetime, days: int) -> datetime:
    """Incidents resolved before this instant are past keeping."""
    return now - timedelta(days=days)


def prune_batch(committer: Committer, now: datetime, days: int) -> int:
    """Delete up to BATCH of the incidents resolved more than `days` days before `now`, oldest
    first, and wait for the deletion to land; how many (fewer than BATCH: none are left)."""
    ids = resolved_before(cutoff(now, days), BATCH)
    if not ids:
        return 0
    landed = threading.Event()
    errors: list[BaseException | None] = []

    def done(error: BaseException | None) -> None:
        errors.append(error)
        landed.set()

    committer.submit(WriteUnit(ids[0], (*keeping_given_ids(), deletion(ids)), done))
    if not landed.wait(LANDED_WITHIN_S):
        raise RetentionError(f"deleting {len(ids)} resolved incident(s): not landed in {LANDED_WITHIN_S:g} s")
    if errors[0] is not None:
        raise RetentionError(f"deleting {len(ids)} resolved incident(s) failed: {errors[0]}") from errors[0]
    return len(ids)
