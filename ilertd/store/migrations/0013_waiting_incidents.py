"""Migration 13: incidents an older version left paging nobody for good wait for someone instead.

Before, an incident for which nobody in its policy was reachable (opened in a gap of its
schedules, or while everyone was muted) stayed PENDING with no deadline, and nothing would ever
page anyone for it. Now such an incident waits (level -2, ilertd.domain.incident_model.WAITING)
and level 0 is tried again when someone may be reachable. Those an older version left behind
(PENDING, a policy, no deadline, no page ever planned for anyone) are given that wait, due at
once: the first start after this migration looks for someone for each of them.
"""

from __future__ import annotations

from typing import Any

import peewee


def up(migrator: Any, db: peewee.Database) -> None:
    db.execute_sql(
        "UPDATE incident SET escalation_level = -2, next_escalation_at = report_time"
        " WHERE status = 'PENDING' AND next_escalation_at IS NULL"
        " AND escalation_policy_id IS NOT NULL AND escalation_level >= 0"
        " AND NOT EXISTS (SELECT 1 FROM notification WHERE notification.incident_id = incident.id"
        " AND notification.kind = 'ALERT')")
