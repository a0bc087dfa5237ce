"""The benchmark's sections, imported only when one runs.

Four of them use `ilertd` in this process (scale, paging and ui seed stores through its models,
schedules times its functions): under `--compare` that must be the `ilertd` of the side a worker
measures, so the process that starts the workers never imports schedules, and scale, paging and
ui (through `bench.seed`) import `ilertd` only when they seed.

A section is a module with `run(ctx)`. One that `--compare` splits into measurements run apart
(each interleaved between the two sides on its own) is named in SPLIT, has `units(ctx)`, the
names of those measurements, takes `run(ctx, units=[name])`, and joins their results with
`merge(parts)`. One that also measures what does not run ilertd (Alertmanager, uvicorn) is named
in SHARED: `--compare` measures that once for both sides with `shared(ctx)`, each side's ilertd
with `run(ctx, units=["ilertd"])` (its result under the key "ilertd"), and joins them with
`combine(shared, ilertd)`.

A section in NAMES but not in DEFAULT (soak: minutes of wall time by design) runs only when
named with `--only`.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from bench.context import Context

NAMES = ("ingest", "baselines", "webhook", "scale", "paging", "schedules", "ui", "soak")
DEFAULT = ("ingest", "baselines", "webhook", "scale", "paging", "schedules", "ui")
SPLIT = ("scale", "paging")
SHARED = ("baselines", "webhook")


def module(name: str) -> ModuleType:
    if name not in NAMES:
        raise ValueError(f"no section {name!r}")
    return importlib.import_module(f"bench.{name}")


def units(name: str, ctx: Context) -> list[str | None]:
    """The measurements of a section run apart under `--compare`; [None]: the whole section at once."""
    return list(module(name).units(ctx)) if name in SPLIT else [None]


def run(name: str, ctx: Context, unit: str | None = None) -> dict[str, Any]:
    section = module(name)
    return section.run(ctx) if unit is None else section.run(ctx, units=[unit])


def merge(name: str, parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One section result (`{name: {...}}`) from the results of its units, in their order."""
    if len(parts) == 1:
        return dict(parts[0])
    if name not in SPLIT:
        raise ValueError(f"section {name} has no units to merge")
    return {name: module(name).merge([part[name] for part in parts])}
