"""Acting on an incident (accept, resolve, escalate, comment): the checks; the incident's actor decides."""

from __future__ import annotations

from typing import Any

from ilertd.app.auth import Principal
from ilertd.app.context import Context
from ilertd.app.schema import Integer, ObjectSpec, Text
from ilertd.domain.incidents import Actor
from ilertd.errors import invalid, not_found
from ilertd.store import models as m
from ilertd.store.incidents import incident

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
        error = self.ctx.incident_action(incident_id, action, Actor(caller.user_id, caller.username, channel),
                                         content, level, None)
        if error is not None:
            raise error
