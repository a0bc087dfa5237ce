"""Web UI passwords: argon2id hashes, setting one, and checking a login."""

from __future__ import annotations

import argon2

from ilertd.app.auth import Principal
from ilertd.app.context import Context
from ilertd.errors import ApiError, invalid
from ilertd.store import models as m
from ilertd.store.db import write_transaction
from ilertd.store.people import user_named

MIN_LENGTH = 8
MAX_LENGTH = 1024
_HASHER = argon2.PasswordHasher()


# Checked against when the user does not exist or has no password, so a login takes as long
# either way and does not tell which names exist. A hash made once, with the hasher's parameters,
# and kept here: made at import it cost every `ilertd` command a tenth of a second.
DUMMY_HASH = ("$argon2id$v=19$m=65536,t=3,p=4$+7ssoL90Opb9CZSHX1t6rw"
              "$VBXJ0Sy9LtyMy/bC6qX9pNDWuQUGD8+OF7Cw7c45zRg")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def check_password(password: str) -> None:
    """400 INVALID_INPUT (field `password`) unless it is 8 to 1024 characters."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise invalid("password", f"a password must be {MIN_LENGTH} to {MAX_LENGTH} characters long")


def password_matches(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or DUMMY_HASH, password) and stored is not None
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


class Passwords:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def set(self, username: str, password: str) -> None:
        """Set a user's password (the CLI's `user passwd`); 404 if there is no such user."""
        check_password(password)
        row = user_named(username)
        if row is None:
            raise ApiError(404, "NOT_FOUND", f"no user named {username!r}")
        with write_transaction(self.ctx.db):
            m.User.update(password_hash=hash_password(password)).where(m.User.id == row.id).execute()

    def login(self, username: str, password: str) -> Principal | None:
        """The user these credentials name, or None (unknown user, no password set, wrong one)."""
        row = user_named(username.strip())
        stored = row.password_hash if row is not None else None
        if row is None or not password_matches(stored, password):
            return None
        return Principal(row.id, row.username, row.role)
