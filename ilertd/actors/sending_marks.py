"""A channel batch's messages in order: rows marked as being sent just before them, outcomes stored soon.

A batch may hold hundreds of messages, and an SMTP server may take seconds for each. Marking
every row of the batch before the first send left rows the provider never saw "in flight" for
the whole batch: a crash resent them all, and a second crash ended them as ERROR unsent. Now the
rows are marked a few messages ahead at most (ilertd.domain.pages_in_flight.marked_together),
and the outcomes already known are queued for their commit with each mark and whenever they
have waited MARK_AHEAD_S, so a delivered page does not stay "in flight" until the batch's end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ilertd.actors.runtime import Runtime
from ilertd.domain.pages_in_flight import MARK_AHEAD_MESSAGES, MARK_AHEAD_S, marked_together
from ilertd.store.committer import WRITE_RETRY, WriteQueue, WriteUnit
from ilertd.store.outbox import notification_rows

logger = logging.getLogger(__name__)

# How long a batch waits for a `sending_since` mark to commit before it gives up for now.
MARK_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Outgoing:
    """One message of a batch: its rows (a summary's, or one) and what sends it, given the rows
    still to be sent once they are marked."""

    rows: list[Any]
    send: Callable[[list[Any]], None]


class SendingMarks:
    """Hands a batch's messages out in order for one channel actor, on its thread."""

    def __init__(self, runtime: Runtime, channel_name: str, writes: WriteQueue,
                 arm: Callable[[Any, datetime], None], write: Callable[[Any, dict[str, Any]], None]) -> None:
        self.runtime = runtime
        self.channel_name = channel_name
        self.writes = writes
        self.arm = arm
        self.write = write

    def send_all(self, outgoing: list[Outgoing], now: datetime) -> None:
        """Mark the next few messages' rows (one write, awaited), send those messages, and so on;
        a mark the store refused stops the batch, its unsent rows tried again WRITE_RETRY later."""
        last_send_s: float | None = None
        flushed_at = time.monotonic()
        start = 0
        while start < len(outgoing):
            ahead = outgoing[start:start + MARK_AHEAD_MESSAGES]
            count = marked_together([any(row.resent for row in one.rows) for one in ahead], last_send_s)
            group = outgoing[start:start + count]
            refused = self._mark([row for one in group for row in one.rows], now)
            if refused is not None:
                self._later([row for one in outgoing[start:] for row in one.rows], now, refused)
                return
            flushed_at = time.monotonic()
            still = self._still_to_send([row for one in group for row in one.rows])
            for one in group:
                rows = [row for row in one.rows if row.id in still]
                if not rows:
                    continue
                began = time.monotonic()
                one.send(rows)
                ended = time.monotonic()
                last_send_s = ended - began
                # Known outcomes go to the store at least every MARK_AHEAD_S (a slow provider:
                # after each message), not at the batch's end, which may be minutes away.
                if ended - flushed_at >= MARK_AHEAD_S:
                    self.writes.flush()
                    flushed_at = ended
            start += count

    def _still_to_send(self, rows: list[Any]) -> set[int]:
        """The ids of `rows` still SCHEDULED at their target now that they are marked: a row
        cancelled or moved to another contact while the batch was sending others (the store
        leaves a marked row alone) is not sent; its mark is taken off again."""
        current = notification_rows(self.runtime.reader, [row.id for row in rows])
        still = set()
        for row in rows:
            stored = current.get(row.id)
            if stored is not None and stored.status == "SCHEDULED" and stored.target == row.target:
                still.add(row.id)
            elif stored is not None:
                self.write(row, {"sending_since": None})
        return still

    def _mark(self, rows: list[Any], now: datetime) -> str | None:
        """Store `sending_since` on the rows about to be handed to the provider, in one write
        queued after the outcomes known so far, and wait for its commit, so that the store knows
        of every row the provider may have taken whatever becomes of this process. Why not, when
        the write failed (or did not commit in time)."""
        statements = self.runtime.statements
        committed = threading.Event()
        failures: list[BaseException] = []

        def done(error: BaseException | None) -> None:
            if error is not None:
                failures.append(error)
            committed.set()

        marks = tuple(statements.update_notification(row.id, {"sending_since": now}) for row in rows)
        self.writes.flush()
        # Owner 0: no reader waits for these by incident; this actor waits for the commit itself.
        self.runtime.committer.submit(WriteUnit(0, marks, done))
        if committed.wait(MARK_TIMEOUT_S) and not failures:
            return None
        return str(failures[0]) if failures else f"not committed within {MARK_TIMEOUT_S:.0f} s"

    def _later(self, rows: list[Any], now: datetime, reason: str) -> None:
        """The batch's rows not yet sent, after their mark was refused: tried again later."""
        logger.error("channel %s: %d outbox rows were not marked as being sent (%s); not sending them,"
                     " trying again in %d s", self.channel_name, len(rows), reason,
                     WRITE_RETRY.total_seconds())
        for row in rows:
            self.arm(row, now + WRITE_RETRY)
