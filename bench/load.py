"""The load generator: wrk where it is installed, else the multi-process Python client."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from bench import pyload, wrk
from bench.spec import LoadResult, RequestSpec


class LoadGenerator:
    """wrk where it is installed, else a multi-process Python client; `run` is the same for both."""

    def __init__(self, scratch: Path, use_wrk: bool = True) -> None:
        self.scratch = scratch
        self.wrk = shutil.which("wrk") if use_wrk else None
        self._scripts = 0

    @property
    def name(self) -> str:
        return "wrk" if self.wrk else "python"

    def describe(self) -> str:
        if self.wrk:
            return f"wrk ({self.wrk_version()})"
        return ("python fallback (wrk not on PATH): 2 processes of keep-alive sockets; its CPU time"
                " comes out of the same 2 cores as the server's")

    def wrk_version(self) -> str:
        if not self.wrk:
            return ""
        done = subprocess.run([self.wrk, "--version"], capture_output=True, text=True, timeout=10)
        first = (done.stdout or done.stderr).splitlines()
        return first[0].split(" Copyright")[0].strip() if first else "unknown"

    def run(self, base_url: str, spec: RequestSpec, connections: int, seconds: float | None) -> LoadResult:
        """One load point: `seconds` long, or (seconds None) one request per key of `spec.keys`."""
        if self.wrk and not spec.keys and seconds is not None:
            self._scripts += 1
            script = self.scratch / f"point-{self._scripts}.lua"
            return wrk.run(self.wrk, script, base_url, spec, connections, seconds)
        return pyload.run(base_url, spec, connections, seconds)
