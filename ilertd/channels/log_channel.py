"""The channel of last resort: with nothing configured for a method, a page goes to the log."""

from __future__ import annotations

import logging

from ilertd.channels.base import Message

logger = logging.getLogger("ilertd.pages")


class LogChannel:
    def __init__(self, method: str) -> None:
        self.name = f"log ({method.lower()} not configured)"
        self.method = method

    def send(self, target: str, message: Message) -> None:
        logger.warning("PAGE %s to %s: %s [%s]", self.method, target, message.title, message.reference)
