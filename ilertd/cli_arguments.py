"""The `ilertd` command line: its commands, their arguments and help (ilertd.cli runs them)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ilertd import __version__
from ilertd.config.values import VALUE_RULES
from ilertd.domain.timeutil import parse_instant

# Where a command's parser puts a `--config` given after the command.
CONFIG_AFTER = "config_after_command"


def _port(text: str) -> int:
    """`--port`: 0 (the system picks one) to 65535, checked as `server.port` is, not by bind()."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535, got {port}")
    return port


def _host(text: str) -> str:
    """`--host`: checked by `server.host`'s own rule. An empty one skipped it, bound every
    interface and wrote links as `http://:PORT/...`."""
    problem = VALUE_RULES[("server", "host")](text)
    if problem:
        raise argparse.ArgumentTypeError(f"{problem} (server.host's rule), got {text!r}")
    return text


def _instant(text: str) -> str:
    """`--clock-start`: an instant the manual clock can start at, checked here as the clock will."""
    try:
        parse_instant(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"must be an ISO-8601 instant, got {text!r}: {error}") from None
    return text


def command_line() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ilertd", description="Self-hosted on-call alerting daemon")
    parser.add_argument("--version", action="version", version=f"ilertd {__version__}")
    # `--config` is read before the command (`ilertd --config F serve`) or after it; SUPPRESS keeps
    # a command's parser from putting its absent option over the one given before, and its own
    # name lets `parse_command_line` see both (a command's parser overwrote the one before).
    parser.add_argument("--config", type=Path, help="TOML settings file (default: none)")
    config_parent = argparse.ArgumentParser(add_help=False)
    config_parent.add_argument("--config", type=Path, default=argparse.SUPPRESS, dest=CONFIG_AFTER,
                               help="TOML settings file (default: none)")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", parents=[config_parent], help="run the daemon")
    serve.add_argument("--host", type=_host, help="address to bind (default: server.host)")
    serve.add_argument("--port", type=_port, help="port to bind (default: server.port; 0 picks one)")
    serve.add_argument("--manual-clock", action="store_true",
                       help="time moves only through POST /api/_clock (tests; loopback only)")
    serve.add_argument("--clock-start", type=_instant, help="the manual clock's first instant (ISO-8601)")

    check = commands.add_parser("check-config", parents=[config_parent],
                                help="validate a settings file")
    # `--config FILE`, as `serve` takes it (systemd's ExecStart line), names the file as well.
    check.add_argument("file", type=Path, nargs="?", help="the settings file (or give it as --config)")

    commands.add_parser("migrate", parents=[config_parent], help="apply database migrations")

    user = commands.add_parser("user", help="manage users")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    add = user_commands.add_parser("add", parents=[config_parent], help="create a user")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="give the ADMIN role")
    add.add_argument("--email", default="")
    passwd = user_commands.add_parser("passwd", parents=[config_parent],
                                      help="set a user's web UI password, read from stdin")
    passwd.add_argument("name")
    listing = user_commands.add_parser("list", parents=[config_parent], help="list the users")
    listing.add_argument("--json", action="store_true", help="the API's user objects, as a JSON array")
    delete = user_commands.add_parser("delete", parents=[config_parent],
                                      help="delete a user; refused while they are on a policy or schedule")
    delete.add_argument("name")
    delete.add_argument("--force", action="store_true",
                        help="take them off every escalation level, schedule layer and override first")

    token = commands.add_parser("token", help="manage API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", parents=[config_parent],
                                       help="create an API token for a user; prints only the token")
    create.add_argument("name", help="the user's username")

    provision = commands.add_parser("provision", parents=[config_parent],
                                    help="create and update users, schedules, policies and sources "
                                         "from a TOML file")
    provision.add_argument("file", type=Path)
    provision.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    commands.add_parser("export", parents=[config_parent],
                        help="print users, schedules, policies and sources as a provision file")

    commands.add_parser("plugins", parents=[config_parent], help="list plugins and their state")
    commands.add_parser("status", parents=[config_parent],
                        help="the daemons serving the database (seen in the last 15 s) and which leads")
    backup = commands.add_parser("backup", parents=[config_parent],
                                 help="copy the SQLite store to a new file, while a daemon serves it or not")
    backup.add_argument("file", type=Path)
    restore = commands.add_parser("restore", parents=[config_parent],
                                  help="replace the SQLite store's content with a backup"
                                       " (no daemon may serve it)")
    restore.add_argument("file", type=Path)
    return parser


def parse_command_line(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line, with `config` the one settings file named before the command or after it;
    two different ones are a usage error (exit 2), where the one before was dropped unsaid."""
    parser = command_line()
    args = parser.parse_args(argv)
    after = vars(args).pop(CONFIG_AFTER, None)
    if after is not None:
        if args.config is not None and args.config != after:
            parser.error(f"two settings files named: --config {args.config} before the command and"
                         f" --config {after} after it; name one")
        args.config = after
    return args
