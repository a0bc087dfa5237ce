"""Readying the store at start: its migrations and, on an empty database, the `admin` user with a
token and the `default` API alert source, whose secrets are told once."""

from __future__ import annotations

import logging
import os
import secrets
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

import peewee

from ilertd.app.auth import create_token
from ilertd.app.password_hashing import PasswordHashing, password_hashing
from ilertd.app.sources import new_integration_key
from ilertd.config import Config
from ilertd.store import models as m
from ilertd.store.db import migrate, migration_lock, write_transaction
from ilertd.store.files import writable, write_private
from ilertd.store.people import any_user
from ilertd.store.settings import setting

logger = logging.getLogger("ilertd")

SECRET_KEY_SETTING = "secret_key"


@dataclass(frozen=True)
class FirstRun:
    admin_token: str
    integration_key: str
    admin_password: str


def bootstrap(db: peewee.Database, now: datetime, passwords: PasswordHashing) -> FirstRun | None:
    """Create the first admin and source if there are no users yet; None when not a first start."""
    with write_transaction(db):
        if any_user():
            return None
        password = secrets.token_urlsafe(12)
        admin = m.User.create(username="admin", role="ADMIN", created_at=now,
                              password_hash=passwords.hash(password))
        token = create_token(admin.id, "first-run", now)
        source = m.AlertSource.create(
            name="default", integration_type="API", integration_key=new_integration_key(),
            created_at=now,
        )
    return FirstRun(token, source.integration_key, password)


def first_start_message(first: FirstRun, path: Path, under_journal: bool) -> str:
    """What the first start prints: the secrets, or (where stdout is kept, as in the journal)
    only where they are."""
    if under_journal:
        return (f"ilertd: first start: the admin API token, the admin's web UI password and the default "
                f"integration key are in {path}, readable only by this user")
    return ("ilertd: first start.\n"
            f"  admin API token:         {first.admin_token}\n"
            f"  admin password (web UI): {first.admin_password}\n"
            f"  default integration key: {first.integration_key}\n"
            f"  (also in {path}, readable only by this user)")


def write_first_run(directory: Path, first: FirstRun, public_url: str) -> Path:
    """Keep the one-time secrets where only the daemon's user can read them (mode 0600)."""
    path = directory / "first-run.txt"
    text = (
        f"admin token: {first.admin_token}\n"
        f"admin password: {first.admin_password}\n"
        f"default integration key: {first.integration_key}\n"
        f"events: POST {public_url}/api/events\n"
    )
    # At a start: a file system that refuses it (full) is a StartError naming it, not a traceback.
    with writable(path):
        write_private(path, text)
    return path


def secret_key(db: peewee.Database, configured: str) -> str:
    """The link-signing key: the configured one, else one generated once and kept in the store."""
    if configured:
        return configured
    with write_transaction(db):
        value = setting(SECRET_KEY_SETTING)
        if value is None:
            value = m.Setting.create(key=SECRET_KEY_SETTING, value=secrets.token_urlsafe(48)).value
    return value


def prepare_store(db: peewee.Database, directory: Path, config: Config, now: datetime,
                  out: TextIO | None = None) -> None:
    """Migrate the store; on a first start create the admin and the default source, and print
    their secrets once to `out` (stdout by default; they are kept in `first-run.txt` too)."""
    with migration_lock(db):
        applied = migrate(db)
        if applied:
            logger.info("store: applied migrations %s", ", ".join(applied))
        first = bootstrap(db, now, password_hashing(config.security))
        secret_key(db, config.security.secret_key)
    if first is not None:
        path = write_first_run(directory, first, config.public_url)
        # Under systemd stdout is the journal, which keeps every line: the secrets stay in the file.
        journal = bool(os.environ.get("JOURNAL_STREAM"))
        print(first_start_message(first, path, under_journal=journal), file=out or sys.stdout, flush=True)
