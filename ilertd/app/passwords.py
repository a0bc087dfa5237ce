"""Web UI passwords: argon2id hashes, setting one, and checking a login."""

from __future__ import annotations

from ilertd.app.auth import Principal
from ilertd.app.context import Context
from ilertd.domain.wording import quoted
from ilertd.errors import ApiError, invalid
from ilertd.store import models as m
from ilertd.store.db import write_transaction
from ilertd.store.people import user_named

MIN_LENGTH = 8
MAX_LENGTH = 1024


def check_password(password: str) -> None:
    """400 INVALID_INPUT (field `password`) unless it is 8 to 1024 characters of UTF-8 text."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise invalid("password", f"a password must be {MIN_LENGTH} to {MAX_LENGTH} characters long")
    try:
        password.encode()
    except UnicodeEncodeError:
        # Bytes that are not UTF-8 (a Latin-1 "ä" on stdin) reach here as lone surrogates, which
        # argon2 cannot hash: a traceback, where the user can fix it by typing it as UTF-8.
        raise invalid("password", "a password must be UTF-8 text: it held bytes of another"
                                  " encoding (Latin-1?)") from None


class Passwords:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def set(self, username: str, password: str) -> None:
        """Set a user's password (the CLI's `user passwd`); 404 if there is no such user."""
        check_password(password)
        row = user_named(username)
        if row is None:
            raise ApiError(404, "NOT_FOUND", f"no user named {quoted(username)}")
        self._store_hash(row.id, password)

    def login(self, username: str, password: str) -> Principal | None:
        """The user these credentials name, or None (unknown user, no password set, wrong one)."""
        row = user_named(username.strip())
        stored = row.password_hash if row is not None else None
        # Checked (against the stand-in hash) before the user is: an unknown name was refused in
        # 3 ms and a known one in 200, telling which names exist.
        if not self.ctx.passwords.matches(stored, password) or row is None:
            return None
        if stored is not None and self.ctx.passwords.outdated(stored):
            # The password is known now: it is hashed again at the configured cost, once.
            self._store_hash(row.id, password, replacing=stored)
        return Principal(row.id, row.username, row.role)

    def _store_hash(self, user_id: int, password: str, replacing: str | None = None) -> None:
        """Store the hash of `password` (with `replacing`: only if the stored one is still that)."""
        # Hashed before the transaction: the store's write lock is not held while argon2 works.
        hashed = self.ctx.passwords.hash(password)
        which = m.User.id == user_id
        if replacing is not None:
            which &= m.User.password_hash == replacing
        with write_transaction(self.ctx.db):
            m.User.update(password_hash=hashed).where(which).execute()
