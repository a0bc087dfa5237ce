"""What a load point sends (`RequestSpec`) and what it measured (`LoadResult`), for any generator."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

# A placeholder no JSON body of ours contains, so it is swapped per request without parsing.
MARK = "@SEQ@"


@dataclass(frozen=True)
class RequestSpec:
    """Every request of a load point: a JSON POST to `path`, its body fixed or varied by MARK.

    `distinct`: MARK becomes "<prefix>-<worker>-<counter>", so no two requests share it.
    `keys` (Python client only): one request per key, MARK replaced by it, then the point ends.
    `timeout_s`: how long a request may wait for its reply (wrk counts a later one a timeout, the
    Python client waits that long after the window for replies in flight); None keeps each
    generator's own (2 s), which a batch of alerts may take longer than under load.
    """

    path: str
    body: str
    distinct: bool = False
    prefix: str = ""
    keys: tuple[str, ...] = ()
    timeout_s: float | None = None

    def parts(self) -> list[str]:
        """The body around each MARK: every MARK of one request gets the same token (a batch of
        alerts tells its alerts apart by a suffix after the MARK)."""
        return self.body.split(MARK)


@dataclass
class LoadResult:
    generator: str
    connections: int
    seconds: float
    # Completed responses in the window; `ok` counts every 2xx seen, so it can count the 202s
    # against what the store holds.
    requests: int
    ok: int
    rps: float
    ok_rps: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int
    errors: int = field(init=False)

    def __post_init__(self) -> None:
        self.errors = self.non2xx + self.socket_errors

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class LoadError(RuntimeError):
    """The load generator could not run a point (no connection, crash); carries its output."""


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence; NaN when empty."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(fraction * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])
