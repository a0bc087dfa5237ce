"""One measurement of `python -m bench --compare`, in a process of its own that runs one side's `ilertd`.

`bench.compare` starts it with PYTHONPATH=<that side's tree>:<the bench's tree> and a scratch
directory as its working directory, so that `ilertd` here and in every process it starts (the
daemons, `ilertd serve` from the venv's script or `python -m ilertd`, inherit PYTHONPATH) is
that side's: the daemons measured, the stores seeded through its models, and the schedule
functions timed in this process. The bench code itself is always the caller's.

It runs a section (or one unit of it: a paging measurement, a scale size, baselines' `ilertd`)
and writes `{"part": {section: {...}}, "ilertd": <where ilertd came from>, "status": ...}` to --out.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from bench import sections
from bench.context import Context
from bench.load import LoadGenerator
from bench.report_format import plain


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.worker", description=__doc__)
    parser.add_argument("--section", required=True, choices=sections.NAMES)
    parser.add_argument("--unit", help="one measurement of the section (see bench.sections)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--scratch", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--started", type=float, required=True,
                        help="the caller's time.monotonic() at its start, for continuous progress times")
    parser.add_argument("--tag", default="", help="put before every progress line")
    parser.add_argument("--expect-ilertd", type=Path, required=True,
                        help="the ilertd package directory this process must import")
    return parser


_stopping = False


def _on_stop(number: int, _frame: FrameType | None) -> None:
    """SIGINT or SIGTERM, the first of them: as Ctrl-C, so the sections' finally blocks stop the
    daemons this worker started; later ones (a Ctrl-C at the terminal reaches this process and
    the benchmark, which then sends SIGTERM) are ignored so that they do not cut that short."""
    global _stopping
    if _stopping:
        return
    _stopping = True
    print(f"bench.worker: {signal.Signals(number).name}: stopping", file=sys.stderr, flush=True)
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _on_stop)
    signal.signal(signal.SIGINT, _on_stop)
    import ilertd

    where = Path(ilertd.__file__).resolve().parent
    if where != args.expect_ilertd.resolve():
        print(f"bench.worker: imported ilertd from {where}, not {args.expect_ilertd}", file=sys.stderr)
        return 2
    ctx = Context(quick=args.quick, run_id=args.run_id, scratch=args.scratch,
                  load=LoadGenerator(args.scratch), started=args.started, tag=args.tag)
    status = "ok"
    try:
        part: dict[str, Any] = sections.run(args.section, ctx, args.unit)
    except Exception as error:
        traceback.print_exc(file=sys.stderr)
        status = "error"
        part = {args.section: {"error": f"{type(error).__name__}: {error}"}}
    if part[args.section].get("failed_measurements"):
        status = "failed measurements"
    args.out.write_text(json.dumps(plain({"part": part, "ilertd": str(where), "status": status})))
    return 0 if status == "ok" else 1


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        raise SystemExit(130) from None
