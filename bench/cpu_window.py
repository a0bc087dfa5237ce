"""The machine's CPU around a measurement: waiting for it to be idle first, and how much of it
other processes took meanwhile (the noise a side-by-side comparison cannot remove)."""

from __future__ import annotations

import math
import os
import resource
import time

# Before each measurement: wait (at most --idle-wait seconds) until the machine has been this
# idle for IDLE_SAMPLES samples of IDLE_SAMPLE_S in a row: another process's test run on the
# same two cores would otherwise land in one side's figures.
IDLE_SHARE = 0.10
IDLE_SAMPLE_S = 0.5
IDLE_SAMPLES = 2


def _machine_cpu() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine since boot, from /proc/stat (Linux); zeros elsewhere."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    # user nice system idle iowait irq softirq steal ...: guest time is inside user already.
    busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6]
    return busy / tick, (fields[7] if len(fields) > 7 else 0) / tick


def _own_cpu() -> float:
    """CPU seconds of this process and of every descendant reaped so far (workers, daemons, wrk)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime


class CpuWindow:
    """The CPU time other processes of the machine (not the benchmark's) used over a window: the
    noise the benchmark cannot remove. Every process a worker starts is reaped before it ends."""

    def __init__(self) -> None:
        self.began = time.monotonic()
        self.machine, self.steal = _machine_cpu()
        self.own = _own_cpu()

    def close(self) -> dict[str, float]:
        wall = time.monotonic() - self.began
        machine, steal = _machine_cpu()
        own = _own_cpu() - self.own
        other = max(0.0, machine - self.machine - own)
        cores = os.cpu_count() or 1
        return {"wall_s": wall, "own_cpu_s": own, "other_cpu_s": other,
                "other_cpu_share": other / (wall * cores) if wall > 0 else 0.0, "steal_s": steal - self.steal}


def wait_for_idle(limit: float) -> dict[str, float]:
    """Wait until the machine's CPU (this process waits idle) has been used under IDLE_SHARE for
    IDLE_SAMPLES samples in a row, or `limit` seconds went by; how long it waited, and the last share."""
    began = time.monotonic()
    cores = os.cpu_count() or 1
    quiet = 0
    share = 0.0
    if limit <= 0:
        return {"idle_wait_s": 0.0, "busy_share_before": math.nan}
    while True:
        busy0, _ = _machine_cpu()
        at = time.monotonic()
        time.sleep(IDLE_SAMPLE_S)
        busy1, _ = _machine_cpu()
        share = (busy1 - busy0) / ((time.monotonic() - at) * cores)
        quiet = quiet + 1 if share < IDLE_SHARE else 0
        if quiet >= IDLE_SAMPLES or time.monotonic() - began >= limit:
            return {"idle_wait_s": time.monotonic() - began, "busy_share_before": share}
