"""Acting on an incident (accept, resolve, escalate, comment): the checks; the incident's actor decides."""

from __future__ import annotations

import logging
from typing import Any

from ilertd.app.auth import Principal
from ilertd.app.context import Context, IncidentChange
from ilertd.app.schema import Integer, ObjectSpec, Text
from ilertd.domain.incidents import Actor
from ilertd.errors import invalid, not_found
from ilertd.logs import ids
from ilertd.store import models as m
from ilertd.store.db import row_held, write_transaction
from ilertd.store.incidents import incident

logger = logging.getLogger(__name__)
ACTIONS = ("accept", "resolve", "escalate", "comment")
MAX_COMMENT = 10_000

COMMENT_BODY = ObjectSpec(title="CommentBody", fields={
    "content": Text(max_length=MAX_COMMENT, description="not blank"),
}, required=("content",))
ESCALATE_BODY = ObjectSpec(title="EscalateBody", fields={
    "level": Integer(low=0, optional=True, message="{name} must be a non-negative integer",
                     description="0 to the policy's last level; absent: the next level (after the "
                     "last, level 0)"),
}, description="Optional: the body may be empty.")


def incident_or_404(incident_id: int) -> m.Incident:
    row = incident(incident_id)
    if row is None:
        raise not_found("incident", incident_id)
    return row


def act_on_incident(ctx: Context, incident_id: int, action: str, actor: Actor, content: str = "",
                    level: int | None = None, page_seq: int | None = None) -> IncidentChange:
    """The incident actor's `action`, committed, or its refusal. An accept by a user deleted as it
    landed (the delete checks their accepted incidents, then the accept commits) is taken back:
    the incident escalates anew, where it would have waited for nobody for good."""
    change = ctx.incident_action(incident_id, action, actor, content, level, None, page_seq)
    if change.refusal is None and action == "accept" and actor.user_id is not None:
        with write_transaction(ctx.db):
            # Held: a delete of theirs still open is waited for, and seen.
            exists = row_held(m.User, actor.user_id)
        if not exists:
            logger.warning("incident %s: accepted by %s, deleted meanwhile; escalating it anew", incident_id,
                           actor.name, extra=ids(incident_id=incident_id, user_id=actor.user_id))
            ctx.incident_action(incident_id, "acceptor_deleted", actor, "", None, None, None)
    return change


class Incidents:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def act(self, caller: Principal, incident_id: int, action: str, body: dict[str, Any],
            channel: str = "API") -> None:
        """Hand the action to the incident's actor and wait until its change is committed (or
        refused: the domain's refusal, such as 409 INCIDENT_RESOLVED, is raised here)."""
        assert action in ACTIONS
        content, level = "", None
        if action == "comment":
            content = body.get("content")  # type: ignore[assignment]
            longest = COMMENT_BODY["content"].max_length
            if not isinstance(content, str) or not content.strip():
                raise invalid("content", "content is required and must be a non-empty string")
            if len(content) > longest:
                raise invalid("content", f"content must be at most {longest} characters")
        elif action == "escalate":
            level = ESCALATE_BODY["level"].read(body, "level")
        incident_or_404(incident_id)
        actor = Actor(caller.user_id, caller.username, channel)
        # An accept another landed before is 200, the incident unchanged (the contract's).
        refusal = act_on_incident(self.ctx, incident_id, action, actor, content, level).refusal
        if refusal is not None:
            raise refusal
