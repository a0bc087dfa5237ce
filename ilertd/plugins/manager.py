"""The plugin manager: loads each plugin, checks its `[plugins.NAME]`, collects its declarations, starts it.

A plugin that fails to import, is misconfigured or raises in a hook is reported and skipped.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from dataclasses import dataclass, field
from types import MappingProxyType, ModuleType
from typing import Any

from starlette.routing import BaseRoute

from ilertd import hookspecs
from ilertd.app.replies import Replies
from ilertd.config import (
    Config,
    ConfigOption,
    check_plugin_section,
    declared_options,
    unknown_names,
)
from ilertd.domain.notification_plan import METHODS
from ilertd.domain.wording import quoted
from ilertd.errors import ApiError
from ilertd.hookspecs import BodyHandler, Channel, Intake, Integration, PluginContext
from ilertd.plugins.pluggy_manager import HookPluginManager
from ilertd.plugins.routes import CoreRoutes, answered_by, core_overlap, route_labels, served_after_all
from ilertd.plugins.status import Distributions, PluginState, PluginStatus, log_statuses, signing_types
from ilertd.web.plugin_routes import body_handlers

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "ilertd.plugins"
BUILT_IN_DISTRIBUTION = "ilertd"
NOT_READY = ApiError(503, "NOT_READY", "ilertd is not taking events now (starting or stopping); retry")


@dataclass
class _Provided:
    """What one enabled plugin declared, kept so it can be withdrawn if the plugin fails later."""

    plugin: object
    context: PluginContext
    integrations: list[Integration] = field(default_factory=list)
    channels: list[Channel] = field(default_factory=list)
    routes: list[BaseRoute] = field(default_factory=list)
    # What it declared that another plugin or a core route already has: not provided, but listed.
    ignored: list[str] = field(default_factory=list)
    # Its routes an earlier plugin's route answered: served after all if that one is withdrawn.
    shadowed: list[BaseRoute] = field(default_factory=list)


class PluginError(Exception):
    """A plugin misbehaved in a hook: the message says which hook and how."""


class PluginManager:
    """ilertd's pluggy manager and what the enabled plugins provide: integrations by URL segment,
    channels by method, routes; `start`/`stop` run the plugins' `startup`/`shutdown`."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config if config is not None else Config()
        self.pm = HookPluginManager("ilertd")
        self.pm.add_hookspecs(hookspecs)
        self.statuses: list[PluginStatus] = []
        # Each plugin that got as far as declaring its keys; None: it failed before (not checkable).
        self.options: dict[str, tuple[ConfigOption, ...] | None] = {}
        self.integrations: dict[str, Integration] = {}
        self._signing: tuple[frozenset[str], frozenset[str]] | None = None  # see signing_types
        self.channels: dict[str, Channel] = {}
        self.routes: list[BaseRoute] = []
        self._provided: dict[str, _Provided] = {}
        self._intake: Intake | None = None
        self._replies: Replies | None = None
        self._started: list[str] = []

    # --- loading ---------------------------------------------------------------------------------

    def load_entry_points(self) -> None:
        """Register every entry point of the group, ilertd's own first; pluggy's own loader would
        stop at the first plugin that fails to import."""
        found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        distributions = Distributions()
        ordered = sorted(found, key=lambda ep: (distributions.of(ep)[0] != BUILT_IN_DISTRIBUTION,
                                                ep.name))
        for entry_point in ordered:
            distribution, version = distributions.of(entry_point)
            origin = ("built-in" if distribution == BUILT_IN_DISTRIBUTION
                      else f"entry point of distribution {distribution or '?'}")
            try:
                # A BaseException too: a plugin's sys.exit() at import would end `ilertd serve`.
                plugin = entry_point.load()
            except BaseException as error:
                logger.exception("plugin %s (%s) failed to load; skipped", entry_point.name,
                                 entry_point.value)
                self.options[entry_point.name] = None
                self._record(entry_point.name, version, origin, entry_point.value, "load error",
                             _describe(error), distribution)
                continue
            self._add(plugin, entry_point.name, version, origin, entry_point.value, distribution)

    def register(self, plugin: object, name: str) -> PluginStatus:
        """Register a plugin object directly (tests, embedding), as an entry point would be."""
        module = (plugin.__name__ if isinstance(plugin, ModuleType)
                  else f"{type(plugin).__module__}.{type(plugin).__qualname__}")
        return self._add(plugin, name, "", "registered in-process", module, "")

    def unregister(self, name: str) -> None:
        """Take a plugin out again (tests): its integrations go at once; routes and channel actors
        already built stay until the daemon restarts."""
        provided = self._provided.pop(name, None)
        if provided is not None:
            self._withdraw(provided)
            if name in self._started:
                self._started.remove(name)
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)
        self.statuses = [s for s in self.statuses if s.name != name]
        self.options.pop(name, None)

    def _add(self, plugin: object, name: str, version: str, origin: str, module: str,
             distribution: str) -> PluginStatus:
        def fail(state: PluginState, error: str) -> PluginStatus:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            return self._record(name, version, origin, module, state, error, distribution)

        if self.pm.has_plugin(name) or name in self._provided:
            # Two distributions naming a plugin alike: the first keeps the name (and its status).
            logger.error("plugin %s (%s): a plugin of that name is already loaded; skipped", name, origin)
            return self._record(name, version, origin, module, "load error",
                                f"a plugin named {quoted(name)} is already loaded", distribution, keep=True)
        try:
            self.pm.register(plugin, name=name)
        except Exception as error:
            logger.error("plugin %s does not fit the contract: %s", name, error)
            self.options[name] = None
            return self._record(name, version, origin, module, "load error", _describe(error), distribution)
        self.options[name] = None
        try:
            options = self._declared(plugin, "plugin_config", ConfigOption)
            if problems := declared_options(options):
                raise PluginError("plugin_config: " + "; ".join(problems))
        except BaseException as error:
            logger.error("plugin %s: %s; skipped", name, _describe(error))
            return fail("hook error", _describe(error))
        self.options[name] = tuple(options)
        values, problems = check_plugin_section(self.config.plugins, name, options)
        if problems:
            for problem in problems:
                logger.error("plugin %s skipped: %s", name, problem)
            return fail("config error", "; ".join(str(p) for p in problems))
        if not values["enabled"]:
            return fail("disabled by config", "")
        context = PluginContext(name, MappingProxyType(values), self.config, self)
        provided = _Provided(plugin, context)
        try:
            provided.integrations = self._declared(plugin, "register_integrations", Integration, context)
            provided.channels = self._declared(plugin, "register_channels", Channel, context)
            provided.routes = self._declared(plugin, "register_routes", BaseRoute, context)
        except BaseException as error:
            logger.exception("plugin %s: a register hook failed; skipped", name)
            return fail("hook error", _describe(error))
        self._provide(name, provided)
        self._provided[name] = provided
        status = self._record(name, version, origin, module, "enabled", "", distribution, provided)
        if self._intake is not None:
            self._start_one(name)
        return self.status(name) or status

    def _declared(self, plugin: object, hook: str, kind: type, context: PluginContext | None = None
                  ) -> list[Any]:
        """This plugin's answer to a `register_*`-style hook, through pluggy, checked item by item."""
        others = [p for p in self.pm.get_plugins() if p is not plugin]
        caller = self.pm.subset_hook_caller(hook, remove_plugins=others)
        results = caller() if context is None else caller(context=context)
        declared: list[Any] = []
        for result in results:
            if result is None:
                continue
            if not isinstance(result, list | tuple):
                raise PluginError(f"{hook} returned {type(result).__name__}, not a list")
            for item in result:
                if not isinstance(item, kind):
                    raise PluginError(f"{hook} returned {item!r}, not a {kind.__name__}")
                declared.append(item)
        return declared

    def _provide(self, name: str, provided: _Provided) -> None:
        """Take what the plugin declared that no plugin loaded before it has; the rest is ignored
        (logged, and listed as such in its status rather than as provided)."""
        integrations = []
        for integration in provided.integrations:
            taken = []
            for segment in (integration.name, *integration.aliases):
                key = segment.lower()
                if key in self.integrations:
                    taken.append(segment)
                    continue
                self.integrations[key] = integration
                self._signing = None
            if taken:
                self._ignore(name, provided, f"integration {', '.join(taken)}", "already provided")
            if len(taken) <= len(integration.aliases):
                integrations.append(integration)
        provided.integrations = integrations
        channels = []
        for channel in provided.channels:
            if channel.method in self.channels:
                self._ignore(name, provided, f"channel {channel.method}", "already provided")
                continue
            self.channels[channel.method] = channel
            channels.append(channel)
        provided.channels = channels
        routes = []
        for route in provided.routes:
            if (earlier := answered_by(route, self.routes)) is not None:
                self._ignore(name, provided, f"route {', '.join(route_labels(route))}",
                             f"already served by {', '.join(route_labels(earlier))}")
                provided.shadowed.append(route)
                continue
            self.routes.append(route)
            routes.append(route)
        provided.routes = routes

    @staticmethod
    def _ignore(name: str, provided: _Provided, what: str, why: str) -> None:
        logger.warning("plugin %s: %s is %s; ignored", name, what, why)
        provided.ignored.append(f"{what} ({why})")

    def admit_routes(self, core: list[BaseRoute]) -> None:
        """Withdraw each plugin route that overlaps a core route's path: the core route is matched
        first by starlette, but a BodyRoute is answered in front of it, and a route of a method the
        core path lacks would be served with no token where the core answers 405."""
        core_routes = CoreRoutes(core)
        for name, provided in self._provided.items():
            refused = [(route, other) for route in provided.routes
                       if (other := core_overlap(route, core_routes)) is not None]
            for route, other in refused:
                labels, others = ", ".join(route_labels(route)), ", ".join(route_labels(other))
                logger.error("plugin %s: route %s overlaps ilertd's %s; ignored", name, labels, others)
                provided.ignored.append(f"route {labels} (a core route: {others})")
            if refused:
                provided.routes = [r for r in provided.routes if all(r is not x for x, _ in refused)]
                self.routes = [r for r in self.routes if all(r is not x for x, _ in refused)]
                self._listed_again(name, provided)
        # A route ignored for one withdrawn just now is served after all (a greedy plugin route
        # refused as a core overlap kept a later plugin's own route out).
        for name, provided in self._provided.items():
            back = served_after_all(provided.shadowed, core_routes, self.routes)
            if back:
                labels = {f"route {', '.join(route_labels(route))}" for route in back}
                self.routes += back
                provided.routes += back
                provided.shadowed = [r for r in provided.shadowed if all(r is not b for b in back)]
                provided.ignored = [i for i in provided.ignored if i.split(" (", 1)[0] not in labels]
                self._listed_again(name, provided)

    def _listed_again(self, name: str, provided: _Provided) -> None:
        if (old := self.status(name)) is not None:
            self._record(name, old.version, old.origin, old.module, old.state, old.error, old.distribution,
                         provided)

    def _withdraw(self, provided: _Provided) -> None:
        self.integrations = {k: v for k, v in self.integrations.items()
                             if not any(v is i for i in provided.integrations)}
        self._signing = None
        self.channels = {k: v for k, v in self.channels.items() if not any(v is c for c in provided.channels)}
        self.routes = [r for r in self.routes if not any(r is p for p in provided.routes)]

    def _record(self, name: str, version: str, origin: str, module: str, state: PluginState, error: str,
                distribution: str, provided: _Provided | None = None, keep: bool = False) -> PluginStatus:
        """Set the plugin's status (`keep`: list this one beside an earlier plugin of the same name)."""
        status = PluginStatus(
            name, version, origin, module, state, error,
            integrations=tuple(i.name for i in provided.integrations) if provided else (),
            channels=tuple(f"{c.method} via {c.how}" for c in provided.channels) if provided else (),
            routes=tuple(label for r in provided.routes for label in route_labels(r)) if provided else (),
            ignored=tuple(provided.ignored) if provided else (),
            distribution=distribution,
        )
        kept = self.statuses if keep else [s for s in self.statuses if s.name != name]
        self.statuses = [*kept, status]
        return status

    def _fail_enabled(self, name: str, error: str) -> None:
        """An enabled plugin raised later (in startup): it is withdrawn and marked."""
        provided = self._provided.pop(name, None)
        if provided is not None:
            self._withdraw(provided)
            if self.pm.is_registered(provided.plugin):
                self.pm.unregister(provided.plugin)
        old = self.status(name)
        if old is not None:
            self._record(name, old.version, old.origin, old.module, "hook error", error, old.distribution)

    # --- what the daemon asks --------------------------------------------------------------------

    def status(self, name: str) -> PluginStatus | None:
        return next((s for s in self.statuses if s.name == name), None)

    def runs(self, name: str) -> bool:
        status = self.status(name)
        return status is not None and status.runs

    def log_statuses(self) -> None:
        log_statuses(self.statuses, self.unknown_settings(), self.config)

    def integration(self, name: str) -> Integration | None:
        return self.integrations.get(name.lower())

    def signing_types(self) -> tuple[frozenset[str], frozenset[str]]:
        """`status.signing_types` of the integrations, kept until they change (asked on each event)."""
        self._signing = self._signing or signing_types(self.integrations.values())
        return self._signing

    def methods(self, reminders: bool = False) -> tuple[str, ...]:
        """The contact methods of the registered channels (with `reminders`, those that may carry
        a shift reminder): what the API accepts. The built-ins' in the domain's order, then the
        others in load order."""
        ranked = sorted(self.channels, key=lambda m: METHODS.index(m) if m in METHODS else len(METHODS))
        return tuple(m for m in ranked if self.channels[m].reminders or not reminders)

    def laid_out(self, layout: str) -> tuple[str, ...]:
        """The methods of the registered channels of this layout (`email`: those a reply by mail answers)."""
        return tuple(m for m in self.methods() if self.channels[m].layout == layout)

    def body_handlers(self) -> dict[str, BodyHandler]:
        """Which handler answers a POST to each fixed path declared as a BodyRoute (the fast path)."""
        return body_handlers(self.routes)

    def unknown_settings(self) -> list[str]:
        """`[plugins.NAME]` sections and ILERTD_* variables naming nothing known, to warn of."""
        return [str(p) for p in unknown_names(self.config.plugins, self.options, os.environ)]

    # --- running ---------------------------------------------------------------------------------

    def intake(self) -> Intake:
        if self._intake is None:
            raise NOT_READY
        return self._intake

    def replies(self) -> Replies:
        if self._replies is None:
            raise NOT_READY
        return self._replies

    def start(self, intake: Intake, replies: Replies | None = None) -> None:
        """Ingestion (and answering pages) works from now on; each enabled plugin's `startup`
        runs, in load order."""
        self._intake = intake
        self._replies = replies
        for name in list(self._provided):
            self._start_one(name)

    def _start_one(self, name: str) -> None:
        provided = self._provided[name]
        try:
            self._call(provided.plugin, "startup", provided.context)
        except BaseException as error:
            logger.exception("plugin %s: startup failed; its integrations, channels and routes are withdrawn",
                             name)
            self._fail_enabled(name, f"startup: {_describe(error)}")
            return
        self._started.append(name)

    def stop(self) -> None:
        """Each started plugin's `shutdown`, in reverse order; then ingestion is refused."""
        while self._started:
            name = self._started.pop()
            provided = self._provided.get(name)
            if provided is None:
                continue
            try:
                self._call(provided.plugin, "shutdown", provided.context)
            except BaseException:
                logger.exception("plugin %s: shutdown failed", name)
        self._intake = None
        self._replies = None

    def _call(self, plugin: object, hook: str, context: PluginContext) -> None:
        others = [p for p in self.pm.get_plugins() if p is not plugin]
        self.pm.subset_hook_caller(hook, remove_plugins=others)(context=context)


def installed_options(config: Config | None = None) -> dict[str, tuple[ConfigOption, ...] | None]:
    """Every installed plugin's declared keys (None for one that did not load): what
    `ilertd check-config` checks `[plugins.NAME]` sections against."""
    plugins = PluginManager(config)
    plugins.load_entry_points()
    return plugins.options


def _describe(error: BaseException) -> str:
    return str(error) if isinstance(error, PluginError) else f"{type(error).__name__}: {error}"
