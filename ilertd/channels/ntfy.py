"""ntfy pages: their action buttons in ntfy's Actions header, and their words within apprise's JSON limit."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from typing import Any

from apprise.plugins.ntfy import NotifyNtfy

from ilertd.channels.base import Message, MessageAction

NTFY_SCHEMAS = ("ntfy://", "ntfys://")
# ntfy refuses a message with more buttons than this.
NTFY_ACTIONS_MAX = 3

# apprise's ntfy plugin sends a message whose JSON (ASCII-escaped: a CJK character takes six
# bytes, an emoji twelve) passes 8,000 bytes as a file attachment, without its title, text or a
# word of what it is: a summary of three incidents in Japanese went so. A page keeps within this.
NTFY_ROOM = 7000
NTFY_TITLE_ROOM = 1000


def fit_json(text: str, room: int) -> str:
    """`text`, cut (ending in "…") so that its JSON string takes at most `room` bytes."""
    if len(json.dumps(text)) <= room:
        return text
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if len(json.dumps(text[:middle] + "…")) <= room:
            low = middle
        else:
            high = middle - 1
    return text[:low] + "…"


def _ntfy_value(value: str) -> str:
    """One field of ntfy's simple action format, quoted when it would otherwise split or misparse."""
    value = " ".join(value.split())
    if value and not re.search(r"[,;\"']", value) and not re.match(r"[-.\w]+\s*=", value):
        return value
    if '"' not in value:
        return f'"{value}"'
    if "'" not in value:
        return f"'{value}'"
    return '"{}"'.format(value.replace('"', '\\"'))


def ntfy_actions(actions: Sequence[MessageAction]) -> str:
    """ntfy's Actions header: a button per action that POSTs to its URL and clears the notification."""
    header = "; ".join(
        f"http, {_ntfy_value(action.label)}, {_ntfy_value(action.url)}, method=POST, clear=true"
        for action in actions[:NTFY_ACTIONS_MAX]
    )
    if header.isascii():
        return header
    # HTTP headers are Latin-1 on the wire; ntfy decodes RFC 2047 in every header it reads.
    return f"=?utf-8?b?{base64.b64encode(header.encode()).decode()}?="


class PageNtfy(NotifyNtfy):
    """apprise's ntfy plugin, showing each page's own buttons."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # The buttons of the URL's `?actions=` stay for the pages that bring none of their own.
        self.configured_actions: str | None = self._NotifyNtfy__actions

    def lay_out(self, message: Message) -> None:
        """Make the next send carry this page's buttons, and none of the previous page's."""
        # NotifyNtfy sends this attribute as the X-Actions header (ntfy also reads it as Actions)
        # and has no per-message setting for it.
        self._NotifyNtfy__actions = ntfy_actions(message.actions) if message.actions \
            else self.configured_actions


def fit_ntfy(title: str, body: str) -> tuple[str, str]:
    """A page's title and body, cut to fit NTFY_ROOM together."""
    title = fit_json(title, NTFY_TITLE_ROOM)
    return title, fit_json(body, NTFY_ROOM - len(json.dumps(title)))
