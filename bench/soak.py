"""Section soak: two `ilertd serve` on one PostgreSQL database under a steady event load, the leader
SIGKILLed at a fixed interval; does every acknowledged event open its incident and every incident
page exactly once, and how long does each takeover take?

Not run by default (`python -m bench --only soak`): it takes minutes of wall time by design. Its
settings come from the environment, each with a default: ILERTD_BENCH_SOAK_RATE (events/s, 20),
ILERTD_BENCH_SOAK_SECONDS (300; --quick 60), ILERTD_BENCH_SOAK_KILL_EVERY (seconds, 30; --quick
15); ILERTD_BENCH_POSTGRES_URL names a server to create the run's database on (else a throw-away
cluster).

Every page goes by e-mail to a loopback SMTP sink that records its `ilertd-n<id>` reference.
ilertd throttles each contact to one e-mail per 10 s and folds pages inside the window into one
summary, which carries one reference only: so events rotate over a pool of alert sources, each
with a one-level policy (60 minutes, no escalation during the run) paging a user of its own, and
each contact is paged about every CONTACT_SPACING_S seconds: every page is an e-mail of its own.
The pool's first source is `default` (id 1).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import client, postgres, report_format
from bench.context import Context
from bench.daemon import Ilertd, ilertd_command
from bench.procs import Service, environment, free_port
from bench.smtp_sink import READY as SMTP_READY
from bench.smtp_sink import read_arrivals
from bench.soak_check import account, spread, wait_until_quiet
from bench.soak_load import EventSender

REPO_ROOT = Path(__file__).resolve().parent.parent
# Seconds between two pages to one contact: over the 10 s e-mail throttle window, with room for a
# takeover's queued events arriving late next to their successors.
CONTACT_SPACING_S = 25.0
ESCALATION_TIMEOUT_MIN = 60
TAKEOVER_TARGET_S = 10.0
# A takeover not done by then is recorded as failed; the run goes on.
TAKEOVER_LIMIT_S = 60.0
HEALTH_POLL_S = 0.05
SMTP_READY_S = 30.0
PROVISION_TIMEOUT_S = 300.0
# After the load: how long events still under way may take, and how long the system may take
# to fall quiet (queued events handled, every page out, no new page for QUIET_S).
FINISH_GRACE_S = 60.0
QUIET_S = 5.0
QUIET_LIMIT_S = {True: 90.0, False: 180.0}


@dataclass(frozen=True)
class Settings:
    rate: float
    seconds: float
    kill_every_s: float

    @classmethod
    def read(cls, quick: bool) -> Settings:
        def number(name: str, default: float) -> float:
            value = float(os.environ.get(f"ILERTD_BENCH_SOAK_{name}", default))
            if value <= 0:
                raise ValueError(f"ILERTD_BENCH_SOAK_{name} must be positive, not {value}")
            return value

        return cls(number("RATE", 20.0), number("SECONDS", 60.0 if quick else 300.0),
                   number("KILL_EVERY", 15.0 if quick else 30.0))

    @property
    def sources(self) -> int:
        return max(1, math.ceil(self.rate * CONTACT_SPACING_S))


def _node_config(root: Path, database_url: str, smtp_port: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    config = root / "ilertd.toml"
    mail = f"mailto://127.0.0.1:{smtp_port}?from=ilertd@example.com&to={{contact}}&mode=insecure"
    config.write_text(f'[database]\nurl = "{database_url}"\n[channels.email]\nurl = "{mail}"\n')
    return config


def _provision_text(sources: int) -> str:
    """One user, one one-level policy and one source per pool slot; slot 0 is the default source."""
    parts = []
    for slot in range(sources):
        name = f"soak-{slot}"
        source = "default" if slot == 0 else name
        parts.append(
            f'[[users]]\nusername = "{name}"\nemail = "{name}@example.com"\n\n'
            f'[[escalationPolicies]]\nname = "{name}"\n'
            f'escalationRules = [{{escalationTimeout = {ESCALATION_TIMEOUT_MIN},'
            f' users = [{{name = "{name}"}}]}}]\n\n'
            f'[[alertSources]]\nname = "{source}"\nintegrationType = "API"\n'
            f'escalationPolicy = {{name = "{name}"}}\n')
    return "\n".join(parts)


def _provision(node: Ilertd, sources: int) -> None:
    assert node.config is not None
    path = node.root / "provision.toml"
    path.write_text(_provision_text(sources))
    log_dir = node.root / "logs"
    service = Service("provision", [*ilertd_command(), "--config", str(node.config), "provision", str(path)],
                      log_dir, cwd=node.root, env=environment(STATE_DIRECTORY=str(node.data_dir))).start()
    assert service.process is not None
    if service.process.wait(PROVISION_TIMEOUT_S) != 0:
        raise RuntimeError(f"ilertd provision failed:\n{service.log_tail()}")


def _integration_keys(database_url: str, sources: int) -> list[str]:
    """The integration key of each pool slot, read from the store."""
    names = {"default" if slot == 0 else f"soak-{slot}": slot for slot in range(sources)}
    connection = postgres.connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT name, integration_key FROM alert_source")
            found = {names[name]: key for name, key in cursor.fetchall() if name in names}
    finally:
        connection.close()
    if len(found) != sources:
        raise RuntimeError(f"{sources - len(found)} of the {sources} provisioned alert sources are missing")
    return [found[slot] for slot in range(sources)]


def role(node: Ilertd) -> str | None:
    """What the node's /healthz says it is; None when it does not answer."""
    try:
        status, body = client.request(f"{node.url}/healthz", timeout=1.0)
        return str(json.loads(body).get("role")) if status == 200 else None
    except (OSError, ValueError):
        return None


def _wait_for_leader(nodes: list[Ilertd], limit_s: float) -> int | None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        for index, node in enumerate(nodes):
            if node.service is not None and node.service.alive() and role(node) == "leader":
                return index
        time.sleep(HEALTH_POLL_S)
    return None


def _kill_leader(nodes: list[Ilertd], ports: list[int], t0: float) -> dict[str, Any]:
    """SIGKILL the leader, time the other node's promotion, restart the killed one (a follower)."""
    leader = _wait_for_leader(nodes, TAKEOVER_LIMIT_S)
    if leader is None:
        return {"at_s": time.monotonic() - t0, "error": "no node leads: nothing to kill"}
    killed, other = nodes[leader], nodes[1 - leader]
    assert killed.service is not None and killed.service.process is not None
    killed_at = time.monotonic()
    killed.service.process.kill()
    killed.service.process.wait()
    took: float | None = None
    while time.monotonic() - killed_at < TAKEOVER_LIMIT_S:
        if role(other) == "leader":
            took = time.monotonic() - killed_at
            break
        time.sleep(HEALTH_POLL_S)
    restarting = time.monotonic()
    killed.start(ports[leader])
    kill = {"at_s": killed_at - t0, "node": killed.name, "takeover_s": took,
            "restart_s": time.monotonic() - restarting, "restarted_role": role(killed)}
    if took is None:
        kill["error"] = f"{other.name} did not lead within {TAKEOVER_LIMIT_S:.0f} s"
    return kill


def _log_lines(nodes: list[Ilertd]) -> list[str]:
    """ERROR lines and tracebacks of every start of both nodes."""
    lines = []
    for node in nodes:
        for path in sorted((node.root / "logs").glob(f"{node.name}-*.stderr")):
            lines += [f"{path.stem}: {line}" for line in path.read_text(errors="replace").splitlines()
                      if " ERROR " in line or line.startswith("Traceback")]
    return lines


def run(ctx: Context) -> dict[str, Any]:
    settings = Settings.read(ctx.quick)
    root = ctx.scratch / "soak"
    with postgres.server() as (server_url, server_kind), postgres.fresh_database(server_url,
                                                                              "ilertd_soak") as database_url:
        smtp_port = free_port()
        arrivals_path = root / "arrivals.tsv"
        sink = Service("smtp-sink",
                       [sys.executable, "-m", "bench.smtp_sink", str(smtp_port), str(arrivals_path)],
                       root / "logs", cwd=REPO_ROOT, env=environment())
        nodes = [Ilertd(root / f"node-{name}", f"soak-{name}",
                     _node_config(root / f"node-{name}", database_url, smtp_port)) for name in "ab"]
        ports = [free_port(), free_port()]
        try:
            sink.start()
            sink.wait_for_stdout(SMTP_READY, SMTP_READY_S)
            return {"soak": _soak(ctx, settings, nodes, ports, database_url, arrivals_path,
                                  f"{server_kind}, {_server_version(database_url)}")}
        finally:
            for node in nodes:
                node.stop()
            sink.stop()


def _server_version(database_url: str) -> str:
    connection = postgres.connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('server_version')")
            return f"PostgreSQL {cursor.fetchone()[0]}"
    finally:
        connection.close()


def _soak(ctx: Context, settings: Settings, nodes: list[Ilertd], ports: list[int], database_url: str,
          arrivals_path: Path, server: str) -> dict[str, Any]:
    first, second = nodes
    ctx.log(f"soak: {server}; provisioning {settings.sources} sources, users and policies")
    # The first start bootstraps the database (admin, default source, first-run.txt); provision
    # then writes while no node runs, so no cache has to catch up with it.
    first.start(ports[0])
    if first.stop() != 0:
        tail = first.service.log_tail() if first.service is not None else ""
        raise RuntimeError(f"the first node's first start stopped badly:\n{tail}")
    _provision(first, settings.sources)
    keys = _integration_keys(database_url, settings.sources)
    first.start(ports[0])
    second.data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(first.data_dir / "first-run.txt", second.data_dir / "first-run.txt")
    second.start(ports[1])
    if _wait_for_leader(nodes, TAKEOVER_LIMIT_S) != 0 or role(second) != "follower":
        raise RuntimeError(f"expected {first.name} to lead and {second.name} to follow:"
                           f" {role(first)}, {role(second)}")
    prefix = ctx.prefix("soak")

    def event_of(number: int) -> tuple[str, bytes]:
        key = f"{prefix}-{number}"
        return key, json.dumps({"integrationKey": keys[number % len(keys)], "eventType": "ALERT",
                                "summary": f"soak {number}", "alertKey": key}).encode()

    ctx.log(f"soak: {settings.seconds:g} s at {settings.rate:g} events/s, the leader killed every"
            f" {settings.kill_every_s:g} s")
    sender = EventSender([node.url for node in nodes], event_of, settings.rate).start()
    t0 = sender.counts.first_at
    kills: list[dict[str, Any]] = []
    try:
        # Kills half an interval into each interval: the last one lies well inside the load.
        while (kill_at := t0 + settings.kill_every_s * (len(kills) + 0.5)) < t0 + settings.seconds:
            time.sleep(max(0.0, kill_at - time.monotonic()))
            kills.append(_kill_leader(nodes, ports, t0))
            ctx.log(f"soak: kill {len(kills)} at {kills[-1]['at_s']:.1f} s: {kills[-1]}")
        time.sleep(max(0.0, t0 + settings.seconds - time.monotonic()))
    finally:
        finish_s = sender.finish(FINISH_GRACE_S)
    ctx.log(f"soak: load stopped ({sender.counts.offered} events, {len(sender.counts.acks)} acknowledged);"
            " waiting for quiet")
    quiet = wait_until_quiet(database_url, arrivals_path, QUIET_S, QUIET_LIMIT_S[ctx.quick])
    checked = account(database_url, prefix, sender.counts, read_arrivals(arrivals_path), t0,
                      [node.root / "logs" for node in nodes])
    took = [k["takeover_s"] for k in kills if k.get("takeover_s") is not None]
    took_spread = spread(took)
    errors = [f"kill at {k['at_s']:.1f} s: {k['error']}" for k in kills if "error" in k]
    errors += [f"{k['node']} came back as {k['restarted_role']}, not follower" for k in kills
               if "error" not in k and k["restarted_role"] != "follower"]
    if not quiet["reached"]:
        errors.append(f"not quiet after {quiet['waited_s']:.0f} s: {quiet['last']}")
    errors += checked.pop("errors")
    daemon_errors = _log_lines(nodes)
    return {
        "settings": {"rate": settings.rate, "seconds": settings.seconds,
                     "kill_every_s": settings.kill_every_s, "sources": settings.sources,
                     "contact_spacing_s": CONTACT_SPACING_S, "postgres": server},
        **checked,
        "takeovers": {"count": len(took), "failed": len(kills) - len(took), "seconds": took, **took_spread,
                      "target_p99_s": TAKEOVER_TARGET_S,
                      "p99_ok": bool(took) and took_spread["p99"] <= TAKEOVER_TARGET_S},
        "kills": kills,
        "finish_s": finish_s,
        "quiet": quiet,
        "daemon_error_count": len(daemon_errors),
        "daemon_error_lines": daemon_errors[:20],
        "errors": errors,
        "failed_measurements": ["soak"] if errors else [],
    }


def render(section: dict[str, Any]) -> list[str]:
    """The soak table, printed by the report for this section."""
    if "error" in section:
        return [f"soak: FAILED: {section['error']}"]
    s, events, pages = section["settings"], section["events"], section["pages"]
    takeovers = section["takeovers"]
    num = report_format.num

    def spread_text(part: dict[str, Any], digits: int) -> str:
        return " / ".join(num(part[k], digits) for k in ("p50", "p99", "max")) + " s"

    mark = ("n/a" if not takeovers["count"] else
            f"{'PASS' if takeovers['p99_ok'] else 'MISS'} (p99 <= {takeovers['target_p99_s']:g} s)")
    resent = f"{pages['resent_logged']:,} ({pages['resent_logged_arrived_twice']:,} arrived twice)"
    rows = [
        ["events offered / acknowledged (202)", f"{events['offered']:,} / {events['acknowledged']:,}"],
        ["  of which answered EVENT_QUEUED", f"{events['response_codes'].get('EVENT_QUEUED', 0):,}"],
        ["  retries (conn. error or 5xx)", f"{events['retries']:,}"],
        ["  not acknowledged / refused (4xx)", f"{events['unacknowledged']:,} / {events['refused']:,}"],
        ["  202 after (p50 / p99 / max)", spread_text(events["ack_s"], 2)],
        ["events/s offered / acknowledged",
         f"{num(events['offered_per_s'], 1)} / {num(events['acked_per_s'], 1)}"],
        ["incidents for acknowledged keys", f"{events['incidents_for_acknowledged']:,}"],
        ["events lost (202, no incident)", f"{events['lost']:,}"],
        ["keys with two incidents", f"{events['keys_with_two_incidents']:,}"],
        ["pages expected / received", f"{pages['expected']:,} / {pages['received_messages']:,}"],
        ["pages lost", f"{pages['lost']:,}"],
        ["pages doubled (no resend logged)", f"{pages['doubled']:,}"],
        ["pages resent and logged", resent],
        ["takeovers (failed)", f"{takeovers['count']:,} ({takeovers['failed']})"],
        ["takeover p50 / p99 / max", f"{spread_text(takeovers, 2)}  {mark}"],
    ]
    lines = [f"soak: 2 nodes on one database ({s['postgres']}), {s['seconds']:g} s at {s['rate']:g} events/s"
             f" over {s['sources']} sources, the leader SIGKILLed every {s['kill_every_s']:g} s",
             report_format.table(["", ""], rows)]
    lines += [f"  ! {error}" for error in section.get("errors", [])]
    if section.get("daemon_error_count"):
        lines.append(f"  daemon ERROR lines: {section['daemon_error_count']} (first: "
                     f"{section['daemon_error_lines'][0][:160]})")
    return lines
