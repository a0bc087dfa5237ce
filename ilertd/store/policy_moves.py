"""The moves an escalation policy's edit owes its open incidents, kept until each is made."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

import peewee

from ilertd.domain.policy_edits import PolicyEdit
from ilertd.store import models as m
from ilertd.store.db import write_transaction
from ilertd.store.incidents import policy_from_row
from ilertd.store.sources import open_incidents_escalating_by

_ROWS_PER_INSERT = 500


def _document(row: m.EscalationPolicy) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "rules": row.rules, "repeating": bool(row.repeating),
            "frequency": int(row.frequency)}


def _edit(row: m.PolicyEdit) -> PolicyEdit:
    return PolicyEdit(row.id, policy_from_row(SimpleNamespace(**row.before)),
                      policy_from_row(SimpleNamespace(**row.after)))


def record_policy_edit(before: m.EscalationPolicy, after: m.EscalationPolicy, now: datetime
                       ) -> tuple[PolicyEdit, list[int]]:
    """The edit, and a move owed by each open incident escalating by the policy: written in the
    edit's own transaction (the caller's)."""
    row = m.PolicyEdit.create(policy_id=after.id, before=_document(before), after=_document(after),
                              edited_at=now)
    incident_ids = open_incidents_escalating_by(after.id)
    owed = [{"edit": row.id, "incident_id": incident_id} for incident_id in incident_ids]
    for chunk in peewee.chunked(owed, _ROWS_PER_INSERT):
        m.PolicyMove.insert_many(chunk).execute()
    return _edit(row), incident_ids


def policy_move_owed(incident_id: int, edit_id: int) -> bool:
    """Whether the incident has yet to make the edit's move (as committed)."""
    move = m.PolicyMove
    return bool(move.select().where((move.edit == edit_id) & (move.incident_id == incident_id)).exists())


def owed_policy_moves() -> list[tuple[PolicyEdit, int]]:
    """(edit, incident) of each move not yet made, the oldest edit first."""
    edits = {row.id: _edit(row) for row in m.PolicyEdit.select()}
    move = m.PolicyMove
    owed = move.select(move.edit, move.incident_id).order_by(move.edit, move.incident_id).tuples()
    return [(edits[edit_id], incident_id) for edit_id, incident_id in owed if edit_id in edits]


def settle_policy_edits(db: peewee.Database) -> None:
    """Forget the moves of incidents closed (or gone) since, and the edits that owe none."""
    move, edit, incident = m.PolicyMove, m.PolicyEdit, m.Incident
    with write_transaction(db):
        still_open = incident.select(incident.id).where(incident.status != "RESOLVED")
        move.delete().where(move.incident_id.not_in(still_open)).execute()
        owing = move.select(move.edit).distinct()
        edit.delete().where(edit.id.not_in(owing)).execute()
