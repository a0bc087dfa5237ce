"""Pushover pages: their title and text within the limits Pushover's API documents."""

from __future__ import annotations

PUSHOVER_SCHEMAS = ("pover://",)
# https://pushover.net/api#limits: a title of more than 250 characters, or a message of more than
# 1,024, is refused (HTTP 400), and the page with it. apprise passes both on as they are.
PUSHOVER_TITLE_MAX = 250
PUSHOVER_MESSAGE_MAX = 1024
ELLIPSIS = "…"


def clip(text: str, limit: int) -> str:
    """`text`, cut to end in "…" within `limit` characters when it is longer."""
    return text if len(text) <= limit else text[:limit - len(ELLIPSIS)] + ELLIPSIS


def fit_pushover(title: str, text: str, links: str = "") -> tuple[str, str]:
    """A page's title and message within Pushover's limits: the title clipped, and the text
    clipped so that it and the action `links` following it fit, the links whole where they can
    be (they are the page's only way to answer it there)."""
    if len(links) >= PUSHOVER_MESSAGE_MAX // 2:
        return clip(title, PUSHOVER_TITLE_MAX), clip(text + links, PUSHOVER_MESSAGE_MAX)
    return clip(title, PUSHOVER_TITLE_MAX), clip(text, PUSHOVER_MESSAGE_MAX - len(links)) + links
