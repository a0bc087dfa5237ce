"""Formatting the printed reports share: plain-text tables, numbers, ratios, and figures made JSON-safe."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def plain(value: Any) -> Any:
    """NaN (an empty percentile) becomes None, for JSON, which has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1, indent: str = "  ") -> str:
    """Columns padded to their widest cell; the first `left` columns left-aligned, the rest right."""
    cells = [list(header), *[list(row) for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for row in cells:
        parts = [cell.ljust(widths[i]) if i < left else cell.rjust(widths[i]) for i, cell in enumerate(row)]
        lines.append((indent + "  ".join(parts)).rstrip())
    return "\n".join(lines)


def num(value: Any, digits: int = 1) -> str:
    if is_missing(value):
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def ratio_text(value: Any) -> str:
    return "-" if is_missing(value) else f"{value:.2f}x"


def conns_text(connections: int) -> str:
    return f"{connections} conn{'s' if connections != 1 else ''}"


def errors_notes(label: str, points: Sequence[dict[str, Any]]) -> list[str]:
    notes = []
    for p in points:
        if p.get("errors"):
            where = f"{label} {p.get('keys', '')}".strip()
            notes.append(f"  ERRORS in {where} c={p['connections']}: {p['non2xx']} non-2xx,"
                         f" {p['socket_errors']} socket errors (connect/read/write/timeout)")
    return notes
