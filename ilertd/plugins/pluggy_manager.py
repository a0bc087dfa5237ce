"""pluggy's plugin manager as ilertd uses it: quicker at registering a module, strict about hook names."""

from __future__ import annotations

from types import FunctionType, MethodType, ModuleType

import pluggy


class HookPluginManager(pluggy.PluginManager):
    """pluggy's manager, quicker at registering a module: pluggy looks up each of the module's
    names (its imports too, about 45 a plugin) with `inspect.getattr_static`, 0.7 ms a plugin and
    most of a start's plugin loading. Only a function, a static or class method or a bound method
    can be a hook, and a module's names are in its `__dict__`: anything else there is skipped
    before pluggy's own look-up, which decides the rest.

    A `@hookimpl` naming no hook is refused at registration: pluggy keeps it for a spec that may be
    added later, but every spec of ilertd's is added first, so it would never be called."""

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        if isinstance(plugin, ModuleType) and not isinstance(
                plugin.__dict__.get(name), FunctionType | staticmethod | classmethod | MethodType):
            return None
        return super().parse_hookimpl_opts(plugin, name)

    def register(self, plugin: object, name: str | None = None) -> str | None:
        registered = super().register(plugin, name)
        try:
            self.check_pending()
        except pluggy.PluginValidationError:
            self.unregister(plugin)
            raise
        return registered
