"""Loads plugins from the `ilertd.plugins` entry points one by one; a broken one is logged and skipped."""

from __future__ import annotations

import importlib.metadata
import logging
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

import pluggy

from ilertd import hookspecs
from ilertd.hookspecs import Integration

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "ilertd.plugins"
PluginState = Literal["enabled", "load error", "hook error"]


@dataclass(frozen=True)
class PluginStatus:
    name: str
    distribution: str
    module: str
    state: PluginState
    error: str = ""
    integrations: tuple[str, ...] = ()


class PluginManager:
    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("ilertd")
        self.pm.add_hookspecs(hookspecs)
        self.statuses: list[PluginStatus] = []
        self.integrations: dict[str, Integration] = {}

    def load_entry_points(self) -> None:
        """Register every entry point of the group; pluggy's own loader stops at the first failure."""
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            distribution = entry_point.dist.name if entry_point.dist else ""
            try:
                module = entry_point.load()
                self.pm.register(module, name=entry_point.name)
            except Exception as error:
                logger.exception("plugin %s (%s) failed to load; skipped", entry_point.name,
                                 entry_point.value)
                self.statuses.append(PluginStatus(
                    entry_point.name, distribution, entry_point.value, "load error",
                    f"{type(error).__name__}: {error}",
                ))
                continue
            self._collect(entry_point.name, distribution, entry_point.value, module)

    def register(self, module: ModuleType | object, name: str) -> None:
        """Register a plugin object directly (tests, embedding)."""
        self.pm.register(module, name=name)
        self._collect(name, "", getattr(module, "__name__", name), module)

    def _collect(self, name: str, distribution: str, module_name: str, module: object) -> None:
        hook = getattr(module, "register_integrations", None)
        declared: list[Integration] = []
        if hook is not None:
            try:
                declared = list(hook() or [])
                for integration in declared:
                    if not isinstance(integration, Integration):
                        raise TypeError(f"register_integrations returned {integration!r}")
            except Exception as error:
                logger.exception("plugin %s: register_integrations failed; skipped", name)
                self.pm.unregister(module)
                self.statuses.append(PluginStatus(
                    name, distribution, module_name, "hook error", f"{type(error).__name__}: {error}"
                ))
                return
        names: list[str] = []
        for integration in declared:
            for segment in (integration.name, *integration.aliases):
                if segment in self.integrations:
                    logger.warning("plugin %s: integration %r already provided; ignored", name, segment)
                    continue
                self.integrations[segment] = integration
            names.append(integration.name)
        self.statuses.append(PluginStatus(name, distribution, module_name, "enabled",
                                          integrations=tuple(names)))

    def integration(self, name: str) -> Integration | None:
        return self.integrations.get(name.lower())
