"""Migration 25: an incident's last escalation, and the page a texted escalation answered, have
their place in the order messages left ilertd (`sent_seq`), which a wall clock stepped back cannot
reverse (the same "1e" twice escalated two levels when the page came before the step)."""

from __future__ import annotations

from typing import Any

import peewee
from playhouse.migrate import migrate as apply

# The place of the last message stamped before an instant of the row updated (`{}`): the best
# the stamps give. Read backwards along the sent_seq index, it stops at the first such message,
# just behind the recent instants of open incidents and of the day of texted escalations kept.
LAST_SENT_BEFORE = ("(SELECT sent_seq FROM notification WHERE sent_seq IS NOT NULL AND sent_at {}"
                    " ORDER BY sent_seq DESC LIMIT 1)")


def up(migrator: Any, db: peewee.Database) -> None:
    apply(migrator.add_column("incident", "escalated_seq", peewee.BigIntegerField(null=True)),
          migrator.add_column("sms_reply", "page_seq", peewee.BigIntegerField(null=True)))
    # Only open incidents: a reply on a resolved one changes nothing anyway. A page stamped as the
    # escalation was came after it (as the stamps were compared): before means strictly before.
    db.execute_sql("UPDATE incident SET escalated_seq = COALESCE("
                   + LAST_SENT_BEFORE.format("< incident.escalated_at") + ", 0)"
                   " WHERE status <> 'RESOLVED' AND escalated_at IS NOT NULL")
    db.execute_sql("UPDATE sms_reply SET page_seq = " + LAST_SENT_BEFORE.format("<= sms_reply.page_sent_at")
                   + " WHERE page_sent_at IS NOT NULL")
