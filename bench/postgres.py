"""PostgreSQL for the benchmark: the server named by ILERTD_BENCH_POSTGRES_URL, else a throw-away
cluster in a scratch directory; and a fresh database on it for one run, dropped after.

The throw-away cluster is Debian's `postgresql` (the newest of /usr/lib/postgresql/*/bin), as
`.ci/run` starts it: run by the `postgres` user through `su` when the benchmark runs as root,
directly otherwise (initdb refuses root). It listens on 127.0.0.1 only, on a free port.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.procs import free_port

URL_VARIABLE = "ILERTD_BENCH_POSTGRES_URL"
SUPERUSER = "postgres"
START_TIMEOUT_S = 60


class PostgresError(RuntimeError):
    """No PostgreSQL server could be had; the message says why."""


def binaries() -> Path:
    """The newest installed server's bin directory."""
    installed = [Path(path).parent for path in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    if installed:
        return max(installed, key=lambda path: [int(part) for part in re.findall(r"\d+", path.parent.name)])
    initdb = shutil.which("initdb")
    if initdb is None:
        raise PostgresError(f"no PostgreSQL server installed (no initdb) and {URL_VARIABLE} not set")
    return Path(initdb).parent


def _run_as_owner(argv: list[str], as_root: bool) -> None:
    """`argv` as the cluster's owner: the `postgres` user when this process is root."""
    command = ["su", SUPERUSER, "-c", shlex.join(argv)] if as_root else argv
    done = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT_S)
    if done.returncode != 0:
        raise PostgresError(f"{' '.join(argv[:2])} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[str]:
    """A cluster of its own in a new temporary directory, trusted on loopback; its URL. Stopped and
    removed on exit."""
    bin_dir = binaries()
    as_root = os.geteuid() == 0
    # Not under the benchmark's scratch directory: that is root's alone (0700), out of the
    # `postgres` user's reach.
    root = Path(tempfile.mkdtemp(prefix="ilertd-bench-postgres-"))
    if as_root:
        shutil.chown(root, SUPERUSER)
    data, log = root / "data", root / "log"
    port = free_port()
    _run_as_owner([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", SUPERUSER], as_root)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    _run_as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l", str(log), "start", "-o", options],
                  as_root)
    try:
        yield f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres"
    finally:
        with contextlib.suppress(PostgresError, subprocess.TimeoutExpired):
            _run_as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], as_root)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def server() -> Iterator[tuple[str, str]]:
    """(URL of a database to create others from, "given" or "throw-away")."""
    given = os.environ.get(URL_VARIABLE, "")
    if given:
        yield given, "given"
        return
    with throwaway_cluster() as url:
        yield url, "throw-away"


def connect(url: str) -> Any:
    """An autocommit psycopg2 connection (imported here: only the sections on PostgreSQL need it)."""
    import psycopg2

    connection = psycopg2.connect(url)
    connection.autocommit = True
    return connection


@contextlib.contextmanager
def fresh_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new database on the server, dropped on exit (with whatever still holds a session on it)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = connect(server_url)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        try:
            yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
        finally:
            with admin.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()
