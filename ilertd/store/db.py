"""Opening the store by URL (SQLite in WAL mode by default) and migrating it (ilertd.store.lock
keeps a SQLite file to one daemon; on PostgreSQL ilertd.leadership picks the one that leads)."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import peewee
from playhouse.db_url import connect, parse
from playhouse.migrations import Runner

from ilertd.domain.text_input import storable
from ilertd.errors import StartError, StoreUnavailable
from ilertd.store.files import create_private
from ilertd.store.models import database_proxy

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    # NORMAL in WAL mode survives a crash of the process (the promise ilertd makes); FULL
    # would also survive a power cut at about a third of the commit rate.
    "synchronous": "normal",
    "foreign_keys": 1,
    "busy_timeout": 10000,
    "cache_size": -16000,
}
# Any number: the PostgreSQL advisory lock whose holder leads (runs actors, timers and channels).
PG_LOCK_ID = 0x11E27D
# Another: held while a starting node migrates and bootstraps, so two nodes never do it at once.
PG_MIGRATION_LOCK_ID = 0x11E27E


# SQLite's answers that say the store, not the request, failed: a full disk, a read or write the
# system refused, a lock not given up within busy_timeout, a file that cannot be opened or written.
UNAVAILABLE_SQLITE_ERRORS = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_BUSY", "SQLITE_LOCKED",
                             "SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_NOMEM")


# psycopg2 refuses a parameter holding U+0000 while binding it, before anything is sent: the
# transaction is intact, and the statement can run again with the parameter storable.
NUL_REFUSED = "cannot contain NUL"


def storable_params(params: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(storable(value) if isinstance(value, str) else value for value in params)


def storable_cursor() -> type:
    """The cursor of every PostgreSQL connection (peewee's queries and the writer's alike): text
    that still holds U+0000 where it reaches the store (what comes in is made storable where it
    enters, ilertd.domain.text_input) is bound with U+FFFD in its place. A key being looked up
    then matches nothing stored, and a write is kept rather than lost, where PostgreSQL refused
    both (a 500, or an event a tool re-sent for ever)."""
    import psycopg2.extensions  # here: the PostgreSQL driver is an optional dependency

    class StorableCursor(psycopg2.extensions.cursor):
        def execute(self, query: Any, vars: Any = None) -> Any:
            try:
                return super().execute(query, vars)
            except ValueError as error:
                if not isinstance(vars, list | tuple) or NUL_REFUSED not in str(error):
                    raise
                return super().execute(query, storable_params(vars))

        def executemany(self, query: Any, vars_list: Any) -> Any:
            # psycopg2's own runs one execute per row too; through ours, a refused row is bound
            # again alone (the rows before it ran already, in the same transaction).
            for params in vars_list:
                self.execute(query, params)

    return StorableCursor


def data_dir(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    state = env.get("STATE_DIRECTORY")
    if state:
        # systemd may pass several directories separated by colons; the first is ours.
        return Path(state.split(":")[0])
    return Path.cwd() / "ilertd-data"


def default_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'ilertd.db'}"


def held(query: Any, exclusive: bool = False) -> Any:
    """`query`, reading rows that a write in progress checks, locked until its transaction ends.

    A check and the write it allows must see the same rows. SQLite's write transaction holds the
    whole store, so there it is the query as it is. PostgreSQL's READ COMMITTED lets another
    transaction delete a row this one has read as existing, or add a reference to a row this one
    has read as unreferenced: there, inside a transaction, the rows are read FOR SHARE (a row
    another write refers to: it cannot be deleted meanwhile) or, `exclusive`, FOR UPDATE (a row
    about to be deleted: a write that refers to it waits for the outcome, then sees it gone). A
    transaction takes these locks before it writes anything, so two writers never wait on each
    other in a circle."""
    db = query.model._meta.database
    if db.for_update and db.in_transaction():
        return query.for_update("FOR UPDATE" if exclusive else "FOR SHARE")
    return query


def row_held(model: Any, row_id: int, exclusive: bool = False) -> bool:
    """Whether the row `row_id` of `model` exists, held (`held`) for the caller's transaction:
    shared for a row its write will name, `exclusive` for one it will delete."""
    return held(model.select(model.id).where(model.id == row_id), exclusive).first() is not None


def is_sqlite(db: peewee.Database) -> bool:
    return isinstance(db, peewee.SqliteDatabase)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (`sqlite:///PATH`); None for another store or an in-memory one."""
    if not url.startswith("sqlite:") or "///" not in url:
        return None
    path = url.split("///", 1)[1]
    return Path(path) if path and path != ":memory:" else None


class ReconnectingPostgresqlDatabase(peewee.PostgresqlDatabase):
    """A thread's connection the server ended (a database restart, a backend terminated, the
    network lost) is opened again on its next use. Each long-lived thread (the group commit, the
    readers, the relay) connects once: without this a node kept its dead connection for good,
    every write of a promoted leader answered 503 while it held the lead and /healthz said ok, and
    paging stopped for every node. The statement that found the connection dead fails (503,
    retry); the next one runs on a new connection."""

    def _drop_if_dead(self) -> None:
        conn = self._state.conn
        if conn is not None and getattr(conn, "closed", 0):
            # psycopg2 marks a connection it found broken closed; its transaction is gone with it.
            with contextlib.suppress(Exception):
                conn.close()
            self._state.reset()

    def connection(self) -> Any:
        self._drop_if_dead()
        return super().connection()

    def cursor(self, named_cursor: Any = None) -> Any:
        self._drop_if_dead()
        return super().cursor(named_cursor)


def open_database(url: str) -> peewee.Database:
    """Connect by URL and bind the models to it; SQLite files get WAL and a busy timeout."""
    if url.startswith("sqlite:"):
        path = sqlite_file(url)
        if path is not None:
            # 0600 before SQLite opens it: the WAL and shared-memory files take the same mode.
            create_private(path)
            # By the path the lock and the mode were given, not by peewee's reading of the URL: it
            # ends the path at a "#" or "?", and the store was then another file, outside the
            # data directory, that neither the lock nor the 0600 covered.
            db = peewee.SqliteDatabase(str(path), pragmas=SQLITE_PRAGMAS, check_same_thread=False)
        else:
            db = connect(url, pragmas=SQLITE_PRAGMAS, check_same_thread=False)
    elif url.split(":", 1)[0] in ("postgres", "postgresql"):
        # Percent-decoded as libpq decodes a URI: a password holding "@", ":", "/" or "%" is
        # written encoded (%40, %3A, %2F, %25), and would otherwise reach the server as written.
        db = ReconnectingPostgresqlDatabase(**parse(url, unquote_password=True, unquote_user=True),
                                            cursor_factory=storable_cursor())
    else:
        db = connect(url)
    database_proxy.initialize(db)
    return db


class StoreFromNewerRelease(StartError):
    """The store was migrated by a newer ilertd: this one does not know its schema."""


def migrate(db: peewee.Database) -> list[str]:
    """Apply every numbered migration not yet applied; return the names applied now. A store that
    a newer release migrated (a migration applied that this one has no file of) is refused
    before anything runs: served, its first event failed on a column this code does not write."""
    runner = Runner(db, str(MIGRATIONS_DIR))
    unknown = sorted(migration.name for migration in runner.status() if migration.path is None)
    if unknown:
        raise StoreFromNewerRelease(
            f"the database was migrated by a newer ilertd (migrations {', '.join(unknown)} are unknown"
            " to this one); run that release or a later one, or restore a backup taken before the upgrade")
    return list(runner.up())


def pending_migrations(db: peewee.Database) -> list[str]:
    """The migrations not yet applied to the store, in order."""
    return [migration.name for migration in Runner(db, str(MIGRATIONS_DIR)).status()
            if migration.path is not None and not migration.applied]


@contextmanager
def write_transaction(db: peewee.Database) -> Iterator[None]:
    """A transaction that takes the write lock at its start, so writers queue instead of failing.
    One the store could not take (`store_failed`) raises `StoreUnavailable` (a 503 saying retry):
    it changed nothing."""
    try:
        with db.atomic("IMMEDIATE") if is_sqlite(db) else db.atomic():
            yield
    except Exception as raised:
        error = transaction_error(raised)
        if store_failed(error):
            raise StoreUnavailable() from error
        if error is not raised:
            raise error from None
        raise


def transaction_error(error: BaseException) -> BaseException:
    """Why a transaction failed. A COMMIT that SQLite rolled back itself (the disk full while the
    log was written, an I/O error) makes peewee's ROLLBACK after it fail with "no transaction is
    active", and that error, raised last, hid the reason from the log and from the writer's caller.
    A `StoreUnavailable` is answered by its reason."""
    if isinstance(error, StoreUnavailable) and error.__cause__ is not None:
        error = error.__cause__
    while "no transaction is active" in str(error) and error.__context__ is not None:
        error = error.__context__
    return error


def store_failed(error: BaseException) -> bool:
    """Whether `error` (or what it wraps) says the store failed rather than the statement: then the
    same request may succeed later. On PostgreSQL that is psycopg2's OperationalError (the server
    gone, out of disk space, shutting down); on SQLite the codes of UNAVAILABLE_SQLITE_ERRORS."""
    for seen in _causes(error):
        if isinstance(seen, sqlite3.Error):
            return _sqlite_error_name(seen).startswith(UNAVAILABLE_SQLITE_ERRORS)
        if any(cls.__name__ == "OperationalError" and cls.__module__.startswith("psycopg2")
               for cls in type(seen).__mro__):
            return True
    return False


def store_damaged(error: BaseException) -> bool:
    """Whether `error` (or what it wraps) says the SQLite file is damaged or is no database at all:
    nothing but a backup mends that."""
    found = next((seen for seen in _causes(error) if isinstance(seen, sqlite3.Error)), None)
    return found is not None and _sqlite_error_name(found) in ("SQLITE_CORRUPT", "SQLITE_NOTADB")


def _causes(error: BaseException) -> Iterator[BaseException]:
    """`error`, then what it was raised from or while handling, nearest first (peewee raises its
    own error while handling the driver's)."""
    seen: BaseException | None = error
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def _sqlite_error_name(error: sqlite3.Error) -> str:
    return getattr(error, "sqlite_errorname", "") or ""


def ping(db: peewee.Database) -> None:
    """Ask the store the simplest question: raises when it cannot answer (the health check)."""
    db.execute_sql("SELECT 1").fetchone()


@contextmanager
def migration_lock(db: peewee.Database) -> Iterator[None]:
    """On PostgreSQL, one starting node at a time migrates and bootstraps; SQLite is locked whole."""
    if is_sqlite(db):
        yield
        return
    db.execute_sql("SELECT pg_advisory_lock(%s)", (PG_MIGRATION_LOCK_ID,))
    try:
        yield
    finally:
        db.execute_sql("SELECT pg_advisory_unlock(%s)", (PG_MIGRATION_LOCK_ID,))


def close_quietly(connection: Any, what: str) -> None:
    """Close a raw driver connection kept beside the pool (the lock's, the listener's) that may be
    broken already: a failure to close it is of no use to anyone but a debugger."""
    try:
        connection.close()
    except Exception:
        logger.debug("%s: closing the connection failed", what, exc_info=True)


@contextmanager
def connection(db: peewee.Database) -> Iterator[None]:
    """A connection for a short-lived thread that must not keep one open after it is done."""
    db.connect(reuse_if_open=True)
    try:
        yield
    finally:
        if not db.is_closed():
            db.close()
