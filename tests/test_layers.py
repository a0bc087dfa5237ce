"""The house rules on layers, read from the source with `ast`: one way to read, imports pointing down."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import ilertd

PACKAGE = Path(ilertd.__file__).parent
ROOT = PACKAGE.parent

# Calls that read the store: only ilertd/store/ (its migrations included) makes them; every
# other module calls a named function of the store instead (ilertd/store/__init__.py says why).
READ_CALLS = frozenset({"select", "get_or_none", "get_by_id", "execute_sql", "raw"})
# Not checked for now: their reads go through store functions already, and the hot path they are
# on is still being reworked for performance.
READS_NOT_CHECKED = frozenset({
    "ilertd/actors/host.py",
    "ilertd/actors/incident.py",
    "ilertd/actors/supervisor.py",
})
# What each lower layer must not import: nothing below imports anything above it.
ABOVE_APP = ("ilertd.web", "ilertd.actors", "ilertd.plugins", "ilertd.cli", "ilertd.cli_arguments",
             "ilertd.daemon")
FORBIDDEN_IMPORTS = {
    "ilertd/domain/": ("ilertd.store", "ilertd.app", *ABOVE_APP),
    "ilertd/store/": ("ilertd.app", *ABOVE_APP),
    "ilertd/app/": ABOVE_APP,
}


def modules() -> Iterator[tuple[str, ast.Module]]:
    """(path relative to the checkout, parsed module) of every module of the package."""
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(), str(path))


def dotted(relative: str) -> str:
    name = relative.removesuffix(".py").replace("/", ".")
    return name.removesuffix(".__init__")


def imported(relative: str, tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, module) of every import, relative ones resolved; `from a import b` yields a and a.b."""
    package = dotted(relative) if relative.endswith("__init__.py") else dotted(relative).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def read_calls(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, method) of every call `<anything>.select(...)`, `.get_or_none(...)` and the like."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        if node.func.attr in READ_CALLS:
            yield node.lineno, node.func.attr


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_reads_are_store_functions() -> None:
    found = [
        f"{relative}:{line}: .{method}(...)"
        for relative, tree in modules()
        if not relative.startswith("ilertd/store/") and relative not in READS_NOT_CHECKED
        for line, method in read_calls(tree)
    ]
    assert not found, "a query outside ilertd/store/; make it a named store function:\n" + "\n".join(found)


def test_lower_layers_import_nothing_above() -> None:
    found = [
        f"{relative}:{line}: imports {name}"
        for relative, tree in modules()
        for layer, forbidden in FORBIDDEN_IMPORTS.items() if relative.startswith(layer)
        for line, name in imported(relative, tree)
        if any(within(name, above) for above in forbidden)
    ]
    assert not found, "a lower layer imports a higher one:\n" + "\n".join(found)


def test_the_checks_see_what_they_look_for() -> None:
    """The checks themselves: a query call and an upward import are found, others are not."""
    tree = ast.parse("from ilertd import web\nfrom . import models\nm.User.get_or_none(x)\nd.get(k)\n")
    assert (1, "ilertd.web") in set(imported("ilertd/store/x.py", tree))
    assert (2, "ilertd.store.models") in set(imported("ilertd/store/x.py", tree))
    assert list(read_calls(tree)) == [(3, "get_or_none")]
    assert within("ilertd.web.views", "ilertd.web") and not within("ilertd.webhooks", "ilertd.web")
