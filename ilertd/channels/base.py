"""What every channel sender is given to send, and the error it raises when it could not."""

from __future__ import annotations

from typing import Protocol

from ilertd.domain.page_text import PageAction, PageText


class DeliveryError(Exception):
    """The provider did not take the message; the outbox retries with back-off, or after the
    provider's `retry_after` (its `Retry-After` header as sent: seconds or an HTTP date) if longer."""

    def __init__(self, message: str, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# A button on the page that acts by an HTTP POST to its `url` (accept, resolve, escalate).
MessageAction = PageAction


class Message:
    """A page as its sender gets it. Its texts are laid out when first read (see `laid_out`): a
    sender reads only those of its medium."""

    __slots__ = ("_text", "key", "reference", "reply_to", "voice_url")

    def __init__(self, title: str, body: str, reference: str, short: str, voice_url: str | None = None,
                 html: str = "", actions: tuple[MessageAction, ...] = (), reply_to: str = "",
                 brief: str = "", key: str = "") -> None:
        setattr_ = object.__setattr__
        setattr_(self, "_text", PageText(title, body, short, "", html, brief, tuple(actions)))
        # Stable per outbox row, so a page re-sent after a crash can be recognised as a duplicate.
        setattr_(self, "reference", reference)
        setattr_(self, "voice_url", voice_url)
        # Where replies to an e-mail page should go (its Reply-To), e.g. an inbox that acts on them.
        setattr_(self, "reply_to", reply_to)
        # `reference` made unique to this installation: an e-mail's Message-ID and an
        # Idempotency-Key (`reference` itself when empty).
        setattr_(self, "key", key)

    @classmethod
    def laid_out(cls, text: PageText, reference: str, key: str = "", voice_url: str | None = None,
                 reply_to: str = "") -> Message:
        """The page of `text`, whose parts are laid out only when a sender reads them."""
        message = cls(text.title, "", reference, "", voice_url, reply_to=reply_to, key=key)
        object.__setattr__(message, "_text", text)
        return message

    def __setattr__(self, name: str, value: object) -> None:
        # Two channel actors may hold one message's sender: it stays as it was made.
        raise AttributeError(f"a Message is read-only: cannot set {name}")

    @property
    def title(self) -> str:
        return self._text.title

    @property
    def body(self) -> str:
        """One fact per line: the text every medium falls back to."""
        return self._text.body

    @property
    def short(self) -> str:
        """One SMS segment: summary and link."""
        return self._text.short

    @property
    def html(self) -> str:
        """The same facts as `body` in HTML, with links for its buttons; e-mail sends both as alternatives."""
        return self._text.html

    @property
    def brief(self) -> str:
        """A push notification's text: shorter than `body`, without what its buttons already offer."""
        return self._text.brief

    @property
    def actions(self) -> tuple[MessageAction, ...]:
        """Shown as buttons where the medium has them (ntfy); the body carries the same links for the rest."""
        return self._text.actions

    @property
    def idempotency_key(self) -> str:
        return self.key or self.reference

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self._seen() == other._seen()

    def __hash__(self) -> int:
        return hash(self._seen())

    def _seen(self) -> tuple[object, ...]:
        """What a sender can read of it."""
        return (self.title, self.body, self.short, self.html, self.brief, self.actions, self.reference,
                self.voice_url, self.reply_to, self.key)

    def __repr__(self) -> str:
        return f"Message(title={self.title!r}, reference={self.reference!r})"


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
