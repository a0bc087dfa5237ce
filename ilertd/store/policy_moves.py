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
                      policy_from_row(SimpleNamespace(**row.after)), row.deleted_user)


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


def _paged_at_their_level(user_ids: list[int] | None, incident_ids: list[int] | None
                          ) -> dict[int, set[int]]:
    """Of the pending incidents (those of `incident_ids`, or all), the users (those of `user_ids`,
    or all) each incident's level paged since it was last reached."""
    page, incident = m.Notification, m.Incident
    query = (page.select(page.incident, page.user_id, page.created_at, incident.escalated_at)
             .join(incident, on=(page.incident == incident.id))
             .where((incident.status == "PENDING") & (page.kind == "ALERT")
                    & (page.level == incident.escalation_level)))
    if user_ids is not None:
        query = query.where(page.user_id.in_(user_ids))
    if incident_ids is not None:
        query = query.where(page.incident.in_(incident_ids))
    paged: dict[int, set[int]] = {}
    # Compared here, not in SQL: the instants are text in SQLite, as each writer formatted them.
    for incident_id, user_id, created_at, reached_at in query.tuples():
        if reached_at is None or created_at >= reached_at:
            paged.setdefault(incident_id, set()).add(user_id)
    return paged


def record_user_deleted(user_id: int, username: str, now: datetime) -> list[tuple[PolicyEdit, list[int]]]:
    """Before the user's row goes, in the delete's transaction: for each policy, an edit naming
    the user, and a move owed by each pending incident escalating by it whose level paged them
    (`reach_level_again` then decides whether anyone it paged is left)."""
    paged = _paged_at_their_level([user_id], None)
    incident = m.Incident
    by_policy: dict[int, list[int]] = {}
    rows = incident.select(incident.id, incident.escalation_policy_id).where(incident.id.in_(list(paged)))
    for incident_id, policy_id in rows.tuples() if paged else ():
        if policy_id is not None:
            by_policy.setdefault(policy_id, []).append(incident_id)
    recorded = []
    for policy_id, incident_ids in sorted(by_policy.items()):
        policy = m.EscalationPolicy.get_or_none(m.EscalationPolicy.id == policy_id)
        if policy is None:
            continue
        row = m.PolicyEdit.create(policy_id=policy_id, before=_document(policy), after=_document(policy),
                                  edited_at=now, deleted_user=username)
        incident_ids.sort()
        owed = [{"edit": row.id, "incident_id": incident_id} for incident_id in incident_ids]
        for chunk in peewee.chunked(owed, _ROWS_PER_INSERT):
            m.PolicyMove.insert_many(chunk).execute()
        recorded.append((_edit(row), incident_ids))
    return recorded


def responders_left(incident_id: int) -> bool:
    """Whether a user the incident's level paged since it was last reached still exists (as
    committed)."""
    paged = _paged_at_their_level(None, [incident_id]).get(incident_id, set())
    return bool(paged) and m.User.select().where(m.User.id.in_(list(paged))).exists()


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
