"""`python -m bench`: run the sections, print the table, write every figure as JSON."""

from __future__ import annotations

import argparse
import json
import math
import secrets
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import baselines, ingest, machine, paging, report, scale, schedules
from bench.context import Context
from bench.load import LoadGenerator

SECTIONS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "ingest": ingest.run,
    "baselines": baselines.run,
    "scale": scale.run,
    "paging": paging.run,
    "schedules": schedules.run,
}
DEFAULT_JSON = Path(__file__).resolve().parent / "results.json"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="3 s per load point, 1k/10k incidents, fewer pages and calls (under a minute)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, metavar="PATH",
                        help=f"where to write the figures (default: {DEFAULT_JSON})")
    parser.add_argument("--only", nargs="+", action="extend", choices=list(SECTIONS), metavar="SECTION",
                        help=f"run only these sections ({', '.join(SECTIONS)})")
    return parser


def _plain(value: Any) -> Any:
    """NaN (an empty percentile) becomes null: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    chosen = [name for name in SECTIONS if not args.only or name in args.only]
    # Time-based and random: keys of this run never collide with those of an earlier one.
    run_id = f"{int(time.time()):x}{secrets.token_hex(2)}"
    failed = False
    with tempfile.TemporaryDirectory(prefix="ilertd-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        ctx = Context(quick=args.quick, run_id=run_id, scratch=scratch, load=LoadGenerator(scratch))
        results: dict[str, Any] = {
            "mode": "quick" if args.quick else "full",
            "sections": chosen,
            "machine": machine.facts(scratch),
            "load_generator": ctx.load.describe(),
        }
        ctx.log(f"load generator: {results['load_generator']}")
        for name in chosen:
            began = time.monotonic()
            ctx.log(f"section {name}")
            try:
                part = SECTIONS[name](ctx)
            except Exception as error:
                failed = True
                traceback.print_exc(file=sys.stderr)
                part = {name: {"error": f"{type(error).__name__}: {error}"}}
            part[name]["section_s"] = time.monotonic() - began
            # A section may keep the figures it has and still report a part that failed.
            if part[name].get("failed_measurements"):
                failed = True
            ctx.results.update(part)
            results.update(part)
        results["targets"] = report.evaluate(results)
        results["elapsed_s"] = time.monotonic() - ctx.started
    results = _plain(results)
    print(report.render(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nfigures written to {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        # The sections' finally blocks have stopped their processes by the time this is reached.
        print("interrupted; no figures written", file=sys.stderr)
        raise SystemExit(130) from None
