"""The config-as-code document (`ilertd provision`, `ilertd export`): TOML read with the line of every
table and key, and its shape checked (provision_render writes it back in one canonical form).

The document holds four arrays of tables, `users`, `schedules`, `escalationPolicies` and
`alertSources`, whose keys are the API's JSON field names. Each object is named by `name`
(`username` for users) and refers to others by name (`{name = "alice"}`), never by id. Only the
shape is checked here (known keys, tables where tables belong, references that are references);
the values are the application layer's to check, as the API's are.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from ilertd.domain.text_input import storable_value
from ilertd.domain.wording import quoted

KINDS = ("users", "schedules", "escalationPolicies", "alertSources")
WHAT = {"users": "user", "schedules": "schedule", "escalationPolicies": "escalation policy",
        "alertSources": "alert source"}
NAME_KEY = {"users": "username", "schedules": "name", "escalationPolicies": "name", "alertSources": "name"}

# The keys of each object, in the order `render` writes them.
KEYS: dict[str, tuple[str, ...]] = {
    "users": ("username", "firstName", "lastName", "email", "timezone", "role", "contacts",
              "notificationRules", "updateRules", "dutyRules"),
    "schedules": ("name", "type", "timezone", "shifts", "scheduleLayers"),
    "escalationPolicies": ("name", "repeating", "frequency", "escalationRules"),
    "alertSources": ("name", "integrationType", "priority", "escalationPolicy", "signingSecret",
                     "phoneNumber", "fieldMapping", "supportHours"),
}
# The arrays of tables inside an object, and the keys of their items.
ITEM_KEYS: dict[str, tuple[str, ...]] = {
    "contacts": ("method", "target"),
    "notificationRules": ("type", "method", "contact", "delayMin"),
    "updateRules": ("type", "method", "contact"),
    "dutyRules": ("method", "contact", "beforeMin"),
    "scheduleLayers": ("name", "users", "rotation", "startsOn", "endsOn", "restrictions"),
    "shifts": ("user", "start", "end"),
    "escalationRules": ("escalationTimeout", "users", "schedules"),
}
ITEMS_OF = {
    "users": ("contacts", "notificationRules", "updateRules", "dutyRules"),
    "schedules": ("scheduleLayers", "shifts"),
    "escalationPolicies": ("escalationRules",),
    "alertSources": (),
}
# Arrays of tables `render` writes as `[[kind.key]]` sections rather than one line per item.
SECTIONS = ("scheduleLayers", "escalationRules")
CONTACT_REF_KEYS = ("method", "target")

_SYNTAX_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]]+?)\s*\]\]?\s*(#.*)?$")


class DocumentError(ValueError):
    """What is wrong with the document and on which line (1-based; 0 when it has no line)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Entry:
    """One object of the document: the i-th table of its kind, with the lines it spans."""

    kind: str
    index: int
    name: str
    body: dict[str, Any]
    first_line: int
    last_line: int

    @property
    def label(self) -> str:
        return f"{WHAT[self.kind]} {quoted(self.name)}"


@dataclass(frozen=True)
class Document:
    lines: tuple[str, ...]
    entries: tuple[Entry, ...]

    def of_kind(self, kind: str) -> list[Entry]:
        return [entry for entry in self.entries if entry.kind == kind]

    def line_of(self, entry: Entry, path: str = "") -> int:
        """The line of `path` inside `entry` (`scheduleLayers[1].rotation`, `contacts[0].target`),
        or of the nearest part of it the text shows; the entry's first line at worst."""
        return _Locator(self.lines).find(entry, _path_parts(path))


def read_document(text: str) -> Document:
    """The document's objects, their shape checked; DocumentError names the line of the first fault."""
    # TOML refuses a raw NUL byte anywhere ("Illegal character"); kept as U+FFFD it reads as the
    # `\u0000` escape does, as every other way text comes in.
    text = text.replace("\x00", "\ufffd")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        found = _SYNTAX_LINE.search(message)
        line = int(found.group(1)) if found else len(text.splitlines())
        if found:
            message = _SYNTAX_LINE.sub(f"(column {found.group(2)})", message)
        raise DocumentError(line, f"TOML syntax: {message}") from None
    if "\\u0000" in text or "\\U00000000" in text:
        data = storable_value(data)
    lines = tuple(text.splitlines())
    locator = _Locator(lines)
    for key in data:
        if key not in KINDS:
            raise DocumentError(locator.top_level_key(key), _unknown(key, KINDS, "a top-level key"))
    entries: list[Entry] = []
    for kind in KINDS:
        if kind not in data:
            continue
        items = data[kind]
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise DocumentError(locator.top_level_key(kind),
                                f"{kind} must be an array of tables: [[{kind}]]")
        spans = locator.spans(kind, len(items))
        seen: dict[str, int] = {}
        for index, (raw, (first, last)) in enumerate(zip(items, spans, strict=True)):
            body = _plain(raw)
            name = body.get(NAME_KEY[kind])
            if not isinstance(name, str) or not name.strip():
                raise DocumentError(first, f"{WHAT[kind]} #{index + 1} needs {NAME_KEY[kind]}: "
                                           f"a non-empty string that names it")
            entry = Entry(kind, index, name, body, first, last)
            # User names are told apart without case, as the store tells them apart.
            same = name.lower() if kind == "users" else name
            if same in seen:
                raise DocumentError(first, f"{entry.label} is defined twice (also on line {seen[same]})")
            seen[same] = first
            _check_shape(Document(lines, ()), entry)
            entries.append(entry)
    return Document(lines, tuple(entries))


def _check_shape(document: Document, entry: Entry) -> None:
    def fail(path: str, message: str) -> DocumentError:
        return DocumentError(document.line_of(entry, path), f"{entry.label}: {message}")

    for key in entry.body:
        if key not in KEYS[entry.kind]:
            raise fail(key, _unknown(key, KEYS[entry.kind], f"a key of [[{entry.kind}]]"))
    for key in ITEMS_OF[entry.kind]:
        if key not in entry.body:
            continue
        items = entry.body[key]
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise fail(key, f"{key} must be an array of tables")
        for index, item in enumerate(items):
            where = f"{key}[{index}]"
            for item_key in item:
                if item_key not in ITEM_KEYS[key]:
                    raise fail(f"{where}.{item_key}",
                               f"{where}: " + _unknown(item_key, ITEM_KEYS[key], f"a key of {key}"))
            _check_references(item, where, fail)
    if "escalationPolicy" in entry.body:
        _check_ref(entry.body["escalationPolicy"], "escalationPolicy", fail)
    for path, value, known in _nested_tables(entry):
        for key in value:
            if key not in known:
                # The API passes over a key it does not know; in a file a misspelt one (`outsdie`)
                # would leave its value the default, which is no hold at all.
                raise fail(f"{path}.{key}", f"{path}: " + _unknown(key, known, f"a key of {path}"))


# The tables inside a value the document gives whole, and their keys (each checked like an item's).
SUPPORT_HOURS_KEYS = ("timezone", "supportDays", "outside")
SUPPORT_DAY_KEYS = ("start", "end")
RESTRICTION_KEYS = ("from", "to")
RESTRICTION_END_KEYS = ("dayOfWeek", "time")


def _nested_tables(entry: Entry) -> Iterable[tuple[str, dict[str, Any], tuple[str, ...]]]:
    """(path, table, its keys) of the support hours and layer restrictions of `entry`."""
    hours = entry.body.get("supportHours")
    if entry.kind == "alertSources" and isinstance(hours, dict):
        yield "supportHours", hours, SUPPORT_HOURS_KEYS
        days = hours.get("supportDays")
        for day, span in (days.items() if isinstance(days, dict) else ()):
            if isinstance(span, dict):
                yield f"supportHours.supportDays.{day}", span, SUPPORT_DAY_KEYS
    layers = entry.body.get("scheduleLayers")
    for index, layer in enumerate(layers if entry.kind == "schedules" and isinstance(layers, list) else ()):
        restrictions = layer.get("restrictions") if isinstance(layer, dict) else None
        for number, window in enumerate(restrictions if isinstance(restrictions, list) else ()):
            if not isinstance(window, dict):
                continue
            where = f"scheduleLayers[{index}].restrictions[{number}]"
            yield where, window, RESTRICTION_KEYS
            for end in RESTRICTION_KEYS:
                if isinstance(window.get(end), dict):
                    yield f"{where}.{end}", window[end], RESTRICTION_END_KEYS


def _check_references(item: dict[str, Any], where: str, fail: Any) -> None:
    for key in ("users", "schedules"):
        if key in item:
            refs = item[key]
            if not isinstance(refs, list):
                raise fail(f"{where}.{key}", f"{where}.{key} must be an array of {{name = \"...\"}}")
            for index, ref in enumerate(refs):
                _check_ref(ref, f"{where}.{key}[{index}]", fail)
    if "user" in item:
        _check_ref(item["user"], f"{where}.user", fail)
    if "contact" in item:
        contact = item["contact"]
        if not isinstance(contact, dict) or not isinstance(contact.get("target"), str):
            raise fail(f"{where}.contact", f"{where}.contact must be {{method = \"...\", target = \"...\"}}")
        for key in contact:
            if key not in CONTACT_REF_KEYS:
                raise fail(f"{where}.contact", f"{where}.contact: "
                           + _unknown(key, CONTACT_REF_KEYS, "a key of a contact reference"))


def _check_ref(ref: Any, where: str, fail: Any) -> None:
    if not isinstance(ref, dict) or set(ref) != {"name"} or not isinstance(ref["name"], str):
        raise fail(where, f"{where} must be a reference by name: {{name = \"...\"}}")


def _unknown(key: str, known: Sequence[str], what: str) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; the keys are {', '.join(known)}"
    return f"unknown key {key!r}: not {what}{hint}"


def _plain(value: Any) -> Any:
    """TOML's own dates and times as the strings the API reads (`2026-01-05T09:00:00`, `08:00`)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, time):
        return value.strftime("%H:%M") if not value.second and not value.microsecond else value.isoformat()
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


# --- where things are in the text ------------------------------------------------------------------


def _path_parts(path: str) -> list[tuple[str, int | None]]:
    parts: list[tuple[str, int | None]] = []
    for piece in filter(None, path.split(".")):
        found = re.fullmatch(r"([^\[\]]*)((?:\[\d+\])*)", piece)
        if found is None:
            parts.append((piece, None))
            continue
        indexes = [int(i) for i in re.findall(r"\[(\d+)\]", found.group(2))]
        parts.append((found.group(1), indexes[0] if indexes else None))
    return parts


class _Locator:
    """Lines of tables and keys found in the text itself: tomllib keeps no positions."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = lines
        # (1-based line, name, is an array of tables) of every table header.
        self.headers: list[tuple[int, str, bool]] = []
        for number, text in enumerate(lines, start=1):
            found = _HEADER.match(text)
            if found and text.lstrip().startswith("["):
                name = ".".join(p.strip().strip('"').strip("'") for p in found.group(2).split("."))
                self.headers.append((number, name, found.group(1) == "[["))

    def top_level_key(self, key: str) -> int:
        for number, name, _ in self.headers:
            if name == key or name.startswith(key + "."):
                return number
        first_header = self.headers[0][0] if self.headers else len(self.lines) + 1
        return self.key_line(key, 1, first_header - 1) or 1

    def spans(self, kind: str, count: int) -> list[tuple[int, int]]:
        """(first, last line) of each table of `kind`: its `[[kind]]` header to the next header that
        is not one of its own sub-tables; an inline array's items all span its key's lines."""
        starts = [number for number, name, array in self.headers if array and name == kind]
        if len(starts) != count:
            line = self.top_level_key(kind)
            return [(line, self._end_after(line))] * count
        return [(start, self._end_after(start, kind)) for start in starts]

    def _end_after(self, start: int, kind: str | None = None) -> int:
        for number, name, _ in self.headers:
            if number > start and (kind is None or not name.startswith(kind + ".")):
                return number - 1
        return len(self.lines)

    def key_line(self, key: str, first: int, last: int) -> int | None:
        """The first line in [first, last] that sets `key` (at its start, or inside an inline table)."""
        pattern = re.compile(rf'(^|[{{,])\s*["\']?{re.escape(key)}["\']?\s*=')
        for number in range(max(first, 1), min(last, len(self.lines)) + 1):
            if pattern.search(self._code(self.lines[number - 1])):
                return number
        return None

    @staticmethod
    def _code(text: str) -> str:
        # A comment may name a key; a `#` inside a string is rare enough to be cut with it.
        return text.split("#", 1)[0] if '"' not in text and "'" not in text else text

    def element_line(self, key_line: int, index: int, last: int) -> int | None:
        """The line of item `index` of an array written one item per line after `key = [`."""
        if not self._code(self.lines[key_line - 1]).rstrip().endswith("["):
            return None
        items = []
        for number in range(key_line + 1, min(last, len(self.lines)) + 1):
            text = self._code(self.lines[number - 1]).strip()
            if text.startswith("]"):
                break
            if text:
                items.append(number)
        return items[index] if index < len(items) else None

    def find(self, entry: Entry, parts: list[tuple[str, int | None]]) -> int:
        first, last = entry.first_line, entry.last_line
        line, prefix = first, entry.kind
        for name, index in parts:
            table = f"{prefix}.{name}"
            subs = [number for number, header, array in self.headers
                    if array and header == table and first <= number <= last]
            if subs:
                chosen = subs[index] if index is not None and index < len(subs) else subs[0]
                following = [n for n in subs if n > chosen]
                first, line, prefix = chosen, chosen, table
                last = following[0] - 1 if following else last
                continue
            found = self.key_line(name, line, last)
            if found is None:
                return line
            line = found
            if index is not None:
                line = self.element_line(found, index, last) or found
        return line


# --- comparing collections without identity ------------------------------------------------------------


def multiset_diff(current: Iterable[tuple[int, Hashable]], wanted: Iterable[Hashable]
                  ) -> tuple[list[int], list[Hashable]]:
    """(ids of the current rows to remove, wanted values to add) so that the rows' values become
    `wanted` as a multiset; a row whose value is still wanted keeps its id."""
    needed = Counter(wanted)
    remove = []
    for row_id, value in current:
        if needed[value] > 0:
            needed[value] -= 1
        else:
            remove.append(row_id)
    add = [value for value, count in needed.items() for _ in range(count)]
    return remove, add
