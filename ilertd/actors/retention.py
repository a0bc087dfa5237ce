"""The retention actor: every hour on the daemon's clock (and at start), deletes the incidents
resolved longer ago than `retention.resolved_incident_days` (ilertd.app.retention).

A run deletes one batch a message and sends itself the next, so a long run (the first after
retention is turned on, on a large store) lets the actor stop between two batches."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ilertd.actors.base import TrackedActor, send, send_if_alive
from ilertd.actors.messages import Ping
from ilertd.actors.runtime import Runtime
from ilertd.app import retention
from ilertd.app.retention import cutoff, prune_batch
from ilertd.domain.timeutil import format_instant

logger = logging.getLogger(__name__)

EVERY = timedelta(hours=1)
TIMER_KEY = ("retention",)


@dataclass(frozen=True)
class PruneDue:
    pass


class RetentionActor(TrackedActor):
    def __init__(self, runtime: Runtime, days: int) -> None:
        super().__init__(runtime.tracker)
        self.runtime = runtime
        self.days = days
        # Deleted so far in the run under way.
        self._deleted = 0

    def on_start(self) -> None:
        send(self.actor_ref, PruneDue(), self.tracker)

    def on_stop(self) -> None:
        self.runtime.clock.disarm(TIMER_KEY)
        self.runtime.db.close()

    def handle(self, message: Any) -> Any:
        match message:
            case PruneDue():
                self._prune()
            case Ping():
                return True
            case _:
                return super().handle(message)
        return None

    def _prune(self) -> None:
        now = self.runtime.clock.now()
        try:
            deleted = prune_batch(self.runtime.committer, now, self.days)
        except Exception:
            # A store that failed this hour is tried the next.
            self._end_run(now)
            raise
        self._deleted += deleted
        if deleted == retention.BATCH:
            send(self.actor_ref, PruneDue(), self.tracker)
        else:
            self._end_run(now)

    def _end_run(self, now: datetime) -> None:
        if self._deleted:
            logger.info("retention: deleted %d incident(s) resolved before %s"
                        " (retention.resolved_incident_days = %d), with their events, log entries and pages",
                        self._deleted, format_instant(cutoff(now, self.days)), self.days)
        self._deleted = 0
        self._arm()

    def _arm(self) -> None:
        ref, tracker = self.actor_ref, self.tracker
        # Due while stopping: it runs again at the next start.
        self.runtime.clock.arm(TIMER_KEY, self.runtime.clock.now() + EVERY,
                               lambda _when: send_if_alive(ref, PruneDue(), tracker))
