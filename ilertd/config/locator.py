"""Where each key stands in the TOML text, since tomllib reports no positions for values."""

from __future__ import annotations

import re

from ilertd.config.schema import KeyPath

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _parse_key(text: str, i: int) -> tuple[list[str], int] | None:
    """Read a possibly dotted, possibly quoted TOML key at text[i:]; None if there is none."""
    parts: list[str] = []
    n = len(text)
    while True:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            return None
        ch = text[i]
        if ch == '"':
            j = i + 1
            buf: list[str] = []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            if j >= n:
                return None
            parts.append("".join(buf))
            i = j + 1
        elif ch == "'":
            j = text.find("'", i + 1)
            if j < 0:
                return None
            parts.append(text[i + 1 : j])
            i = j + 1
        else:
            m = _BARE_KEY.match(text, i)
            if not m:
                return None
            parts.append(m.group())
            i = m.end()
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == ".":
            i += 1
            continue
        return parts, i


class KeyLocator:
    """Maps key paths to the line defining them, since tomllib reports no positions for values."""

    def __init__(self, text: str) -> None:
        self._lines: dict[KeyPath, int] = {}
        # Lines inside multi-line strings and arrays can look like headers or keys; track them.
        self._open_string: str | None = None
        self._depth = 0
        table: KeyPath = ()
        for lineno, line in enumerate(text.splitlines(), start=1):
            if self._open_string is not None or self._depth > 0:
                self._scan_value(line, 0)
                continue
            stripped = line.lstrip()
            start = len(line) - len(stripped)
            if stripped.startswith("["):
                opener = 2 if stripped.startswith("[[") else 1
                parsed = _parse_key(line, start + opener)
                if parsed is not None and line.startswith("]", parsed[1]):
                    table = tuple(parsed[0])
                    self._record(table, lineno)
                continue
            if not stripped or stripped.startswith("#"):
                continue
            parsed = _parse_key(line, start)
            if parsed is not None and line.startswith("=", parsed[1]):
                self._record((*table, *parsed[0]), lineno)
                self._scan_value(line, parsed[1] + 1)

    def _record(self, path: KeyPath, lineno: int) -> None:
        # Prefixes too, so an implicitly created table is located at its first mention.
        for n in range(1, len(path) + 1):
            self._lines.setdefault(path[:n], lineno)

    def _scan_value(self, line: str, i: int) -> None:
        n = len(line)
        while i < n:
            if self._open_string is not None:
                delim = self._open_string
                while i < n:
                    if delim == '"""' and line[i] == "\\":
                        i += 2
                        continue
                    if line.startswith(delim, i):
                        self._open_string = None
                        i += 3
                        break
                    i += 1
                continue
            ch = line[i]
            if ch == "#":
                return
            if ch in "\"'":
                if line.startswith(ch * 3, i):
                    self._open_string = ch * 3
                    i += 3
                    continue
                j = i + 1
                while j < n and line[j] != ch:
                    j += 2 if ch == '"' and line[j] == "\\" else 1
                i = j + 1
                continue
            if ch in "[{":
                self._depth += 1
            elif ch in "]}":
                self._depth = max(0, self._depth - 1)
            i += 1

    def line_of(self, path: KeyPath) -> int | None:
        """The line of `path`, else of its nearest enclosing table or key, else None."""
        for n in range(len(path), 0, -1):
            lineno = self._lines.get(path[:n])
            if lineno is not None:
                return lineno
        return None
