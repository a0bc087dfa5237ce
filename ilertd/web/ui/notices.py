"""The status line a page shows after a form was done: a short code in its URL names the UI's own text.

The line was whatever text the URL's `notice` carried, so a link made anywhere (to the login page,
say) showed "ilertd has moved: log in at https://evil.example" as the UI's own word. Now `notice`
is a code of NOTICES; the names and times a text includes ride beside it (`notice_value`), signed
with the UI's key (`notice_sig`). An unknown code, or values not signed by this UI, show nothing.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from starlette.datastructures import QueryParams

from ilertd.domain.link_tokens import notice_signature

# `{0}`, `{1}`: the notice's values, in order.
NOTICES: Mapping[str, str] = MappingProxyType({
    "logged-out": "Logged out.",
    "not-done": "Your session had ended, so that was not done: log in, then do it again.",
    "accepted": "Accepted.",
    "resolved": "Resolved.",
    "escalated": "Escalated.",
    "commented": "Comment added.",
    "policy-created": "Escalation policy created.",
    "policy-saved": "Escalation policy saved.",
    "policy-deleted": "Escalation policy deleted.",
    "source-created": "Alert source created.",
    "source-saved": "Alert source saved.",
    "source-deleted": "Alert source deleted.",
    "schedule-override-added": "Override added: {0} is on call from {1} until {2}.",
    "schedule-override-removed": "Override removed.",
    "user-created": "User {0} created. Set a password with: ilertd user passwd {0}",
    "user-role-set": "{0} is now {1}.",
    "user-deleted": "User {0} deleted.",
    "window-created": "Maintenance window created.",
    "window-ended": "Maintenance window ended: what it held escalates now, or when support hours start.",
    "window-deleted": "Maintenance window deleted.",
    "details-saved": "Saved.",
    "contact-added": "Contact added.",
    "contact-saved": "Contact saved.",
    "contact-deleted": "Contact deleted, with the rules that used it.",
    "alerts-added": "Alert rule added.",
    "alerts-saved": "Alert rule saved.",
    "alerts-deleted": "Alert rule deleted.",
    "updates-added": "Update rule added.",
    "updates-saved": "Update rule saved.",
    "updates-deleted": "Update rule deleted.",
    "duties-added": "Shift reminder added.",
    "duties-saved": "Shift reminder saved.",
    "duties-deleted": "Shift reminder deleted.",
    "token-revoked": "API token revoked.",
    "test-sent": "Test notification sent: it arrives in a moment.",
})
CODE = "notice"
VALUE = "notice_value"
SIGNATURE = "notice_sig"


@dataclass(frozen=True)
class Notice:
    """One of NOTICES, with the values its text shows."""

    code: str
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A code or value count that does not fit its text fails where the notice is made.
        NOTICES[self.code].format(*self.values)

    def query(self, secret: str) -> list[tuple[str, str]]:
        """The notice as query parameters of the page redirected to."""
        pairs = [(CODE, self.code), *((VALUE, value) for value in self.values)]
        if self.values:
            pairs.append((SIGNATURE, notice_signature(secret, self.code, self.values)))
        return pairs


def shown_notice(params: QueryParams, secret: Callable[[], str]) -> str:
    """The text of the notice a page's URL names; empty for none, an unknown code, or values this
    UI did not sign (a link made elsewhere shows nothing). `secret` is read only to check values:
    a page without them is drawn without the store's key (an error page, the store down)."""
    code = params.get(CODE, "")
    if code not in NOTICES:
        return ""
    values = tuple(params.getlist(VALUE))
    signed = params.get(SIGNATURE, "")
    if values and not hmac.compare_digest(signed.encode(), notice_signature(secret(), code, values).encode()):
        return ""
    try:
        return NOTICES[code].format(*values)
    except IndexError:
        return ""  # values left off: the text would name nobody


def is_notice_parameter(name: str) -> bool:
    return name in (CODE, VALUE, SIGNATURE)
