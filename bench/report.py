"""The printed report of a run: its header, each section's table, and the targets with their marks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench import sections
from bench.report_format import is_missing, num, table
from bench.report_paging import render_paging
from bench.report_sections import (
    render_baselines,
    render_ingest,
    render_scale,
    render_schedules,
    render_ui,
    render_webhook,
)


def _render_targets(targets: Sequence[dict[str, Any]]) -> list[str]:
    rows = []
    for t in targets:
        if is_missing(t["figure"]):
            figure = "-"
        else:
            figure = f"{num(t['figure'], 2 if t['unit'] in ('s', 'ms') else 1)} {t['unit']}".strip()
        rows.append([t["target"], figure, t["limit"], t["mark"], t.get("beside") or "-"])
    return ["targets", table(["target", "figure", "target", "mark", "beside it"], rows, left=1)]


def header_lines(results: dict[str, Any], title: str) -> list[str]:
    machine = results["machine"]
    versions = machine["versions"]
    return [
        f"{title} ({results['mode']}), {machine['date']}, {results['elapsed_s']:.0f} s",
        f"machine: {machine['cpu_model']}, {machine['cores']} cores, Linux {machine['kernel']},"
        f" {machine['python']}, SQLite {machine['sqlite']}, scratch on {machine['scratch_filesystem']}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v),
        f"load generator: {results['load_generator']}",
    ]


def render(results: dict[str, Any]) -> str:
    lines = header_lines(results, "ilertd benchmark")
    renderers = {"ingest": render_ingest, "baselines": render_baselines, "webhook": render_webhook,
                 "scale": render_scale, "paging": render_paging, "schedules": render_schedules,
                 "ui": render_ui}
    for name in results["sections"]:
        lines.append("")
        # A section not named here prints its own table (`render` in its module).
        render_section = renderers.get(name) or sections.module(name).render
        lines.extend(render_section(results.get(name, {"error": "did not run"})))
    lines.append("")
    lines.extend(_render_targets(results["targets"]))
    return "\n".join(lines)
