"""Deleting a user (`DELETE /api/users/{id}`, the web UI, `ilertd user delete`): where they are on
duty (escalation levels, schedule layers and static shifts, overrides not over), refused while
they are, or with `force` taken off everywhere first, all in one transaction.

A level, layer or static schedule (no one else's shift from now on) that would be left with
nobody is refused even with `force`: an escalation step, rotation or schedule that pages nobody
is a silent gap, which a person should close (add someone, or remove the level or layer) before
the user goes. Deleting without these checks left a policy or schedule naming a user who no
longer exists: a level or rotation that paged nobody, silently.

An incident whose level had paged nobody but them, and who is taken off there, would wait for
nobody until the level ran out (for good after the last): the delete records a move each such
incident owes, as a policy edit does, and after the COMMIT it reaches its level again, paging
whoever that level reaches now (ilertd.domain.policy_edits.reach_level_again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ilertd.app.application import Application
from ilertd.app.auth import OPERATOR, Principal, require_admin
from ilertd.app.fields import refuse_in_use
from ilertd.app.people import keep_an_admin, user_or_404
from ilertd.app.sources import POLICY_EDITS
from ilertd.domain.policy_edits import PolicyEdit
from ilertd.domain.timeutil import format_instant, parse_instant
from ilertd.domain.wording import quoted
from ilertd.errors import ApiError, not_found
from ilertd.store import models as m
from ilertd.store.db import row_held, write_transaction
from ilertd.store.incidents import incidents_accepted_by
from ilertd.store.people import user_named
from ilertd.store.policy_moves import record_user_deleted, settle_policy_edits
from ilertd.store.schedules import all_schedules, current_definitions, user_overrides_ending_after
from ilertd.store.settings import bump_config_generation
from ilertd.store.sources import all_policies


class DutyError(Exception):
    """The user cannot be deleted now; the message says where they are on duty and what to do."""


@dataclass
class Duties:
    """Where a user is on duty: each place in words, and the writes that would take them off."""

    places: list[str] = field(default_factory=list)
    # Places that would be left with nobody if the user went.
    emptied: list[str] = field(default_factory=list)
    policies: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    schedules: dict[int, dict[str, Any]] = field(default_factory=dict)
    overrides: list[m.ScheduleOverride] = field(default_factory=list)


def _levels_without(user_id: int, duties: Duties) -> None:
    for policy in all_policies():
        levels, changed = [], False
        for index, rule in enumerate(policy.rules):
            users = [u for u in rule.get("users", []) if u["id"] != user_id]
            if len(users) != len(rule.get("users", [])):
                changed = True
                where = f"escalation policy {quoted(policy.name)} level {index}"
                duties.places.append(where)
                if not users and not rule.get("schedules"):
                    duties.emptied.append(where)
            levels.append({**rule, "users": users})
        if changed:
            duties.policies[policy.id] = levels


def _layers_without(user_id: int, duties: Duties, now: datetime) -> None:
    schedules = all_schedules()
    definitions = current_definitions([s.id for s in schedules])
    for schedule in schedules:
        definition = definitions.get(schedule.id, {})
        body: dict[str, Any] = {"name": schedule.name, "type": schedule.type}
        changed = False
        if "scheduleLayers" in definition:
            layers = []
            for index, layer in enumerate(definition["scheduleLayers"]):
                users = [u for u in layer["users"] if u != user_id]
                if len(users) != len(layer["users"]):
                    changed = True
                    label = f" {quoted(layer['name'])}" if layer.get("name") else ""
                    where = f"schedule {quoted(schedule.name)} layer {index + 1}{label}"
                    duties.places.append(where)
                    if not users:
                        duties.emptied.append(where)
                layers.append({**{k: v for k, v in layer.items() if v is not None},
                               "users": [{"id": u} for u in users]})
            body["scheduleLayers"] = layers
        else:
            shifts = [s for s in definition.get("shifts", []) if s["user"] != user_id]
            if len(shifts) != len(definition.get("shifts", [])):
                changed = True
                where = f"schedule {quoted(schedule.name)} (static shifts)"
                duties.places.append(where)
                # Their shift to come (or under way) would leave no one's from now on: as a layer.
                theirs = [s for s in definition["shifts"] if s["user"] == user_id]
                if _any_ahead(theirs, now) and not _any_ahead(shifts, now):
                    duties.emptied.append(where)
            body["shifts"] = [{**s, "user": {"id": s["user"]}} for s in shifts]
        if changed:
            duties.schedules[schedule.id] = body


def _any_ahead(shifts: list[dict[str, Any]], now: datetime) -> bool:
    """Whether one of these static shifts is not over at `now`."""
    return any(parse_instant(shift["end"]) > now for shift in shifts)


def duties_of(user_id: int, now: datetime) -> Duties:
    duties = Duties()
    _levels_without(user_id, duties)
    _layers_without(user_id, duties, now)
    names = {s.id: s.name for s in all_schedules()}
    for row in user_overrides_ending_after(user_id, now):
        duties.overrides.append(row)
        duties.places.append(f"schedule {quoted(str(names.get(row.schedule_id, row.schedule_id)))} override "
                             f"{format_instant(row.start)} to {format_instant(row.end)}")
    return duties


def remove_user(app: Application, caller: Principal, user_id: int, force: bool, how_to_force: str
                ) -> list[str]:
    """Delete the user (with `force`, off every level, layer and override first); the places they
    were taken off. 409 IN_USE when they are on duty and not `force`d (the message names each place
    and ends with `how_to_force`), or when a place would be left with nobody; nothing changes then.
    Returns once each incident whose level had paged nobody left but them has reached it again."""
    require_admin(caller)
    name = user_or_404(user_id).username
    if user_id == caller.user_id:
        raise ApiError(409, "CONFLICT", "an admin cannot delete their own account")
    # As a policy edit: its moves are made before another edit's can come between.
    with POLICY_EDITS:
        places, moves = _take_off_and_delete(app, user_id, name, force, how_to_force)
        if places or moves:
            # The writes told the caches as each of them returned, inside the transaction: a
            # read in between may have cached what its COMMIT has just replaced.
            app.ctx.store_changed_elsewhere()
        # Each incident whose level had paged nobody left but them reaches it again (without a
        # daemon here, `ilertd user delete`: the daemon's generation watcher has it made).
        for edit, incident_ids in moves:
            app.ctx.policy_edited(edit, incident_ids)
        if moves:
            settle_policy_edits(app.ctx.db)
    return places


def _take_off_and_delete(app: Application, user_id: int, name: str, force: bool, how_to_force: str
                         ) -> tuple[list[str], list[tuple[PolicyEdit, list[int]]]]:
    """remove_user's transaction: the places, and the moves owed by the incidents whose level had
    paged nobody left but the user, recorded with the delete."""
    with write_transaction(app.ctx.db):
        # Held first: a policy or schedule edit putting them on duty meanwhile waits, and is seen
        # here once committed; one that comes later finds no such user.
        if not row_held(m.User, user_id, exclusive=True):
            raise not_found("user", user_id)
        # Through the API an ADMIN cannot delete themselves; `ilertd user delete` could delete
        # the last one, and nobody could then change a user, policy or source but from the CLI.
        keep_an_admin(user_id)
        duties = duties_of(user_id, app.ctx.now())
        if duties.places and not force:
            raise ApiError(409, "IN_USE", f"user {quoted(name)} is on duty in " + "; ".join(duties.places)
                           + f": take them off there first, or {how_to_force}")
        if duties.emptied:
            raise ApiError(409, "IN_USE", f"user {quoted(name)} is the only one in "
                           + "; ".join(duties.emptied)
                           + ": add someone there, or remove it, first; nothing changed")
        # Escalation halts at an accept: gone with their acceptor, they would wait for nobody
        # (PagerDuty refuses to remove a user with incidents assigned, by default).
        refuse_in_use([f"#{i}" for i in incidents_accepted_by(user_id)],
                      f"user {quoted(name)} accepted incidents still open",
                      "resolve them, or escalate them to someone else, first; nothing changed")
        for policy_id, levels in duties.policies.items():
            app.sources.update_policy(OPERATOR, policy_id, {"escalationRules": levels}, levels_stay=True)
        for schedule_id, body in duties.schedules.items():
            app.schedules.update(OPERATOR, schedule_id, body)
        for override in duties.overrides:
            app.schedules.delete_override(OPERATOR, override.schedule_id, override.id)
        moves = record_user_deleted(user_id, name, app.ctx.now())
        app.people.delete_user(user_id, name)
    return duties.places, moves


def delete_user(app: Application, username: str, force: bool) -> list[str]:
    """`ilertd user delete`: remove_user by name; DutyError says why not."""
    row = user_named(username)
    if row is None:
        raise DutyError(f"no user is named {quoted(username)}")
    try:
        places = remove_user(app, OPERATOR, row.id, force, "delete with --force to do it now")
    except ApiError as error:
        if error.code == "IN_USE":
            raise DutyError(error.message) from None
        raise DutyError(f"cannot delete user {quoted(username)}: {error.message}; nothing changed") from None
    # A running daemon heard nothing of these writes: it watches this count.
    bump_config_generation()
    return places
