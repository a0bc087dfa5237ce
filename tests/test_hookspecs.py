"""The plugin contract stays documented and tested: each hook has a docstring, a doc section, a test.

The section is a heading of docs/plugins.md; the test, a real `@hookimpl` implementation
in tests/ (found by parsing, not by searching text).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pluggy

from ilertd import hookspecs
from ilertd.plugins.manager import PluginManager

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "plugins.md"
TESTS = ROOT / "tests"
HEADING = re.compile(r"#{1,6}\s+`?([A-Za-z_]\w*)")


def hook_names() -> list[str]:
    """The hooks as pluggy reads them: the functions of ilertd.hookspecs carrying its spec marker."""
    pm = pluggy.PluginManager("ilertd")
    return sorted(name for name in vars(hookspecs)
                  if pm.parse_hookspec_opts(hookspecs, name) is not None)


def documented_hooks(markdown: str) -> set[str]:
    """The first word of each heading (outside code blocks), e.g. "### `startup(context)`"."""
    names: set[str] = set()
    in_code = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        match = None if in_code else HEADING.match(line)
        if match:
            names.add(match.group(1))
    return names


def _is_hookimpl(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return ((isinstance(target, ast.Name) and target.id == "hookimpl")
            or (isinstance(target, ast.Attribute) and target.attr == "hookimpl"))


def implemented_hooks(source: str) -> Iterator[str]:
    """The hooks a module implements: functions and methods decorated `@hookimpl` (or
    `@ilertd.hookimpl(...)`), by name or by `specname=`."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            if not _is_hookimpl(decorator):
                continue
            specname = None
            if isinstance(decorator, ast.Call):
                specname = next((k.value.value for k in decorator.keywords
                                 if k.arg == "specname" and isinstance(k.value, ast.Constant)), None)
            yield str(specname or node.name)


def test_the_checks_read_code_not_text() -> None:
    mentioned = 'def startup():\n    pass\n\nNOTE = """@hookimpl\ndef shutdown(): ..."""\n'
    assert set(implemented_hooks(mentioned)) == set()
    real = ("from ilertd import hookimpl\nimport ilertd\n\n"
            "class P:\n    @hookimpl\n    def startup(self): ...\n\n"
            "@ilertd.hookimpl(specname='shutdown')\ndef stop(): ...\n")
    assert set(implemented_hooks(real)) == {"startup", "shutdown"}
    assert documented_hooks("# `startup(context)`\n```\n## shutdown\n```\n## Plain\n") == {"startup", "Plain"}


def test_every_hook_has_a_docstring_a_section_and_a_test() -> None:
    names = hook_names()
    assert {"register_integrations", "register_channels", "register_routes", "startup", "shutdown",
            "plugin_config"} <= set(names)
    documented = documented_hooks(DOCS.read_text(encoding="utf-8"))
    tested: set[str] = set()
    for path in TESTS.rglob("*.py"):
        tested.update(implemented_hooks(path.read_text(encoding="utf-8")))
    for name in names:
        assert (getattr(hookspecs, name).__doc__ or "").strip(), f"{name} has no docstring"
        assert name in documented, f"docs/plugins.md has no section (heading) for the hook {name}"
        assert name in tested, f"no test has an @hookimpl implementation of the hook {name}"


def test_the_native_event_api_is_a_plugin_found_through_entry_points() -> None:
    plugins = PluginManager()
    plugins.load_entry_points()
    status = {s.name: s for s in plugins.statuses}["event_api"]
    assert status.state == "enabled" and status.origin == "built-in"
    assert status.distribution == "ilertd"
    integration = plugins.integration("api")
    assert integration is not None and integration.accepts_any_source
    assert set(plugins.body_handlers()) == {"/api/events", "/api/v1/events"}


def test_every_name_the_guide_imports_from_hookspecs_is_there() -> None:
    """What docs/plugins.md tells a plugin to import from ilertd.hookspecs: the names of its
    `from ilertd.hookspecs import ...` lines and of its list of what is there."""
    text = DOCS.read_text(encoding="utf-8")
    named = {name.strip() for line in re.findall(r"from ilertd\.hookspecs import ([\w, ]+)", text)
             for name in line.split(",")}
    listed = re.search(r"Import only from `ilertd\.hookspecs` \(every declaration, (.*?) are there\)", text,
                       re.DOTALL)
    assert listed is not None
    named |= set(re.findall(r"`(\w+)`", listed.group(1)))
    assert {"MessageAction", "Event", "ConfigOption", "Integration"} <= named
    for name in named:
        assert hasattr(hookspecs, name) and name in hookspecs.__all__, name
