"""What every channel sender is given to send, and the error it raises when it could not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class DeliveryError(Exception):
    """The provider did not take the message; the outbox retries with back-off."""


@dataclass(frozen=True)
class MessageAction:
    """A button on the page that acts by an HTTP POST to `url` (accept, resolve, escalate)."""

    label: str
    url: str


@dataclass(frozen=True)
class Message:
    title: str
    # One fact per line: the text every medium falls back to.
    body: str
    # Stable per outbox row, so a page re-sent after a crash can be recognised as a duplicate.
    reference: str
    short: str
    voice_url: str | None = None
    # The same facts as `body` in HTML, with links for its buttons; e-mail sends both as alternatives.
    html: str = ""
    # Shown as buttons where the medium has them (ntfy); the body carries the same links for the rest.
    actions: tuple[MessageAction, ...] = ()
    # Where replies to an e-mail page should go (its Reply-To), e.g. an inbox that acts on them.
    reply_to: str = ""
    # A push notification's text: shorter than `body`, without what its buttons already offer.
    brief: str = ""
    # `reference` made unique to this installation: an e-mail's Message-ID and an Idempotency-Key
    # (`reference` itself when empty).
    key: str = ""

    @property
    def idempotency_key(self) -> str:
        return self.key or self.reference


class Sender(Protocol):
    """How a page leaves ilertd: `send` runs on a channel actor's thread (two actors per method)."""

    name: str

    def send(self, target: str, message: Message) -> None:
        """Hand the message to the provider for `target`; raise DeliveryError if it refused."""

    # Optional, looked up with getattr: `warm()` once before the first page (load what the first
    # send would wait for); `batch()`, a context manager around each batch of sends (what the
    # batch's sends may share, such as an open SMTP session, is released at its end).


# The name the channel actor knows a sender by.
Channel = Sender
