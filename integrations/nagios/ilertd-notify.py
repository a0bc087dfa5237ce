#!/usr/bin/env python3
"""Send one Nagios Core or Icinga 2 notification to ilertd: standard library only, Python 3.7+.

Nagios runs it as a notification command with `enable_environment_macros=1` (the NAGIOS_*
variables); Icinga 2 runs it from the NotificationCommand of integrations/icinga2/ilertd.conf,
whose `env` sets the ICINGA_* variables. It reads the notification from those variables, POSTs
it as JSON to `<url>/api/v1/events/<nagios|icinga>/<key>`, retries on a connection error, a
timeout, a 5xx or a 429 with a short back-off, and exits 0 once ilertd answered 2xx, 1 when the
notification was not delivered (the reason on stderr), 2 on a usage error.

The ilertd URL and the integration key, first found wins:
  --url / --key;  ILERTD_URL / ILERTD_KEY;  the Nagios contact's custom variables _ILERTD_URL /
  _ILERTD_KEY (NAGIOS__CONTACTILERTD_URL / NAGIOS__CONTACTILERTD_KEY);  the URL defaults to
  http://127.0.0.1:8020.
`--dry-run` prints the JSON body instead of sending it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

USER_AGENT = "ilertd-notify/1"
DEFAULT_URL = "http://127.0.0.1:8020"
PREFIXES = {"nagios": "NAGIOS_", "icinga": "ICINGA_"}
# Longest wait a 429's Retry-After may impose: Nagios kills a notification after 30 s by default.
MAX_RETRY_AFTER = 10.0


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


def send(url: str, body: Mapping[str, Any], timeout: float, attempts: int,
         backoff: float) -> tuple[bool, str]:
    """POST `body`; (delivered, what happened). Retries what may pass on a second try."""
    data = json.dumps(body).encode("utf-8")
    last = ""
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(url, data=data, method="POST", headers={
            "Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT})
        wait = backoff * 2 ** (attempt - 1)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                reply = response.read().decode("utf-8", errors="replace")
                return True, f"{response.status} {reply[:300]}"
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code} {_reason(error)}".strip()
            if error.code == 429:
                retry_after = error.headers.get("Retry-After", "")
                if retry_after.isdigit():
                    wait = min(float(retry_after), MAX_RETRY_AFTER)
            elif error.code < 500:
                return False, last  # refused (bad key, wrong type, bad body): a retry cannot help
        except (urllib.error.URLError, OSError) as error:  # refused, unreachable, timed out
            reason = getattr(error, "reason", error)
            last = f"cannot reach {url.split('/api/')[0]}: {reason}"
        if attempt < attempts:
            time.sleep(wait)
    return False, f"{last} (after {attempts} attempts)"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Send a Nagios or Icinga 2 notification to ilertd.")
    parser.add_argument("--url", help=f"ilertd's base URL (env ILERTD_URL; default {DEFAULT_URL})")
    parser.add_argument("--key", help="the alert source's integration key (env ILERTD_KEY)")
    parser.add_argument("--tool", choices=sorted(PREFIXES), help="default: found from the environment")
    parser.add_argument("--timeout", type=float, default=8.0, help="seconds per attempt (default 8)")
    parser.add_argument("--attempts", type=int, default=3, help="attempts in all (default 3)")
    parser.add_argument("--backoff", type=float, default=1.0,
                        help="seconds before the 2nd attempt, doubled after each (default 1)")
    parser.add_argument("--dry-run", action="store_true", help="print the body, send nothing")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, env: Mapping[Any, Any] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        # A legacy locale (ISO-8859-1, ASCII) cannot print every host name: the line is not worth
        # a traceback, and an exit status that says "not delivered" when it was.
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    options = _arguments(argv)
    # os.environb: the bytes as Nagios passed them, before os.environ's decoding (not on Windows).
    env = text_environment(getattr(os, "environb", os.environ) if env is None else env)
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
    delivered, outcome = send(url, body, options.timeout, max(1, options.attempts), max(0.0, options.backoff))
    if not delivered:
        print(f"ilertd-notify: {body['notification_type']} for {body['dedup_key']} not delivered: {outcome}",
              file=sys.stderr)
        return 1
    print(f"ilertd-notify: {body['notification_type']} for {body['dedup_key']}: {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
