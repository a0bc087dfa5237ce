"""`python -m bench --compare REV`: every chosen measurement against REV's daemon and the current one,
interleaved in one run on this machine, and one table of both.

Each side is an `ilertd` package tree of its own in the run's scratch directory: REV's exported
with `git archive`, the "after" side likewise from `--compare-after REV2`, or else a copy of the
working tree's `ilertd/` taken when the run starts (so edits made during the run do not reach
it). Each is compiled to bytecode before the first measurement, so neither side's first daemon
pays for compiling. Every measurement runs in a `bench.worker` process whose PYTHONPATH puts
that side's tree first (the venv's editable install of the working tree comes after PYTHONPATH),
so the daemons it starts, the stores it seeds through ilertd's models and the schedule functions
it times are that side's code; the bench code is this one on both sides.

Measurements are interleaved pair by pair, with the order turned round every other pair (before,
after, after, before, ...) so that a drift of the machine over the run weighs on both sides
alike. Each measurement's pairs run back to back: a paging measurement, a scale size, the
ingest section, the schedules section (see bench.sections for what is split how). What does not
run ilertd (baselines' uvicorn, SQLite and Alertmanager; webhook's Alertmanager) is measured once
for both.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import baselines, machine, report_compare, sections
from bench.context import Context
from bench.cpu_window import IDLE_SAMPLE_S, IDLE_SAMPLES, IDLE_SHARE, CpuWindow, wait_for_idle
from bench.load import LoadGenerator
from bench.procs import environment

REPO_ROOT = Path(__file__).resolve().parent.parent
PLUGIN_GROUP = "ilertd.plugins"
# How long a worker interrupted with the benchmark is given to stop its daemons.
WORKER_STOP_S = 60.0
# A worker during which other processes took this share of the machine's CPU is said so.
BUSY_WARNING = 0.05
class CompareError(RuntimeError):
    """A side could not be prepared (unknown revision, no git, an export that does not import)."""


@dataclass
class Side:
    name: str
    # What was asked: a revision, or None for the working tree.
    rev: str | None
    # The commit: the revision's, or HEAD's for the working tree.
    commit: str
    # The directory that holds this side's `ilertd` package.
    tree: Path
    # Working tree only: uncommitted changes to ilertd/ or pyproject.toml when it was copied.
    changed_files: list[str]

    @property
    def package(self) -> Path:
        return self.tree / "ilertd"

    def describe(self) -> str:
        if self.rev is not None:
            return f"{self.rev} = {self.commit[:12]} (git archive)"
        changes = (f"with {len(self.changed_files)} uncommitted changed files" if self.changed_files
                   else "no uncommitted changes")
        return f"the working tree, copied at the start: HEAD {self.commit[:12]} {changes}"

    def env(self) -> dict[str, str]:
        return environment(PYTHONPATH=os.pathsep.join((str(self.tree), str(REPO_ROOT))))

    def as_dict(self) -> dict[str, Any]:
        return {"rev": self.rev, "commit": self.commit, "tree": str(self.tree), "describe": self.describe(),
                "changed_files": self.changed_files}


def _git(*args: str) -> str:
    git = shutil.which("git")
    if git is None:
        raise CompareError("--compare needs git on PATH")
    done = subprocess.run([git, "-C", str(REPO_ROOT), *args], capture_output=True, timeout=120)
    if done.returncode != 0:
        raise CompareError(f"git {' '.join(args)}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode()


def resolve(rev: str) -> str:
    try:
        return _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").strip()
    except CompareError as error:
        raise CompareError(f"{rev!r} is no commit of {REPO_ROOT} ({error})") from None


def _export(commit: str, tree: Path) -> None:
    """REV's ilertd/ (and pyproject.toml, for its plugin entry points) by `git archive`."""
    git = shutil.which("git")
    assert git is not None
    done = subprocess.run([git, "-C", str(REPO_ROOT), "archive", "--format=tar", commit, "ilertd",
                           "pyproject.toml"], capture_output=True, timeout=120)
    if done.returncode != 0:
        raise CompareError(f"git archive {commit}: {done.stderr.decode(errors='replace').strip()}")
    tree.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        archive.extractall(tree, filter="data")


def _copy_working_tree(tree: Path) -> list[str]:
    """The working tree's ilertd/ as it is now; the files changed since HEAD."""
    status = _git("status", "--porcelain", "--untracked-files=all", "--", "ilertd", "pyproject.toml")
    changed = [line[3:] for line in status.splitlines() if line.strip() and not line[3:].endswith(".pyc")]
    tree.mkdir(parents=True)
    shutil.copytree(REPO_ROOT / "ilertd", tree / "ilertd", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO_ROOT / "pyproject.toml", tree / "pyproject.toml")
    return changed


def _write_metadata(tree: Path) -> dict[str, str]:
    """A dist-info of this side's own pyproject.toml beside its package; the plugins it names.

    The daemon loads its plugins by entry points, which importlib.metadata reads from the first
    `ilertd` distribution on sys.path: with this one first on PYTHONPATH they are the side's, not
    those of the venv's installed distribution (which another tree's `pip install -e` may have
    written, naming modules this side does not have).
    """
    project = tomllib.loads((tree / "pyproject.toml").read_text())["project"]
    info = tree / f"{project['name']}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\n"
                                   f"Version: {project['version']}\n")
    groups = {"console_scripts": project.get("scripts", {}), **project.get("entry-points", {})}
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in points.items()) + "\n"
        for group, points in groups.items() if points))
    return dict(project.get("entry-points", {}).get(PLUGIN_GROUP, {}))


_PROBE = f"""
import json, ilertd
from importlib import metadata
print(json.dumps({{"file": ilertd.__file__,
                  "plugins": {{ep.name: ep.value for ep in metadata.entry_points(group={PLUGIN_GROUP!r})}}}}))
"""


def _check_import(side: Side, scratch: Path, plugins: dict[str, str]) -> None:
    """The interpreter the workers and daemons run, given this side's environment, imports its
    package and sees its plugins."""
    done = subprocess.run([sys.executable, "-c", _PROBE], cwd=scratch, env=side.env(), capture_output=True,
                          text=True, timeout=60)
    if done.returncode != 0:
        raise CompareError(f"the {side.name} side's ilertd does not import: {done.stderr.strip()}")
    found = json.loads(done.stdout)
    if Path(found["file"]).resolve().parent != side.package.resolve():
        raise CompareError(f"the {side.name} side imports ilertd from {found['file']}, not {side.package}")
    if found["plugins"] != plugins:
        raise CompareError(f"the {side.name} side sees the plugins {found['plugins']}, not those of its"
                           f" pyproject.toml: {plugins}")


def prepare(name: str, rev: str | None, scratch: Path) -> Side:
    tree = scratch / f"side-{name}"
    if rev is None:
        commit = resolve("HEAD")
        changed = _copy_working_tree(tree)
    else:
        commit = resolve(rev)
        _export(commit, tree)
        changed = []
    side = Side(name, rev, commit, tree, changed)
    plugins = _write_metadata(tree)
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", str(side.package)], check=True,
                   stdout=subprocess.DEVNULL, timeout=300)
    _check_import(side, scratch, plugins)
    return side


def order(repeat: int, sides: tuple[Side, Side]) -> list[tuple[int, Side]]:
    """(run index, side) in the order they run: before, after, after, before, before, after, ..."""
    out = []
    for index in range(repeat):
        pair = sides if index % 2 == 0 else (sides[1], sides[0])
        out += [(index, side) for side in pair]
    return out


class Runner:
    """Starts the workers, one measurement of one side at a time, and keeps what each returned."""

    def __init__(self, ctx: Context, sides: tuple[Side, Side], repeat: int, idle_wait: float) -> None:
        self.ctx = ctx
        self.sides = sides
        self.repeat = repeat
        self.idle_wait = idle_wait
        self.log: list[dict[str, Any]] = []
        self.failed = False

    def worker(self, section: str, unit: str | None, index: int, side: Side) -> dict[str, Any]:
        """One measurement of one side in a worker process: its section part, `{section: {...}}`."""
        label = f"{section}{'/' + unit if unit else ''}"
        scratch = Path(tempfile.mkdtemp(prefix=f"{side.name}{index + 1}-{label.replace('/', '-')}-",
                                        dir=self.ctx.scratch))
        out = scratch / "result.json"
        tag = f"{side.name}#{index + 1} "
        argv = [sys.executable, "-m", "bench.worker", "--section", section, "--run-id",
                f"{self.ctx.run_id}{side.name[0]}{index + 1}", "--scratch", str(scratch), "--out", str(out),
                "--started", repr(self.ctx.started), "--tag", tag, "--expect-ilertd", str(side.package)]
        if unit is not None:
            argv += ["--unit", unit]
        if self.ctx.quick:
            argv.append("--quick")
        idle = wait_for_idle(self.idle_wait)
        if idle["idle_wait_s"] > IDLE_SAMPLE_S * IDLE_SAMPLES + 0.5:
            quiet = "idle" if idle["busy_share_before"] < IDLE_SHARE else "still busy: going on"
            self.ctx.log(f"{tag}{label}: waited {idle['idle_wait_s']:.0f} s for other processes to let the"
                         f" machine idle ({quiet}, {idle['busy_share_before']:.0%} busy)")
        self.ctx.log(f"{tag}{label}: worker with {side.describe()}")
        began = time.monotonic()
        cpu = CpuWindow()
        # Its progress goes to stderr with ours; stdout stays the table's.
        process = subprocess.Popen(argv, cwd=scratch, env=side.env(), stdout=sys.stderr,
                                   stdin=subprocess.DEVNULL)
        try:
            code = process.wait()
        except KeyboardInterrupt:
            # A Ctrl-C at the terminal has reached the worker too (one process group), SIGINT sent
            # to this process alone has not: SIGTERM, which it takes as the same, and time to stop
            # its daemons (the first of the two signals counts, the other is ignored).
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(WORKER_STOP_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            raise
        usage = cpu.close()
        data: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
        part = data.get("part") or {section: {"error": f"the worker exited with status {code} and wrote"
                                                       " no figures"}}
        if code != 0:
            self.failed = True
        self.log.append({"section": section, "unit": unit, "side": side.name, "run": index + 1,
                         "began_s": began - self.ctx.started, "seconds": time.monotonic() - began,
                         "exit_status": code, "status": data.get("status"), "ilertd": data.get("ilertd"),
                         **idle, **usage})
        if usage["other_cpu_share"] >= BUSY_WARNING:
            self.ctx.log(f"{tag}{label}: other processes used {usage['other_cpu_share']:.0%} of the machine's"
                         " CPU meanwhile (noise in this run's figures)")
        return part

    def section(self, name: str, units: list[str | None]) -> dict[str, list[dict[str, Any]]]:
        """Each side's runs of a section: its units one after the other, each interleaved by pairs."""
        parts: dict[str, list[list[dict[str, Any]]]] = {
            side.name: [[] for _ in range(self.repeat)] for side in self.sides}
        for unit in units:
            for index, side in order(self.repeat, self.sides):
                parts[side.name][index].append(self.worker(name, unit, index, side))
        return {side: [sections.merge(name, run) for run in runs] for side, runs in parts.items()}


def _ilertd_parts(runner: Runner, name: str, chosen: list[str],
                  runs: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Each side's ilertd part of a SHARED section, `{name: {"ilertd": ...}}` per run: baselines'
    from that side's ingest runs of this comparison when there are any, else measured by workers."""
    if name != "baselines" or "ingest" not in chosen:
        return runner.section(name, ["ilertd"])
    return {side: [{"baselines": {"ilertd": baselines.ilertd_from_ingest(run["ingest"])}
                    if "points" in run.get("ingest", {}) else
                    {"baselines": {"error": "no ingest figures in this run"}}}
                   for run in side_runs] for side, side_runs in runs.items()}


def _shared_section(runner: Runner, name: str, chosen: list[str], runs: dict[str, list[dict[str, Any]]],
                    shared: dict[str, Any]) -> None:
    """A SHARED section: what does not run ilertd once, here; each side's ilertd part by the workers
    (or, for baselines, from the ingest runs), each run joined with the shared part."""
    ctx = runner.ctx
    section = sections.module(name)
    ctx.log(f"section {name}: what does not run ilertd once, for both sides")
    try:
        shared[name] = section.shared(ctx)
    except Exception as error:
        runner.failed = True
        shared[name] = {"error": f"{type(error).__name__}: {error}"}
    if shared[name].get("failed_measurements"):
        runner.failed = True
    for side, side_parts in _ilertd_parts(runner, name, chosen, runs).items():
        for run, part in zip(runs[side], side_parts, strict=True):
            own = part.get(name, {})
            if "error" in shared[name] or "ilertd" not in own:
                reason = shared[name].get("error") or own.get("error", "no figures")
                run[name] = {"error": reason}
            else:
                run[name] = section.combine(shared[name], own["ilertd"])


def compare(quick: bool, chosen: list[str], before_rev: str, after_rev: str | None, repeat: int,
            idle_wait: float, run_id: str, scratch: Path) -> tuple[dict[str, Any], bool]:
    """The figures of both sides (the JSON of the run) and whether anything failed."""
    ctx = Context(quick=quick, run_id=run_id, scratch=scratch, load=LoadGenerator(scratch))
    ctx.log(f"compare: preparing before ({before_rev}) and after ({after_rev or 'the working tree'})")
    sides = (prepare("before", before_rev, scratch), prepare("after", after_rev, scratch))
    for side in sides:
        ctx.log(f"  {side.name}: {side.describe()}")
    runner = Runner(ctx, sides, repeat, idle_wait)
    results: dict[str, Any] = {
        "mode": "quick" if quick else "full",
        "sections": chosen,
        "machine": machine.facts(scratch),
        "load_generator": ctx.load.describe(),
        "compare": {"before": sides[0].as_dict(), "after": sides[1].as_dict(), "repeat": repeat,
                    "order": [side.name for _, side in order(repeat, sides)], "idle_wait_s": idle_wait,
                    "idle_share": IDLE_SHARE},
    }
    ctx.log(f"load generator: {results['load_generator']}")
    runs: dict[str, list[dict[str, Any]]] = {
        side.name: [{"sections": chosen} for _ in range(repeat)] for side in sides}
    shared: dict[str, Any] = {}
    for name in chosen:
        began = time.monotonic()
        ctx.log(f"section {name}")
        if name in sections.SHARED:
            _shared_section(runner, name, chosen, runs, shared)
        else:
            for side, side_runs in runner.section(name, sections.units(name, ctx)).items():
                for run, part in zip(runs[side], side_runs, strict=True):
                    run.update(part)
        ctx.log(f"section {name}: {time.monotonic() - began:.0f} s")
    if not imports_no_ilertd():
        ctx.log("WARNING: this process imported ilertd (only the workers should)")
    before, after = runs["before"], runs["after"]
    results.update({
        "figures": report_compare.compare_figures(before, after),
        "targets": report_compare.compare_targets(before, after),
        "shared": shared,
        "before": {"runs": before, "problems": [report_compare.problems(run) for run in before]},
        "after": {"runs": after, "problems": [report_compare.problems(run) for run in after]},
        "workers": runner.log,
        "elapsed_s": time.monotonic() - ctx.started,
    })
    found = any(results[side]["problems"][i] for side in ("before", "after") for i in range(repeat))
    return results, runner.failed or found


def imports_no_ilertd() -> bool:
    """True while this process has loaded no `ilertd` (the comparison's own process must not)."""
    return not any(name == "ilertd" or name.startswith("ilertd.") for name in sys.modules)
