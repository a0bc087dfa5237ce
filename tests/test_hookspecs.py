"""The plugin contract stays documented and tested: every hook has a docstring and a test using it."""

from __future__ import annotations

import inspect
from pathlib import Path

from ilertd import hookspecs
from ilertd.plugins.manager import PluginManager


def hook_names() -> list[str]:
    return [name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)
            if hasattr(getattr(hookspecs, name), "ilertd_spec")]


def test_every_hook_is_documented_and_exercised_by_a_test() -> None:
    names = hook_names()
    assert names, "no hookspecs found"
    tests = "\n".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py")
                      if p.name != Path(__file__).name)
    for name in names:
        assert (getattr(hookspecs, name).__doc__ or "").strip(), f"{name} has no docstring"
        assert f"def {name}" in tests, f"no test implements the hook {name}"


def test_the_native_event_api_is_a_plugin_found_through_entry_points() -> None:
    plugins = PluginManager()
    plugins.load_entry_points()
    status = {s.name: s for s in plugins.statuses}["event_api"]
    assert status.state == "enabled"
    assert status.distribution == "ilertd"
    integration = plugins.integration("api")
    assert integration is not None and integration.accepts_any_source
