"""Where a batch of escalations stands in the send order: read at its start and its end, not once
for each level it reaches.

A reply's escalation is refused when its incident reached a level after the page answered was
handed to its provider (`Incident.escalated_seq` against the page's `first_sent_seq`). Read at
each level reached, the send order's last number cost an escalation storm 10,000 reads of the
store, each waiting for the interpreter lock (all pages handed over 2.40 -> 2.62 s). Read once at
the batch's start, a page handed out while the batch ran (a level's delayed SMS due with the
timeout) counted as after the level, and a reply to it escalated again. So the batch reads the
number at its start and again at its end: when pages went out meanwhile, each level it reached
takes the end's number, in memory and in the store, queued with the batch's writes. A level is
then placed after every page handed out before it, and before every page of the new level (those
are handed out once the batch's writes commit).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from ilertd.domain.frozen import evolve
from ilertd.logs import ids
from ilertd.store import incidents as store
from ilertd.store.committer import WriteUnit
from ilertd.store.statements import Statements

logger = logging.getLogger(__name__)


def place_levels_after_sends(actors: Sequence[Any], start: int | None, end: int | None, now: datetime,
                             statements: Statements, submit: Callable[[WriteUnit], None]) -> None:
    """Each of `actors` whose incident reached a level in this batch (at `now`, placed at `start`)
    is placed at `end` instead, when pages were handed out while the batch ran."""
    if end == start:
        return
    for actor in actors:
        state = actor.state
        if state is None or state.escalated_at != now or state.escalated_seq != start:
            continue
        before = actor.row or store.incident_row(state)
        actor.state = evolve(state, escalated_seq=end)
        actor.row = store.incident_row(actor.state)
        update = statements.update_incident_row(before, actor.row)
        if update is not None:
            submit(WriteUnit(actor.id, (update,), _told(actor.id)))


def _told(incident_id: int) -> Callable[[BaseException | None], None]:
    def done(error: BaseException | None) -> None:
        if error is not None:
            # The level's own write was queued with this one: a store refusing this refused it too.
            logger.error("incident %s: its level's place in the send order was not stored (%s)",
                         incident_id, error, extra=ids(incident_id=incident_id))
    return done
