"""The `ilertd` command: serve, check-config, migrate, user add|list|delete|passwd, token create,
provision, export, plugins, status, backup, restore."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import peewee

from ilertd.actors.clock import RealClock
from ilertd.app import bootstrap
from ilertd.app.application import Application
from ilertd.app.auth import OPERATOR
from ilertd.app.context import Context
from ilertd.app.export import ExportError, export_document
from ilertd.app.offboarding import DutyError, delete_user
from ilertd.app.password_hashing import password_hashing
from ilertd.app.provision import ProvisionError, Provisioning
from ilertd.channels.sender_numbers import reply_numbers
from ilertd.cli_arguments import parse_command_line
from ilertd.config import Config, ConfigError, check_config, credential_files, load_config, with_credentials
from ilertd.domain.provision_document import DocumentError, read_document
from ilertd.domain.timeutil import format_instant
from ilertd.domain.wording import quoted
from ilertd.errors import ApiError, StartError, StoreUnavailable
from ilertd.logs import configure_logging
from ilertd.node_status import leader_line
from ilertd.store.backup import BackupError, backup_to, restore_from
from ilertd.store.db import (
    PG_LOCK_ID,
    data_dir,
    migrate,
    migration_lock,
    open_database,
    pending_migrations,
    sqlite_file,
    store_damaged,
    transaction_error,
)
from ilertd.store.lock import StoreLockedError, unserved
from ilertd.store.nodes import lock_holder, node_row, nodes_seen
from ilertd.store.people import all_users, user_named

logger = logging.getLogger("ilertd")
# A node beats every few seconds (ilertd.leadership): silent this long, it is taken to be down.
NODE_UP_WITHIN = timedelta(seconds=15)


class CommandError(RuntimeError):
    """A command failed in a way the user can fix; the message says how."""


def _config(args: argparse.Namespace) -> Config:
    given = os.environ.get("CREDENTIALS_DIRECTORY")
    credentials = Path(given) if given else None
    environ = with_credentials(os.environ, credentials)
    return load_config(getattr(args, "config", None), environ, credential_files(os.environ, credentials))


def _open_store(config: Config, first_start: bool = False) -> peewee.Database:
    """The migrated store; with `first_start`, a store no daemon has started yet gets what a first
    start gives it (the admin with a token and a password, the default source, first-run.txt;
    the secrets printed on stderr, stdout being the command's own). A command that adds users
    asks for it: the first `serve` gives nothing to a store that has users already, which then
    had no ADMIN, no token and no password to begin with."""
    url = config.database.effective_url(data_dir())
    db = open_database(url)
    # A store with migrations to apply and a daemon serving it: an older release serves it (a
    # daemon migrates at its start), and would go on writing the old schema after they ran.
    pending = pending_migrations(db)
    db.close()  # the next query opens it again; open, its WAL stood for another process's
    with unserved(db, url) if pending else contextlib.nullcontext():
        if first_start:
            bootstrap.prepare_store(db, data_dir(), config, RealClock().now(), out=sys.stderr)
        else:
            migrate(db)
    return db


def _application(config: Config, plugins: bool = False, first_start: bool = False) -> Application:
    """The application layer over the configured store, for a command run beside (or without) a daemon;
    with `plugins`, the contact methods and alert source types of the installed plugins are known
    to it, as they are to the daemon's; `first_start` as for `_open_store`."""
    context = Context(db=_open_store(config, first_start), now=RealClock().now,
                      passwords=password_hashing(config.security), reply_numbers=reply_numbers(config),
                      mail_domain=config.smtp_in.own_domain)
    if plugins:
        from ilertd.plugins.manager import PluginManager

        with _quiet_plugin_loading():
            manager = PluginManager(config)
            manager.load_entry_points()
        context.methods = lambda reminders: manager.methods(reminders=reminders)
        context.laid_out = manager.laid_out
        context.integration_types = lambda: {i.integration_type for i in manager.integrations.values()}
    return Application(context)


def cmd_serve(args: argparse.Namespace) -> int:
    # Imported here: the daemon (its web layer, channels, actors) is most of an import of this
    # module, and no other command needs it.
    from ilertd.daemon import Daemon, ServeOptions

    config = _config(args)
    configure_logging(config.log.format, config.log.level)
    options = ServeOptions(args.host, args.port, args.manual_clock, args.clock_start)
    return Daemon(config, options).run()


def cmd_check_config(args: argparse.Namespace) -> int:
    from ilertd.plugins.manager import installed_options

    # `[plugins.NAME]` sections are checked against the keys the installed plugins declare.
    with _quiet_plugin_loading():
        options = installed_options()
    given = getattr(args, "config", None)
    if args.file is None and given is None:
        print("ilertd check-config: name the settings file: ilertd check-config FILE", file=sys.stderr)
        return 2
    if args.file is not None and given is not None and args.file != given:
        print(f"ilertd check-config: two files named ({args.file} and --config {given}): name one",
              file=sys.stderr)
        return 2
    path = args.file if args.file is not None else given
    problems = check_config(path, plugins=options)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 2
    print(f"{path}: valid")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    url = _config(args).database.effective_url(data_dir())
    db = open_database(url)
    with unserved(db, url), migration_lock(db):
        applied = migrate(db)
    print("applied: " + ", ".join(applied) if applied else "the database is up to date")
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    body = {"username": args.name, "role": "ADMIN" if args.admin else "USER"}
    if args.email:
        body["email"] = args.email
    try:
        user = _application(_config(args), first_start=True).people.create_user(OPERATOR, body)
    except ApiError as error:
        if error.code == "ALREADY_EXISTS":
            holder = user_named(args.name)
            also = "" if holder is None or holder.username == args.name else f" as {quoted(holder.username)}"
            raise CommandError(f"user {quoted(args.name)} already exists{also}") from None
        raise
    print(user.id)
    return 0


def read_password(stdin: IO[str] = sys.stdin) -> str:
    """The new password: typed twice at a terminal (not echoed), else the first line of stdin."""
    if stdin.isatty():
        first = getpass.getpass("New password: ")
        if getpass.getpass("Repeat it: ") != first:
            raise CommandError("the two passwords differ; nothing changed")
        return first
    try:
        return stdin.readline().rstrip("\r\n")
    except UnicodeDecodeError:
        raise CommandError("the password must be UTF-8 text: stdin held bytes of another encoding;"
                           " nothing changed") from None


def cmd_user_passwd(args: argparse.Namespace) -> int:
    application = _application(_config(args))
    if user_named(args.name) is None:
        raise CommandError(f"no user is named {quoted(args.name)}")
    application.passwords.set(args.name, read_password())
    print(f"password set for {args.name}", file=sys.stderr)
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    _open_store(_config(args))
    users = all_users()
    if args.json:
        from ilertd.web.views import user_json  # the API's shape of a user; the web layer is heavy

        print(json.dumps([user_json(u) for u in users], indent=2))
        return 0
    rows = [("ID", "USERNAME", "ROLE", "EMAIL")] + [(str(u.id), u.username, u.role, u.email) for u in users]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[3]]).rstrip())
    return 0


def cmd_user_delete(args: argparse.Namespace) -> int:
    try:
        places = delete_user(_application(_config(args)), args.name, args.force)
    except DutyError as error:
        raise CommandError(str(error)) from None
    for place in places:
        print(f"taken off {place}", file=sys.stderr)
    print(f"deleted user {args.name}", file=sys.stderr)
    return 0


def cmd_user(args: argparse.Namespace) -> int:
    return {"add": cmd_user_add, "passwd": cmd_user_passwd, "list": cmd_user_list,
            "delete": cmd_user_delete}[args.user_command](args)


def cmd_provision(args: argparse.Namespace) -> int:
    """Exit 0 applied (or planned, with --dry-run); 2 with `FILE:LINE: message` and nothing changed."""
    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"cannot read {args.file}: {error}") from None
    try:
        document = read_document(text)
        # A document naming an ADMIN makes the store's people itself: a first start would add an
        # `admin` and a `default` source it never named (export, provision, export differed).
        names_admin = any(str(entry.body.get("role", "")).upper() == "ADMIN"
                          for entry in document.of_kind("users"))
        application = _application(_config(args), plugins=True,
                                   first_start=not args.dry_run and not names_admin)
        outcome = Provisioning(application).apply(document, args.dry_run)
    except (DocumentError, ProvisionError) as error:
        print(f"{args.file}:{error.line}: {error.message}", file=sys.stderr)
        return 2
    for line in outcome.lines():
        print(line)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    try:
        _application(_config(args))  # opens and migrates the store the export reads
        text = export_document()
    except ExportError as error:
        raise CommandError(f"cannot export: {error}") from None
    sys.stdout.write(text)
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    application = _application(_config(args))
    user = user_named(args.name)
    if user is None:
        raise CommandError(f"no user is named {quoted(args.name)}")
    token = application.people.create_token(OPERATOR, user.id, {"name": "cli"})
    print(token)
    return 0


@contextmanager
def _quiet_plugin_loading() -> Iterator[None]:
    """The plugin manager logs each broken plugin with its traceback, for the daemon's log; a
    command prints what it found instead."""
    plugins_logger = logging.getLogger("ilertd.plugins")
    level = plugins_logger.level
    plugins_logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        plugins_logger.setLevel(level)


def cmd_plugins(args: argparse.Namespace) -> int:
    """Each plugin: name, version, origin, status, and what it provides (or what went wrong)."""
    from ilertd.plugins.manager import PluginManager

    with _quiet_plugin_loading():
        plugins = PluginManager(_config(args))
        plugins.load_entry_points()
    for status in plugins.statuses:
        version = f" {status.version}" if status.version else ""
        print(f"{status.name}{version} ({status.origin}): {status.state}")
        if status.error:
            print(f"    error: {status.error}")
        for what, items in (("integrations", status.integrations), ("channels", status.channels),
                            ("routes", status.routes), ("ignored", status.ignored)):
            if items:
                print(f"    {what}: {', '.join(items)}")
    for problem in plugins.unknown_settings():
        print(f"warning: {problem}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Each node seen in the last NODE_UP_WITHIN, leader first; 0 if one leads and acts, else 1
    (none leads, or the lock's holder has stalled)."""
    _open_store(_config(args))
    now = datetime.now(UTC)
    nodes = nodes_seen(now, NODE_UP_WITHIN)
    holder = lock_holder(PG_LOCK_ID)
    if not nodes and holder is None:
        print(f"no ilertd is serving this database (none seen in the last {NODE_UP_WITHIN.seconds} s)")
        return 1
    width = max((len(node.name) for node in nodes), default=4)
    print(f"{'NODE':<{width}}  ROLE      STARTED                   LAST SEEN")
    for node in nodes:
        seen = max((now - node.last_seen).total_seconds(), 0.0)
        started = format_instant(node.started_at)
        print(f"{node.name:<{width}}  {node.role:<8}  {started:<24}  {seen:.0f} s ago")
    line, acting = leader_line(nodes, holder, node_row(holder.node) if holder else None, now)
    print(line)
    return 0 if acting else 1


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def cmd_backup(args: argparse.Namespace) -> int:
    url = _config(args).database.effective_url(data_dir())
    store = sqlite_file(url)
    if store is not None and not store.exists():
        # Opening it would make an empty store there: a mistyped data directory.
        raise CommandError(f"cannot back up: there is no store at {store}")
    db = open_database(url)
    try:
        size = backup_to(db, args.file)
    except BackupError as error:
        raise CommandError(f"cannot back up: {error}") from None
    print(f"backed up {_mib(size)} to {args.file}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    url = _config(args).database.effective_url(data_dir())
    db = open_database(url)
    try:
        with unserved(db, url):
            # On PostgreSQL there is no file: restore_from says what to use instead.
            store = sqlite_file(url) or Path()
            restored = restore_from(db, args.file, store, datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
            applied = migrate(db)
    except BackupError as error:
        raise CommandError(f"cannot restore: {error}") from None
    if restored.damaged_moved_to is not None:
        print(f"the store SQLite could not open was moved to {restored.damaged_moved_to}")
    migrated = f"; migrated: {', '.join(applied)}" if applied else ""
    print(f"restored {_mib(restored.size)} from {args.file}{migrated}")
    return 0


COMMANDS = {
    "serve": cmd_serve,
    "check-config": cmd_check_config,
    "migrate": cmd_migrate,
    "user": cmd_user,
    "token": cmd_token_create,
    "provision": cmd_provision,
    "export": cmd_export,
    "plugins": cmd_plugins,
    "status": cmd_status,
    "backup": cmd_backup,
    "restore": cmd_restore,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_command_line(argv)
    try:
        return COMMANDS[args.command](args)
    except (ConfigError, CommandError, StartError, StoreLockedError) as error:
        print(f"ilertd: {error}", file=sys.stderr)
        return 1
    except peewee.DatabaseError as error:
        # Its reason: a failed COMMIT (a full disk) made the ROLLBACK after it fail too, and that
        # error, "no transaction is active", was the one raised.
        print(f"ilertd: database error: {transaction_error(error)}", file=sys.stderr)
        if store_damaged(error):
            print("ilertd: the store's file is damaged; stop ilertd and put a backup back with"
                  " `ilertd restore FILE` (README, Backups)", file=sys.stderr)
        return 1
    except Exception as error:
        if isinstance(error, ApiError):
            # The store's own words (its disk full, the server gone) matter to whoever runs this.
            cause = error.__cause__ if isinstance(error, StoreUnavailable) else None
            reason = f" ({cause})" if cause else ""
            print(f"ilertd: {error.message}{reason}", file=sys.stderr)
            return 1
        raise
