"""Migration 19: the open incidents of older releases are found by their alert key again.

Two changes left the stored `alert_key_identity` of an open incident unlike what the daemon now
computes for the same key, so the next ALERT of the key opened a second incident (paging again)
and its RESOLVE or ACCEPT never reached the first: a folded key longer than 255 characters now
ends in a digest (`ilertd.domain.events.alert_key_identity`), and U+0000 in a key now comes in
as U+FFFD (`ilertd.domain.text_input`). Each incident not RESOLVED gets its key as it would come
in now and that key's identity, by the daemon's own functions.

Two open incidents of one source may now fold to one identity (`a<U+0000>` and `a<U+FFFD>`);
only one open incident may hold it (a partial unique index). The oldest holds it: the key's
events reach it. Each other one is left open as it was, with an identity no key folds to (it
holds capital letters), so no event reaches it any more: it is resolved by hand. An incident
row rewritten later keeps that identity, since a write only stores the columns that changed.
"""

from __future__ import annotations

from typing import Any

import peewee

from ilertd.domain.events import alert_key_identity
from ilertd.domain.text_input import storable


def up(migrator: Any, db: peewee.Database) -> None:
    rows = db.execute_sql("SELECT id, alert_source_id, alert_key, alert_key_identity FROM incident"
                          " WHERE status != 'RESOLVED' ORDER BY id").fetchall()
    holders: dict[tuple[int, str], int] = {}
    changed: dict[int, tuple[str, str]] = {}
    for incident_id, source_id, stored_key, stored_identity in rows:
        key = storable(stored_key)
        identity = alert_key_identity(key)
        holder = holders.setdefault((source_id, identity), incident_id)
        if holder != incident_id:
            identity = f"DUPLICATE OF #{holder} (#{incident_id})"
        if (key, identity) != (stored_key, stored_identity):
            changed[incident_id] = (key, identity)
    # Each changed row first steps aside, so no row takes an identity another has not left yet.
    param = db.param
    for incident_id in changed:
        db.execute_sql(f"UPDATE incident SET alert_key_identity = {param} WHERE id = {param}",
                       (f"MIGRATING #{incident_id}", incident_id))
    for incident_id, (key, identity) in changed.items():
        db.execute_sql(f"UPDATE incident SET alert_key = {param}, alert_key_identity = {param}"
                       f" WHERE id = {param}", (key, identity, incident_id))
