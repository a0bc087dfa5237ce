"""Helpers built-in integration plugins share to read tool payloads; third parties may use them too."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from ilertd.domain.events import Event, Priority
from ilertd.errors import ApiError
from ilertd.hookspecs import IntegrationRequest

ELLIPSIS = "…"
WEB_SCHEMES = ("http://", "https://")
# How a reader refuses a value, given the reason: a plugin's own 400 (with its tool's name), or a
# ValueError or TypeError for a pure mapping whose `parse` names the tool.
Refusal = Callable[[str], Exception]


# --- refusals -----------------------------------------------------------------------------------


def invalid_payload(reason: str, tool: str = "") -> ApiError:
    """400 INVALID_PAYLOAD for `reason`, after "tool: " when a tool is named (as the Event API words
    the ValueError of a parse)."""
    return ApiError(400, "INVALID_PAYLOAD", f"{tool}: {reason}" if tool else reason)


def json_parser(events_of: Callable[[Any], list[Event]],
                tool: str) -> Callable[[IntegrationRequest], list[Event]]:
    """An integration's `parse` for a JSON body: the events `events_of(body)` maps it to, its
    ValueError or TypeError a 400 INVALID_PAYLOAD naming `tool` (also when called without the
    Event API around it, as a test or a third party may)."""

    def parse(request: IntegrationRequest) -> list[Event]:
        try:
            return events_of(request.json())
        except (ValueError, TypeError) as error:
            raise invalid_payload(str(error), tool) from None

    return parse


# --- text ---------------------------------------------------------------------------------------


def clip(text: str, limit: int, trim: bool = False) -> str:
    """`text` within `limit` characters: a longer one is cut and ends in "…" rather than failing the
    event. `trim`: the spaces the cut leaves at its end go too."""
    if len(text) <= limit:
        return text
    kept = text[: limit - len(ELLIPSIS)]
    return (kept.rstrip() if trim else kept) + ELLIPSIS


def labels_text(labels: Mapping[str, str], leave_out: str = "alertname") -> str:
    """The labels as `name=value, ...` sorted by name, without `leave_out` (the one a summary names
    first): what tells apart the alerts of one rule."""
    return ", ".join(f"{name}={labels[name]}" for name in sorted(labels) if name != leave_out)


def priority_for(word: str | None, table: Mapping[str, Priority]) -> Priority | None:
    """The priority a tool's severity word stands for in `table` (lower-case keys): any case, spaces
    around it ignored; None for no word or one `table` does not know (the alert source's then)."""
    return table.get(word.strip().lower()) if word else None


def tag_labels(text: str) -> dict[str, str]:
    """Comma-separated `name:value` tags ("env:prod, team:sre, canary") as labels; a tag without a
    value is a label of ''."""
    labels: dict[str, str] = {}
    for tag in text.split(","):
        name, _, value = tag.strip().partition(":")
        if name:
            labels[name] = value
    return labels


# --- links --------------------------------------------------------------------------------------


def web_url(value: object, any_case: bool = False) -> str | None:
    """`value` when it is an http(s) URL, else None (not a string, empty, a relative path,
    javascript:): an incident's links are shown to people as hrefs to click. `any_case`: the scheme
    may be written in any case (HTTPS://)."""
    if not isinstance(value, str):
        return None
    scheme = value.lower() if any_case else value
    return value if scheme.startswith(WEB_SCHEMES) else None


def web_link(url: str | None, text: str, any_case: bool = False) -> tuple[dict[str, str], ...]:
    """The incident's one link to `url` (see `web_url`), or none."""
    href = web_url(url, any_case)
    return ({"href": href, "text": text},) if href else ()


# --- fields -------------------------------------------------------------------------------------


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A request header by its name in any case (the route hands them lower-cased, tests may not)."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def string_field(container: Mapping[str, Any], name: str, where: str = "",
                 invalid: Refusal = invalid_payload) -> str:
    """An optional string field as sent, '' when absent or null; refused naming `'{where}{name}'` when
    it is not a string."""
    value = container.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(f"'{where}{name}' must be a string")
    return value


def optional_text(container: Mapping[str, Any], name: str) -> str | None:
    """A field that is a string with more than spaces in it, as sent; anything else is None."""
    value = container.get(name)
    return value if isinstance(value, str) and value.strip() else None


def template_text(value: object, name: str, invalid: Refusal = invalid_payload) -> str:
    """A value a user's payload template filled in, as trimmed text: a template may leave a number
    unquoted; an object or an array is refused."""
    if isinstance(value, dict | list):
        raise invalid(f"{name} must be a string")
    return str(value).strip()


def optional_object(container: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A field that is an object; {} when it is absent or anything else."""
    value = container.get(name)
    return value if isinstance(value, dict) else {}


def string_map(container: Mapping[str, Any], name: str, where: str = "", invalid: Refusal = invalid_payload,
               quote: str = "'", coerce: bool = False) -> dict[str, str]:
    """An optional object of strings, as labels and annotations are; {} when absent or null, refused
    when it is no object. A value that is not a string is refused too, or with `coerce` written as
    text (a template may render a number) and a null left out. Refusals name the field `where` +
    `name`, between `quote`s."""
    value = container.get(name)
    if value is None:
        return {}
    path = f"{where}{name}"
    if not isinstance(value, dict):
        raise invalid(f"{quote}{path}{quote} must be an object")
    if coerce:
        return {str(key): item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
                for key, item in value.items() if item is not None}
    for key, item in value.items():
        if not isinstance(item, str):
            raise invalid(f"{quote}{path}.{key}{quote} must be a string")
    return dict(value)


def present(pairs: Mapping[str, Any]) -> dict[str, Any]:
    """`pairs` without those whose value is None: what a tool did not send is left out."""
    return {key: value for key, value in pairs.items() if value is not None}
