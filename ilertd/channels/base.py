"""What every channel sender is given to send, and the error it raises when it could not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class DeliveryError(Exception):
    """The provider did not take the message; the outbox retries with back-off."""


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    # Stable per outbox row, so a page re-sent after a crash can be recognised as a duplicate.
    reference: str
    short: str
    voice_url: str | None = None


class Sender(Protocol):
    """How a page leaves ilertd: `send` runs on a channel actor's thread (two actors per method)."""

    name: str

    def send(self, target: str, message: Message) -> None:
        """Hand the message to the provider for `target`; raise DeliveryError if it refused."""


# The name the channel actor knows a sender by.
Channel = Sender
