#!/usr/bin/env python3
"""Send one Nagios Core or Icinga 2 notification to ilertd: standard library only, Python 3.7+.

Nagios runs it as a notification command with `enable_environment_macros=1` (the NAGIOS_*
variables); Icinga 2 runs it from the NotificationCommand of integrations/icinga2/ilertd.conf,
whose `env` sets the ICINGA_* variables. It reads the notification from those variables, spools
it (--spool-dir, ILERTD_SPOOL_DIR; default /var/spool/ilertd-notify), then POSTs what is spooled,
oldest first, as JSON to `<url>/api/v1/events/<nagios|icinga>/<key>`, retrying a connection
error, a timeout, a 5xx or a 429 with a short back-off. It exits 0 once ilertd answered 2xx, or
when the notification stays spooled for the next run or `--flush` (a cron job, a systemd timer)
because ilertd cannot take it now; 1 when ilertd refused it (a 4xx: the reason on stderr), 2 on
a usage error. A notification still spooled after --max-age hours (24) is dropped, logged.

The ilertd URL and the integration key, first found wins:
  --url / --key;  ILERTD_URL / ILERTD_KEY;  the Nagios contact's custom variables _ILERTD_URL /
  _ILERTD_KEY (NAGIOS__CONTACTILERTD_URL / NAGIOS__CONTACTILERTD_KEY);  the URL defaults to
  http://127.0.0.1:8020.
`--dry-run` prints the JSON body instead of sending it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import stat
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

USER_AGENT = "ilertd-notify/1"
DEFAULT_URL = "http://127.0.0.1:8020"
PREFIXES = {"nagios": "NAGIOS_", "icinga": "ICINGA_"}
# Longest wait a 429's Retry-After may impose: Nagios kills a notification after 30 s by default.
MAX_RETRY_AFTER = 10.0
SPOOL_DIR = "/var/spool/ilertd-notify"
SPOOL_MAX_AGE_HOURS = 24.0
# Longest wait for another run delivering the spool, after which this one spools its notification.
LOCK_WAIT = 10.0
# A run stops delivering earlier notifications after this long: Nagios kills it at 30 s.
FLUSH_BUDGET = 10.0
DELIVERED, REFUSED, FAILING, UNREACHABLE = "delivered", "refused", "failing", "unreachable"


def decoded(value: str | bytes) -> str:
    """A name or value of the environment as text: UTF-8, else Windows-1252, else Latin-1, which
    never fails. A check's output is often neither UTF-8 nor ASCII (NSClient++ on a German Windows,
    check_snmp): os.environ keeps such bytes as lone surrogates, which ilertd refuses."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            pass
        try:
            raw = value.encode("utf-8", "surrogateescape")  # the bytes os.environ could not decode
        except UnicodeEncodeError:
            raw = value.encode("utf-8", "replace")
    else:
        raw = value
    for codec in ("utf-8", "cp1252"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            pass
    return raw.decode("latin-1")


def text_environment(env: Mapping[Any, Any]) -> dict[str, str]:
    """`env` (os.environb's bytes, or text) with every name and value decoded as text."""
    return {decoded(name): decoded(value) for name, value in env.items()}


def detect_tool(env: Mapping[str, str]) -> str | None:
    """Which tool ran us: the one whose notification type is in the environment."""
    for tool, prefix in PREFIXES.items():
        if env.get(prefix + "NOTIFICATIONTYPE"):
            return tool
    return None


def _http_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def _custom_vars(env: Mapping[str, str], prefix: str) -> dict[str, str]:
    """Host then service custom variables (`_TEAM` is NAGIOS__HOSTTEAM), lower-cased names.
    The contact's are left out: they hold the integration key."""
    found: dict[str, str] = {}
    for kind in ("HOST", "SERVICE"):
        start = prefix + "_" + kind
        for name in sorted(env):
            if name.startswith(start) and len(name) > len(start) and env[name]:
                found[name[len(start):].lower()] = env[name]
    return found


def _links(env: Mapping[str, str], prefix: str, tool: str, host: str, service: str,
           custom: Mapping[str, str]) -> list[dict[str, str]]:
    links: list[dict[str, str]] = []
    kinds = ("SERVICE", "HOST") if service else ("HOST",)
    for kind in kinds:
        for macro, text in (("NOTESURL", "notes"), ("ACTIONURL", "action"), ("INFOURL", tool.capitalize())):
            href = env.get(prefix + kind + macro, "").strip()
            # Nagios fills INFOURL even without website_url ("website_url not set/cgi-bin/...").
            if _http_url(href):
                links.append({"href": href, "text": f"{kind.lower()} {text}"})
    web = env.get(prefix + "ICINGAWEB2URL", "").strip().rstrip("/")
    if _http_url(web):
        query = {"host": host, "service": service} if service else {"host": host}
        page = "service" if service else "host"
        links.append({"href": f"{web}/monitoring/{page}/show?{urllib.parse.urlencode(query)}",
                      "text": "Icinga Web 2"})
    for name, value in custom.items():
        if _http_url(value):
            links.append({"href": value, "text": name})
    return links


def _number(value: str) -> int | None:
    return int(value) if value.strip().isdigit() else None


def build_body(env: Mapping[str, str], tool: str) -> dict[str, Any]:
    """The JSON body for the notification in `env` (docs/integrations/nagios.md lists its fields)."""
    prefix = PREFIXES[tool]

    def macro(name: str) -> str:
        return env.get(prefix + name, "").strip()

    host = macro("HOSTNAME")
    service = macro("SERVICEDESC")  # Nagios sets it empty for a host notification
    kind = "SERVICE" if service else "HOST"
    # Nagios escapes the newlines of long output as "\n".
    long_output = macro("LONG" + kind + "OUTPUT").replace("\\n", "\n")
    custom = _custom_vars(env, prefix)
    return {
        "source": tool,
        "notification_type": macro("NOTIFICATIONTYPE").upper(),
        "object": kind.lower(),
        "host": host,
        "host_display_name": macro("HOSTALIAS") or macro("HOSTDISPLAYNAME"),
        "address": macro("HOSTADDRESS"),
        "service": service or None,
        "service_display_name": macro("SERVICEDISPLAYNAME") or None,
        "state": macro(kind + "STATE"),
        "state_type": macro(kind + "STATETYPE"),
        "output": macro(kind + "OUTPUT"),
        "long_output": long_output,
        "dedup_key": f"{host}/{service}" if service else host,
        "timestamp": _number(macro("TIMET")) or int(time.time()),
        "notification_number": _number(macro("NOTIFICATIONNUMBER")),
        "author": macro("NOTIFICATIONAUTHOR") or macro(kind + "ACKAUTHOR"),
        "comment": macro("NOTIFICATIONCOMMENT") or macro(kind + "ACKCOMMENT"),
        "links": _links(env, prefix, tool, host, service, custom),
        "vars": custom,
    }


def _reason(error: urllib.error.HTTPError) -> str:
    try:
        reply = json.loads(error.read().decode("utf-8", errors="replace"))
        return f"{reply.get('code', '')}: {reply.get('message', '')}".strip(": ")
    except (ValueError, AttributeError, OSError):
        return error.reason if isinstance(error.reason, str) else ""


class Outcome(NamedTuple):
    """What came of sending: `verdict` is DELIVERED, REFUSED (a 4xx: the key or the body is wrong,
    no retry can help), FAILING (a 5xx: ilertd is up but could not take it) or UNREACHABLE (a
    connection error, a timeout, a 429: nothing else will pass either, for now)."""

    verdict: str
    text: str


def send(url: str, body: Mapping[str, Any], timeout: float, attempts: int, backoff: float) -> Outcome:
    """POST `body`. Retries what may pass on a second try."""
    data = json.dumps(body).encode("utf-8")
    last = Outcome(UNREACHABLE, "")
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(url, data=data, method="POST", headers={
            "Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT})
        wait = backoff * 2 ** (attempt - 1)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                reply = response.read().decode("utf-8", errors="replace")
                return Outcome(DELIVERED, f"{response.status} {reply[:300]}")
        except urllib.error.HTTPError as error:
            text = f"HTTP {error.code} {_reason(error)}".strip()
            if error.code == 429:
                last = Outcome(UNREACHABLE, text)
                retry_after = error.headers.get("Retry-After", "")
                if retry_after.isdigit():
                    wait = min(float(retry_after), MAX_RETRY_AFTER)
            elif error.code < 500:
                return Outcome(REFUSED, text)
            else:
                last = Outcome(FAILING, text)
        except (urllib.error.URLError, OSError) as error:  # refused, unreachable, timed out
            reason = getattr(error, "reason", error)
            last = Outcome(UNREACHABLE, f"cannot reach {url.split('/api/')[0]}: {reason}")
        if attempt < attempts:
            time.sleep(wait)
    if attempts > 1:
        return Outcome(last.verdict, f"{last.text} (after {attempts} attempts)")
    return last


def log(message: str) -> None:
    """To stderr, and to syslog: Nagios and Icinga 2 keep a notification's output only when it
    fails, and a cron job's or a timer's may go unread."""
    print(f"ilertd-notify: {message}", file=sys.stderr)
    try:
        import syslog
        syslog.openlog("ilertd-notify", 0, syslog.LOG_DAEMON)
        syslog.syslog(syslog.LOG_WARNING, message)
    except (ImportError, OSError):
        pass


class Spool:
    """Notifications on their way to ilertd, one JSON file each, delivered oldest first.

    Every notification is spooled before it is sent, as PagerDuty's Nagios integration queues
    each event: a run that Nagios kills at its timeout, or that finds ilertd down, leaves it
    there for the next run or the flush timer. A file is named after the time its notification
    was made, and one run at a time delivers (a lock file): two at once could send a PROBLEM
    after its RECOVERY."""

    def __init__(self, explicit: str | None, max_age_hours: float) -> None:
        self.explicit = bool(explicit)
        if explicit:
            self.dirs = [Path(explicit)]
        else:
            # The shared temporary directory serves when the default is not there and cannot be
            # made (/var/spool is root's): a page kept there beats a page lost.
            user = getattr(os, "getuid", lambda: "user")()
            self.dirs = [Path(SPOOL_DIR), Path(tempfile.gettempdir()) / f"ilertd-notify-{user}"]
        self.max_age = max_age_hours * 3600
        self.problem = ""
        self.busy = False  # another run held the lock past the wait
        self._lock: Any = None

    def _usable(self, directory: Path, create: bool) -> bool:
        shared = not self.explicit and directory != Path(SPOOL_DIR)
        try:
            if create:
                directory.mkdir(mode=0o700, parents=not shared, exist_ok=True)
            status = directory.lstat()
        except OSError as error:
            self.problem = f"{directory}: {error.strerror or error}"
            return False
        if not stat.S_ISDIR(status.st_mode):
            self.problem = f"{directory} is not a directory"
            return False
        mine = status.st_uid == getattr(os, "geteuid", lambda: status.st_uid)()
        if shared and (not mine or status.st_mode & 0o077):
            # In a directory anyone may write to, a directory someone else made could be theirs.
            self.problem = f"{directory} is not this user's own (mode 0700)"
            return False
        if not os.access(directory, os.W_OK | os.X_OK):
            self.problem = f"{directory} is not writable"
            return False
        return True

    def writable_dir(self) -> Path | None:
        for directory in self.dirs:
            if self._usable(directory, create=True):
                return directory
        return None

    def lock(self, wait: float) -> bool:
        """Whether this run may deliver: the spool's lock, taken within `wait` seconds."""
        directory = self.writable_dir()
        if directory is None:
            return False
        try:
            import fcntl
        except ImportError:
            return True  # not POSIX: no other notification runs beside this one to order against
        try:
            handle = open(directory / ".lock", "a")  # noqa: SIM115 - held until the run ends
        except OSError as error:
            self.problem = f"{directory / '.lock'}: {error.strerror or error}"
            return False
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._lock = handle
                return True
            except OSError:
                if time.monotonic() >= deadline:
                    handle.close()
                    self.busy = True
                    self.problem = "another run is delivering the spool"
                    return False
                time.sleep(0.05)

    def files(self) -> list[Path]:
        """The spooled notifications, oldest first, from every directory this run may read."""
        found: list[Path] = []
        for directory in self.dirs:
            if directory.is_dir() and self._usable(directory, create=False):
                found += [path for path in directory.glob("*.json") if not path.name.startswith(".")]
        return sorted(found, key=lambda path: path.name)

    def put(self, url: str, body: Mapping[str, Any], made_ns: int) -> Path | None:
        """Spool a notification, atomically (a file is whole or absent); None if it cannot be."""
        directory = self.writable_dir()
        if directory is None:
            return None
        name = f"{made_ns:020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
        partial = directory / f".{name}.part"
        record = {"made": made_ns / 1e9, "url": url, "body": body}
        try:
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as out:
                json.dump(record, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, directory / name)
        except OSError as error:
            self.problem = f"{partial}: {error.strerror or error}"
            with contextlib.suppress(OSError):
                partial.unlink()
            return None
        return directory / name

    def flush(self, timeout: float, attempts: int, backoff: float, budget: float | None = None,
              quiet: Path | None = None) -> Flushed:
        """Deliver what is spooled, oldest first, until none is left or `budget` seconds passed.
        A key whose notification ilertd could not take keeps its later ones too (their order
        matters); an unreachable ilertd is not tried again in this flush. `quiet`: the file whose
        outcome the caller reports itself."""
        flushed = Flushed()
        deadline = None if budget is None else time.monotonic() + budget
        seen: set[Path] = set()
        while True:
            fresh = [path for path in self.files() if path not in seen]
            if not fresh:
                return flushed
            for path in fresh:
                seen.add(path)
                if deadline is not None and time.monotonic() > deadline:
                    return flushed
                self._deliver_one(path, flushed, timeout, attempts, backoff, path == quiet)

    def _deliver_one(self, path: Path, flushed: Flushed, timeout: float, attempts: int,
                     backoff: float, quiet: bool) -> None:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            url, body, made = str(record["url"]), record["body"], float(record["made"])
            target = ordering_key(url, body)
        except FileNotFoundError:
            return  # delivered by another run meanwhile (one without the lock: no POSIX)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            log(f"{path} is unreadable ({error}); kept as {path.name}.bad")
            with contextlib.suppress(OSError):
                path.replace(path.with_name(path.name + ".bad"))
            return
        what = f"{body.get('notification_type')} for {body.get('dedup_key')}"
        since = f"spooled since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(made))}"
        if target in flushed.held or target[0] in flushed.unreachable:
            flushed.held.add(target)
            return
        if time.time() - made > self.max_age:
            log(f"{what}, {since}, dropped: older than {self.max_age / 3600:g} h, never delivered")
            flushed.dropped += 1
            self._remove(path)
            return
        outcome = send(url, body, timeout, attempts, backoff)
        flushed.outcomes[path] = outcome
        if outcome.verdict == DELIVERED:
            if not quiet:
                print(f"ilertd-notify: {what} ({since}): {outcome.text}")
            self._remove(path)
        elif outcome.verdict == REFUSED:
            if not quiet:
                log(f"{what}, {since}, dropped: ilertd refused it: {outcome.text}")
            flushed.dropped += 1
            self._remove(path)
        else:
            flushed.held.add(target)
            flushed.reasons[target[0]] = outcome.text
            if outcome.verdict == UNREACHABLE:
                flushed.unreachable.add(target[0])

    @staticmethod
    def _remove(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class Flushed:
    """What a flush of the spool did: the outcome of each file it sent, how many it dropped, the
    keys it held back, and the ilertd servers it could not reach."""

    def __init__(self) -> None:
        self.outcomes: dict[Path, Outcome] = {}
        self.dropped = 0
        self.held: set[tuple[str, str, str]] = set()
        self.unreachable: set[str] = set()
        self.reasons: dict[str, str] = {}  # per ilertd server, the last failure


def ordering_key(url: str, body: Mapping[str, Any]) -> tuple[str, str, str]:
    """What a notification must keep its order within: its ilertd, its alert source (the URL's
    key) and its alert key, which ilertd compares case-insensitively."""
    server, _, source = url.partition("/api/")
    return server, source, str(body.get("dedup_key") or body.get("host") or "").casefold()


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Send a Nagios or Icinga 2 notification to ilertd.")
    parser.add_argument("--url", help=f"ilertd's base URL (env ILERTD_URL; default {DEFAULT_URL})")
    parser.add_argument("--key", help="the alert source's integration key (env ILERTD_KEY)")
    parser.add_argument("--tool", choices=sorted(PREFIXES), help="default: found from the environment")
    parser.add_argument("--timeout", type=float, default=8.0, help="seconds per attempt (default 8)")
    parser.add_argument("--attempts", type=int, default=3, help="attempts in all (default 3)")
    parser.add_argument("--backoff", type=float, default=1.0,
                        help="seconds before the 2nd attempt, doubled after each (default 1)")
    parser.add_argument("--spool-dir", help=f"where notifications wait while ilertd cannot take them"
                                            f" (env ILERTD_SPOOL_DIR; default {SPOOL_DIR})")
    parser.add_argument("--max-age", type=float, default=SPOOL_MAX_AGE_HOURS,
                        help=f"hours a spooled notification is kept (default {SPOOL_MAX_AGE_HOURS:g})")
    parser.add_argument("--flush", action="store_true",
                        help="deliver the spooled notifications only (a cron job's or a timer's)")
    parser.add_argument("--dry-run", action="store_true", help="print the body, send nothing")
    return parser.parse_args(argv)


def flush_only(spool: Spool, options: argparse.Namespace) -> int:
    """--flush: 0 when the spool is empty afterwards (or another run is delivering it), else 1."""
    if not spool.lock(LOCK_WAIT):
        if spool.files() and not spool.busy:
            log(f"cannot deliver the spool: {spool.problem}")
            return 1
        return 0
    flushed = spool.flush(options.timeout, max(1, options.attempts), max(0.0, options.backoff))
    left = len(spool.files())
    if left:
        reasons = "; ".join(sorted(set(flushed.reasons.values()))) or "no time left"
        log(f"{left} notification(s) still spooled, ilertd cannot take them yet: {reasons}")
        return 1
    return 1 if flushed.dropped else 0


def deliver(spool: Spool, url: str, body: Mapping[str, Any], options: argparse.Namespace,
            made_ns: int) -> int:
    """Spool the notification, then deliver the spool, this one in its turn."""
    what = f"{body['notification_type']} for {body['dedup_key']}"
    timeout, attempts, backoff = options.timeout, max(1, options.attempts), max(0.0, options.backoff)
    path = spool.put(url, body, made_ns)
    if path is None:
        # Nowhere to keep it: sent as it is, or lost.
        outcome = send(url, body, timeout, attempts, backoff)
        if outcome.verdict == DELIVERED:
            print(f"ilertd-notify: {what}: {outcome.text}")
            return 0
        spooling = "" if outcome.verdict == REFUSED else f"; and not spooled: {spool.problem}"
        print(f"ilertd-notify: {what} not delivered: {outcome.text}{spooling}", file=sys.stderr)
        return 1
    if not spool.lock(LOCK_WAIT):
        log(f"{what} spooled to {path}, to be sent after what is before it: {spool.problem}")
        return 0
    flushed = spool.flush(timeout, attempts, backoff, budget=FLUSH_BUDGET, quiet=path)
    outcome = flushed.outcomes.get(path)
    if outcome is not None and outcome.verdict == DELIVERED:
        print(f"ilertd-notify: {what}: {outcome.text}")
        return 0
    if outcome is not None and outcome.verdict == REFUSED:
        print(f"ilertd-notify: {what} not delivered: {outcome.text}", file=sys.stderr)
        return 1
    if outcome is None and not path.exists():
        print(f"ilertd-notify: {what}: taken to ilertd by another run of ilertd-notify, which held the spool")
        return 0
    why = outcome.text if outcome is not None else (
        "after earlier notifications still spooled: "
        + flushed.reasons.get(ordering_key(url, body)[0], "no time left"))
    # Exit 0, as PagerDuty's Nagios integration does once it queued an event: it is delivered by
    # the next run or the flush timer, and Nagios would not send a failed notification again.
    log(f"{what} spooled to {path}, to be sent when ilertd takes it: {why}")
    return 0


def main(argv: list[str] | None = None, env: Mapping[Any, Any] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        # A legacy locale (ISO-8859-1, ASCII) cannot print every host name: the line is not worth
        # a traceback, and an exit status that says "not delivered" when it was.
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    made_ns = time.time_ns()
    options = _arguments(argv)
    # os.environb: the bytes as Nagios passed them, before os.environ's decoding (not on Windows).
    env = text_environment(getattr(os, "environb", os.environ) if env is None else env)
    spool = Spool(options.spool_dir or env.get("ILERTD_SPOOL_DIR"), options.max_age)
    if options.flush:
        return flush_only(spool, options)
    tool = options.tool or detect_tool(env)
    if tool is None:
        print("ilertd-notify: no NAGIOS_NOTIFICATIONTYPE or ICINGA_NOTIFICATIONTYPE in the environment"
              " (Nagios needs enable_environment_macros=1)", file=sys.stderr)
        return 2
    body = build_body(env, tool)
    if not body["host"] or not body["notification_type"]:
        print(f"ilertd-notify: {PREFIXES[tool]}HOSTNAME and {PREFIXES[tool]}NOTIFICATIONTYPE are required",
              file=sys.stderr)
        return 2
    if options.dry_run:
        print(json.dumps(body, indent=2))
        return 0
    base = (options.url or env.get("ILERTD_URL") or env.get("NAGIOS__CONTACTILERTD_URL") or DEFAULT_URL)
    key = (options.key or env.get("ILERTD_KEY") or env.get("NAGIOS__CONTACTILERTD_KEY") or "").strip()
    if not key:
        print("ilertd-notify: no integration key: pass --key, set ILERTD_KEY, or give the Nagios contact"
              " the custom variable _ILERTD_KEY", file=sys.stderr)
        return 2
    url = f"{base.strip().rstrip('/')}/api/v1/events/{tool}/{urllib.parse.quote(key, safe='')}"
    return deliver(spool, url, body, options, made_ns)


if __name__ == "__main__":
    sys.exit(main())
