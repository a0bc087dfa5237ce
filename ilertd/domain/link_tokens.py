"""Signed tokens: action links, e-mail reply keys, web UI sessions, CSRF tokens and notices."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, cast

from ilertd.domain.replies import Action

_LETTER: dict[str, str] = {"accept": "a", "resolve": "r", "escalate": "e"}
_ACTION = {letter: action for action, letter in _LETTER.items()}
# The page (its outbox row) is optional: links sent before it was signed in still act.
_LINK = re.compile(r"(\d{1,18})\.(\d{1,18})\.([are])\.([A-Z][A-Z0-9_]{0,7})\.(\d{1,12})(?:\.p(\d{1,18}))?"
                   r"\.([A-Za-z0-9_-]{22})")
# A reply key rides in the subject, where a reply keeps it: `[ilertd-reply 12.7.SIGNATURE]`.
_REPLY_KEY = re.compile(r"\[ilertd-reply (\d{1,18})\.(\d{1,18})\.([A-Za-z0-9_-]{16})\]")

LinkProblem = Literal["invalid", "expired"]


class LinkError(ValueError):
    """A link token that does not act: `problem` is `invalid` (tampered, cut, another key's) or
    `expired`."""

    def __init__(self, problem: LinkProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True)
class LinkClaim:
    """What a valid link token allows: `user_id` may take `action` on `incident_id` until `expires_at`;
    the link came in a page on `channel` (the incident log says so), the outbox row `page_id` (None:
    a link signed before links named their page)."""

    incident_id: int
    user_id: int
    action: Action
    channel: str
    expires_at: datetime
    page_id: int | None = None


@functools.lru_cache(maxsize=8)
def _keyed(secret: str) -> hmac.HMAC:
    """The HMAC state after the key: a copy of it signs a token in a third of the time."""
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


def _signature(secret: str, purpose: str, payload: str, length: int) -> str:
    signer = _keyed(secret).copy()
    signer.update(f"ilertd-{purpose}:{payload}".encode())
    digest = signer.digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:length]


def sign_link(secret: str, incident_id: int, user_id: int, action: Action, channel: str,
              expires_at: datetime, page_id: int | None = None) -> str:
    """A URL-safe token for one action of one user on one incident, sent on `channel` (a contact
    method) in the page `page_id` (its outbox row: an escalation answers that page, not a later
    one), refused after `expires_at`."""
    payload = f"{incident_id}.{user_id}.{_LETTER[action]}.{channel}.{int(expires_at.timestamp())}"
    if page_id is not None:
        payload += f".p{page_id}"
    return f"{payload}.{_signature(secret, 'link', payload, 22)}"


def read_link(secret: str, token: str, now: datetime) -> LinkClaim:
    """The claim of a token signed with `secret`; LinkError if it is not one, or has expired."""
    match = _LINK.fullmatch(token)
    if match is None:
        raise LinkError("invalid", "this link is not a valid ilertd link")
    payload = token.rpartition(".")[0]
    if not hmac.compare_digest(match[7], _signature(secret, "link", payload, 22)):
        raise LinkError("invalid", "this link is not a valid ilertd link")
    expires_at = datetime.fromtimestamp(int(match[5]), UTC)
    if now >= expires_at:
        raise LinkError("expired", "this link has expired: answer from the incident's page instead")
    return LinkClaim(int(match[1]), int(match[2]), cast(Action, _ACTION[match[3]]), match[4], expires_at,
                     int(match[6]) if match[6] else None)


def link_expiry(now: datetime, ttl_seconds: int) -> datetime:
    return now + timedelta(seconds=ttl_seconds)


def reply_key(secret: str, incident_id: int, user_id: int) -> str:
    """The subject's mark binding an e-mailed reply to the incident and the user paged."""
    payload = f"{incident_id}.{user_id}"
    return f"[ilertd-reply {payload}.{_signature(secret, 'reply', payload, 16)}]"


def read_reply_key(secret: str, subject: str) -> tuple[int, int] | None:
    """(incident id, user id) of the valid reply key in `subject`, or None (none, or forged). The
    last valid one: ilertd puts its key at the end, and a summary may quote another page's subject
    (a forwarded page that opened an incident), whose key came first and acted on that page."""
    for match in reversed(list(_REPLY_KEY.finditer(" ".join(subject.split())))):
        payload = f"{match[1]}.{match[2]}"
        if hmac.compare_digest(match[3], _signature(secret, "reply", payload, 16)):
            return int(match[1]), int(match[2])
    return None


_SESSION = re.compile(r"(\d{1,18})\.(\d{1,12})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{32})")


def password_mark(secret: str, password_hash: str) -> str:
    """What a session knows of its user's password: a new password ends every older session."""
    return _signature(secret, "password", password_hash, 16)


def sign_session(secret: str, user_id: int, expires_at: datetime, mark: str) -> str:
    """A web UI session cookie's value: the user, until when, and their password's mark."""
    payload = f"{user_id}.{int(expires_at.timestamp())}.{mark}"
    return f"{payload}.{_signature(secret, 'session', payload, 32)}"


def read_session(secret: str, value: str, now: datetime) -> tuple[int, str] | None:
    """(user id, password mark) of a valid, unexpired session cookie, else None."""
    match = _SESSION.fullmatch(value)
    if match is None:
        return None
    payload = value.rpartition(".")[0]
    if not hmac.compare_digest(match[4], _signature(secret, "session", payload, 32)):
        return None
    if now >= datetime.fromtimestamp(int(match[2]), UTC):
        return None
    return int(match[1]), match[3]


def csrf_token(secret: str, browser_key: str) -> str:
    """The token every UI form carries, bound to the browser's own random cookie (double submit):
    another site can make the browser send the cookie, but cannot read it to forge the field."""
    return _signature(secret, "csrf", browser_key, 32)


def csrf_matches(secret: str, browser_key: str, given: str) -> bool:
    return bool(browser_key) and hmac.compare_digest(given.encode(), csrf_token(secret, browser_key).encode())


def notice_signature(secret: str, code: str, values: tuple[str, ...]) -> str:
    """Signs the names and times a web UI notice shows beside its code (see ilertd.web.ui.notices),
    so that only a notice the UI wrote shows them."""
    return _signature(secret, "notice", json.dumps([code, *values]), 22)
