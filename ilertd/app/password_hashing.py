"""Password hashes: argon2id at the configured cost, and a login refused as slowly as one accepted."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

import argon2

from ilertd.config.settings import SecurityConfig


@dataclass(frozen=True)
class PasswordCost:
    """argon2id's parameters for the hashes made from now on (`[security] password_*`). A stored
    hash carries its own, so changing them locks nobody out; it is made again at the new cost at
    its user's next login."""

    memory_kib: int
    time_cost: int
    parallelism: int

    @classmethod
    def of(cls, security: SecurityConfig) -> PasswordCost:
        return cls(security.password_memory_kib, security.password_time_cost, security.password_parallelism)


# Checked against when the user does not exist or has no password, so a login takes as long
# either way and does not tell which names exist. A hash made once with the default cost and
# kept here: made at import it cost every `ilertd` command a tenth of a second.
DUMMY_HASH = ("$argon2id$v=19$m=65536,t=3,p=4$+7ssoL90Opb9CZSHX1t6rw"
              "$VBXJ0Sy9LtyMy/bC6qX9pNDWuQUGD8+OF7Cw7c45zRg")


# Hashes made or checked at once, in the whole process: each takes `memory_kib` (64 MiB by
# default), and forty logins at once (5 tries per name and per address allow that many, names
# and addresses apart) took 2.6 GiB and slowed alert intake to a second.
AT_ONCE = 2


class PasswordHashing:
    """Making and checking hashes at one cost; a refused login costs what an accepted one does."""

    _working = threading.BoundedSemaphore(AT_ONCE)

    def __init__(self, cost: PasswordCost | None = None) -> None:
        """`cost` None: `[security]`'s defaults."""
        self.cost = cost or PasswordCost.of(SecurityConfig())
        self._hasher = argon2.PasswordHasher(time_cost=self.cost.time_cost, memory_cost=self.cost.memory_kib,
                                             parallelism=self.cost.parallelism)
        # Another cost gets its own stand-in hash, made at the first login that needs it.
        self._dummy = None if self.outdated(DUMMY_HASH) else DUMMY_HASH

    def hash(self, password: str) -> str:
        with self._working:
            return self._hasher.hash(password)

    def dummy(self) -> str:
        if self._dummy is None:
            self._dummy = self.hash(secrets.token_urlsafe(16))
        return self._dummy

    def outdated(self, stored: str) -> bool:
        """Whether `stored` was made at another cost than the configured one."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except argon2.exceptions.InvalidHashError:
            return False

    def matches(self, stored: str | None, password: str) -> bool:
        checked = stored or self.dummy()
        try:
            with self._working:
                return self._hasher.verify(checked, password) and stored is not None
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False


def password_hashing(security: SecurityConfig) -> PasswordHashing:
    """The hashing `[security]` configures."""
    return PasswordHashing(PasswordCost.of(security))
