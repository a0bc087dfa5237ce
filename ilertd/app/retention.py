"""Keeping resolved incidents for `retention.resolved_incident_days`, then deleting them."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ilertd.domain.timeutil import format_instant
from ilertd.store.retention import delete_resolved_before

logger = logging.getLogger(__name__)

# Incidents deleted a transaction: on SQLite each holds the one write lock the group-commit
# writer also needs, so a run of short ones lets events and pages in between.
BATCH = 200


def prune_resolved(now: datetime, days: int) -> int:
    """Delete every incident resolved more than `days` days before `now` (0: keep them all), in
    batches; how many. Logged when it deleted any."""
    if days <= 0:
        return 0
    cutoff = now - timedelta(days=days)
    deleted = 0
    while True:
        batch = delete_resolved_before(cutoff, BATCH)
        deleted += batch
        if batch < BATCH:
            break
    if deleted:
        logger.info("retention: deleted %d incident(s) resolved before %s (retention.resolved_incident_days"
                    " = %d), with their events, log entries and pages", deleted, format_instant(cutoff), days)
    return deleted
