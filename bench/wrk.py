"""Running wrk: a Lua script per load point, and its text report parsed into a `LoadResult`."""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

from bench.spec import LoadError, LoadResult, RequestSpec

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_TOTAL = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),", re.M)
_PERCENT = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
_NON2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def lua_string(text: str) -> str:
    # A long bracket takes its content verbatim: JSON quotes and backslashes need no escaping.
    level = "=" * 3
    if f"]{level}]" in text:
        raise ValueError("body cannot be quoted for Lua")
    return f"[{level}[{text}]{level}]"


def script(spec: RequestSpec) -> str:
    headers = '{["Content-Type"] = "application/json"}'
    if not spec.distinct:
        return (
            'wrk.method = "POST"\n'
            f"wrk.path = {lua_string(spec.path)}\n"
            'wrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = {lua_string(spec.body)}\n"
        )
    parts = ", ".join(lua_string(part) for part in spec.parts())
    # setup() runs once per thread in the main Lua state; each thread gets its own id, and its own
    # counter in its own state, so "<prefix>-<thread>-<counter>" never repeats within the run.
    return (
        "local started = 0\n"
        "local counter = 0\n"
        "function setup(thread)\n"
        "  started = started + 1\n"
        '  thread:set("tid", started)\n'
        "end\n"
        f"local parts = {{{parts}}}\n"
        "function request()\n"
        "  counter = counter + 1\n"
        f'  local token = {lua_string(spec.prefix)} .. "-" .. tid .. "-" .. counter\n'
        f"  return wrk.format(\"POST\", {lua_string(spec.path)}, {headers},\n"
        "    table.concat(parts, token))\n"
        "end\n"
    )


def _ms(value: str, unit: str) -> float:
    return float(value) * UNITS_MS[unit]


def parse(output: str, connections: int) -> LoadResult:
    rps = _RPS.search(output)
    total = _TOTAL.search(output)
    if rps is None or total is None:
        raise LoadError(f"wrk printed no result:\n{output}")
    percents = {p: _ms(value, unit) for p, value, unit in _PERCENT.findall(output)}
    non2xx = _NON2XX.search(output)
    sockets = _SOCKET.search(output)
    requests = int(total.group(1))
    seconds = _ms(total.group(2), total.group(3)) / 1000.0
    failed = int(non2xx.group(1)) if non2xx else 0
    ok = requests - failed
    return LoadResult(
        generator="wrk",
        connections=connections,
        seconds=seconds,
        requests=requests,
        ok=ok,
        rps=float(rps.group(1)),
        # wrk's own rate uses its exact duration; the printed one is rounded.
        ok_rps=float(rps.group(1)) * ok / requests if requests else 0.0,
        p50_ms=percents.get("50", math.nan),
        p99_ms=percents.get("99", math.nan),
        non2xx=failed,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
    )


def run(wrk: str, script_path: Path, base_url: str, spec: RequestSpec, connections: int,
        seconds: float) -> LoadResult:
    script_path.write_text(script(spec))
    threads = 1 if connections == 1 else 2
    timeout = [f"--timeout={math.ceil(spec.timeout_s)}s"] if spec.timeout_s is not None else []
    argv = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", *timeout,
            "-s", str(script_path), base_url.rstrip("/") + spec.path]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    except subprocess.TimeoutExpired as error:
        raise LoadError(f"wrk did not finish: {' '.join(argv)}") from error
    if done.returncode != 0:
        raise LoadError(f"wrk failed ({done.returncode}): {' '.join(argv)}\n{done.stdout}{done.stderr}")
    return parse(done.stdout, connections)
