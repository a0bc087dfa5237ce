"""Child processes of the benchmark: start, wait for readiness, read /proc, and always stop them."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

STOP_GRACE_S = 10.0


class ServiceError(RuntimeError):
    """A child process died or never became ready; the message carries its log tail."""


def free_port() -> int:
    # Another process may take the port between close and reuse; on a quiet loopback it does not.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Service:
    """One child process whose stdout and stderr go to files in `log_dir`, stopped on exit."""

    def __init__(self, name: str, argv: list[str], log_dir: Path, cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.cwd = cwd
        self.env = env
        log_dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = log_dir / f"{name}.stdout"
        self.stderr_path = log_dir / f"{name}.stderr"
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> Service:
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.started_at = time.monotonic()
            # A session of its own: Ctrl-C reaches only the benchmark, whose finally stops this
            # child in order instead of racing it.
            self.process = subprocess.Popen(
                self.argv, cwd=self.cwd, env=self.env, stdout=out, stderr=err,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was not started"
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            code = self.process.returncode if self.process is not None else None
            raise ServiceError(f"{self.name} exited (status {code}):\n{self.log_tail()}")

    def wait_for_stdout(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            match = regex.search(self.stdout_path.read_text(errors="replace"))
            if match:
                return match
            self.check_alive()
            time.sleep(0.01)
        raise ServiceError(f"{self.name} printed no line matching {pattern!r} in {timeout:.0f} s:\n"
                           f"{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        parts = []
        for path in (self.stdout_path, self.stderr_path):
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(parts)

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def stop(self, grace: float = STOP_GRACE_S) -> int | None:
        """SIGTERM, then SIGKILL after `grace` seconds; the exit status, None if never started."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait()
        return process.returncode

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


def proc_status(pid: int) -> dict[str, float]:
    """RSS in MiB and thread count from /proc/<pid>/status (Linux)."""
    fields: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name == "VmRSS":
                fields["rss_mib"] = int(value.split()[0]) / 1024
            elif name == "Threads":
                fields["threads"] = int(value)
    return fields


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far, from /proc/<pid>/stat (Linux)."""
    with open(f"/proc/{pid}/stat") as stat:
        # The command name may hold spaces: the fields after it start past its closing parenthesis.
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_idle_seconds() -> float:
    """Idle (and I/O wait) CPU time of the whole machine so far, all cores, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    return (int(fields[4]) + int(fields[5])) / os.sysconf("SC_CLK_TCK")


def wait_until_idle(pid: int, share: float = 0.05, sample_s: float = 0.2, limit_s: float = 60.0) -> float:
    """Wait until the process used under `share` of a core over one `sample_s`, or `limit_s` went
    by: work a load generator left in flight (requests it gave up on) is then done. The wait."""
    began = time.monotonic()
    while time.monotonic() - began < limit_s:
        before, at = cpu_seconds(pid), time.monotonic()
        time.sleep(sample_s)
        if cpu_seconds(pid) - before < share * (time.monotonic() - at):
            break
    return time.monotonic() - began


def environment(**extra: str) -> dict[str, str]:
    """This process's environment without ILERTD_ settings, which would change what is measured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ILERTD_")}
    env.update(extra)
    return env
