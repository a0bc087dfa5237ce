"""What a channel actor holds of a provider's answer the store refused (ilertd.actors.unstored_outcomes)."""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

from ilertd.actors.unstored_outcomes import UnstoredOutcomes
from ilertd.errors import StoreUnavailable


def refused_by_the_store() -> StoreUnavailable:
    """What the writer hands a unit's callback when SQLite's write lock was not given up."""
    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorname = "SQLITE_BUSY"  # type: ignore[attr-defined]
    error = StoreUnavailable()
    error.__cause__ = locked
    return error


def test_an_outcome_the_store_refused_is_held_until_its_row_is_due_and_still_scheduled() -> None:
    outcomes, again = UnstoredOutcomes(), []
    outcome = ({"status": "SUCCESS", "attempts": 1}, None)
    outcomes.watch(7, outcome, lambda: again.append(7))(refused_by_the_store())
    assert again == [7]
    scheduled, answered = SimpleNamespace(status="SCHEDULED"), SimpleNamespace(status="SUCCESS")
    assert outcomes.take({8: scheduled}) == {}
    assert outcomes.take({7: scheduled}) == {7: outcome}
    assert outcomes.take({7: scheduled}) == {}  # taken once: stored again from there
    # Held again, then the store shows the row answered meanwhile: dropped, not stored twice.
    outcomes.watch(7, outcome, lambda: again.append(7))(refused_by_the_store())
    assert outcomes.take({7: answered}) == {}
    # Stored at last: nothing held.
    outcomes.watch(7, outcome, lambda: again.append(7))(refused_by_the_store())
    outcomes.watch(7, outcome, lambda: again.append(7))(None)
    assert outcomes.take({7: scheduled}) == {}


def test_a_write_that_failed_for_another_reason_is_not_held_or_tried_again() -> None:
    outcomes, again = UnstoredOutcomes(), []
    outcomes.watch(7, ({"attempts": 1}, None), lambda: again.append(7))(ValueError("a fault of the code"))
    assert again == [] and outcomes.take({7: SimpleNamespace(status="SCHEDULED")}) == {}
