"""Who may do what: API tokens (stored as SHA-256 hashes), the callers they name, the ADMIN/USER rules."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from ilertd.errors import ApiError
from ilertd.store import models as m
from ilertd.store.people import token_owner


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "ADMIN"


# Whoever runs the `ilertd` command on the daemon's host holds its data already: full rights.
OPERATOR = Principal(0, "operator", "ADMIN")


def hash_token(token: str) -> str:
    # Tokens are 256 random bits, so a plain hash is as strong as a slow one here.
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "ilt_" + secrets.token_urlsafe(32)


def create_token(user_id: int, name: str, now: datetime) -> str:
    """A new token for the user (the caller holds the write transaction); shown once, stored hashed."""
    token = new_token()
    m.ApiToken.create(user=user_id, name=name, token_hash=hash_token(token), created_at=now)
    return token


def principal_for_token(token: str) -> Principal | None:
    row = token_owner(hash_token(token))
    return Principal(row.id, row.username, row.role) if row is not None else None


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise ApiError(403, "FORBIDDEN", "only an ADMIN may do this")


def require_self_or_admin(principal: Principal, user_id: int,
                          what: str = "change another user's profile or settings") -> None:
    """403 unless the caller is the user or an ADMIN; the message says which right is missing."""
    if principal.user_id != user_id and not principal.is_admin:
        raise ApiError(403, "FORBIDDEN", f"only an ADMIN may {what}")
