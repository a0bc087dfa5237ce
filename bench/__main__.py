"""`python -m bench`: run the sections, print the table, write every figure as JSON.

`python -m bench --compare REV`: each chosen measurement against the daemon of git revision REV
(before) and the working tree's (after; or revision REV2 with `--compare-after REV2`),
interleaved in one run; one table with both and their ratio, and both in the JSON.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import machine, report, report_compare, report_format, report_targets, sections
from bench.context import Context
from bench.load import LoadGenerator

DEFAULT_JSON = Path(__file__).resolve().parent / "results.json"
DEFAULT_COMPARE_JSON = Path(__file__).resolve().parent / "compare.json"
DEFAULT_REPEAT = 2
DEFAULT_IDLE_WAIT_S = 30.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="3 s per load point, 1k/10k incidents, fewer pages and calls (under a minute)")
    parser.add_argument("--json", type=Path, metavar="PATH",
                        help=f"where to write the figures (default: {DEFAULT_JSON}, with --compare"
                             f" {DEFAULT_COMPARE_JSON})")
    parser.add_argument("--only", nargs="+", action="extend", choices=list(sections.NAMES), metavar="SECTION",
                        help=f"run only these sections ({', '.join(sections.NAMES)}; without it:"
                             f" {', '.join(sections.DEFAULT)})")
    parser.add_argument("--compare", metavar="REV",
                        help="measure git revision REV's daemon (before) against the working tree's (after),"
                             " interleaved, and print both with their ratio")
    parser.add_argument("--compare-after", metavar="REV2",
                        help="with --compare: the after side is revision REV2 (e.g. HEAD), not the working"
                             " tree")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, metavar="N",
                        help=f"with --compare: runs of each measurement per side (default {DEFAULT_REPEAT})")
    parser.add_argument("--idle-wait", type=float, default=DEFAULT_IDLE_WAIT_S, metavar="S",
                        help="with --compare: before each measurement wait up to S seconds for the"
                             " machine's other processes to leave it idle"
                             f" (default {DEFAULT_IDLE_WAIT_S:g}; 0: never wait)")
    return parser


def _run_sections(args: argparse.Namespace, chosen: list[str], run_id: str) -> tuple[dict[str, Any], bool]:
    """Every chosen section in this process, against the working tree's ilertd."""
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
                part = sections.run(name, ctx)
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
        results["targets"] = report_targets.evaluate(results)
        results["elapsed_s"] = time.monotonic() - ctx.started
    return results, failed


def _compare(args: argparse.Namespace, chosen: list[str], run_id: str) -> tuple[dict[str, Any], bool]:
    from bench import compare

    with tempfile.TemporaryDirectory(prefix="ilertd-bench-compare-") as scratch_dir:
        return compare.compare(args.quick, chosen, args.compare, args.compare_after, args.repeat,
                               args.idle_wait, run_id, Path(scratch_dir))


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.compare_after and not args.compare:
        parser.error("--compare-after needs --compare REV")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    chosen = [name for name in sections.NAMES if name in args.only] if args.only else list(sections.DEFAULT)
    # Time-based and random: keys of this run never collide with those of an earlier one.
    run_id = f"{int(time.time()):x}{secrets.token_hex(2)}"
    if args.compare:
        from bench.compare import CompareError

        try:
            results, failed = _compare(args, chosen, run_id)
        except CompareError as error:
            print(f"python -m bench: {error}", file=sys.stderr)
            return 2
        results = report_format.plain(results)
        text = report_compare.render_compare(results)
        path = args.json or DEFAULT_COMPARE_JSON
    else:
        results, failed = _run_sections(args, chosen, run_id)
        results = report_format.plain(results)
        text = report.render(results)
        path = args.json or DEFAULT_JSON
    print(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nfigures written to {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        # The sections' finally blocks have stopped their processes by the time this is reached.
        print("interrupted; no figures written", file=sys.stderr)
        raise SystemExit(130) from None
