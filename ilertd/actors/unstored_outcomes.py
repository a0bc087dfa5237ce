"""A channel's provider answers the store refused to keep: held, stored again, never sent again."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from ilertd.domain.incidents import LogEntry
from ilertd.domain.pages_in_flight import FailedAttempt
from ilertd.store.db import store_failed

logger = logging.getLogger(__name__)

Outcome = tuple[dict[str, Any], LogEntry | FailedAttempt | None]


class UnstoredOutcomes:
    """Rows a provider has answered (SUCCESS once the message went out, a failure and its retry)
    whose outcome write the store refused. Still SCHEDULED in the store, such a row falls due
    again (its retry timer, the sweep); its channel actor then stores the outcome again instead
    of sending the message a second time, as it did when the store refused the write.

    Filled from the writer's thread (a write's callback), taken on the channel actor's.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[int, Outcome] = {}

    def watch(self, row_id: int, outcome: Outcome, again: Callable[[], None]
              ) -> Callable[[BaseException | None], None]:
        """The callback of the write storing `outcome`: refused by the store, it is held and
        `again` makes the row due again (in WRITE_RETRY); stored, anything held for the row is
        dropped. Another failure (of the statement, not the store) would only fail again."""

        def done(error: BaseException | None) -> None:
            if error is not None and not store_failed(error):
                logger.error("outbox row %s: its outcome could not be stored: %s", row_id, error)
                return
            with self._lock:
                if error is None:
                    self._held.pop(row_id, None)
                    return
                self._held[row_id] = outcome
            logger.error("outbox row %s: its outcome could not be stored (%s); storing it again soon,"
                         " not sending it again", row_id, error)
            again()

        return done

    def take(self, rows: Mapping[int, Any]) -> dict[int, Outcome]:
        """The held outcomes of `rows` (id → outcome row read now) that are still SCHEDULED; an
        outcome of a row the store shows answered since is dropped."""
        with self._lock:
            held = {row_id: self._held.pop(row_id) for row_id in rows if row_id in self._held}
        return {row_id: outcome for row_id, outcome in held.items() if rows[row_id].status == "SCHEDULED"}
