"""Migration 22: the open incidents of e-mail alert sources are found by their mails' keys again.

The alert key of a mail's subject now drops the tools' status words and states ("Problem: ",
"** PROBLEM ... **", "... is CRITICAL", "[FIRING:1, RESOLVED:1]"), so that a problem mail and
its recovery are one alert (ilertd.domain.mail_subjects). An incident opened by an older release
kept the key of the older rule: the tool's next reminder of the same problem opened a second
incident (paging again), and its recovery resolved only that one. Each open incident of an
e-mail source gets the key the rule now gives its stored key, and that key's identity.

Two open incidents of one source may now have one key ("Problem: Disk full" and a "Disk full"
left open): one holding it already keeps it, else the oldest takes it, so the tool's mails reach
one of them; the other keeps its key as it was (no mail brings it any more: resolved by hand).
"""

from __future__ import annotations

from typing import Any

import peewee

from ilertd.domain.events import alert_key_identity
from ilertd.domain.mail_subjects import subject_key


def up(migrator: Any, db: peewee.Database) -> None:
    rows = db.execute_sql(
        "SELECT i.id, i.alert_source_id, i.alert_key, i.alert_key_identity FROM incident i"
        " JOIN alert_source s ON s.id = i.alert_source_id"
        " WHERE i.status != 'RESOLVED' AND s.integration_type = 'EMAIL' ORDER BY i.id").fetchall()
    held = {(source_id, identity) for _, source_id, _, identity in rows}
    param = db.param
    for incident_id, source_id, stored_key, stored_identity in rows:
        key = subject_key(stored_key)
        identity = alert_key_identity(key)
        if identity == stored_identity or (source_id, identity) in held:
            continue
        held.discard((source_id, stored_identity))
        held.add((source_id, identity))
        db.execute_sql(f"UPDATE incident SET alert_key = {param}, alert_key_identity = {param}"
                       f" WHERE id = {param}", (key, identity, incident_id))
