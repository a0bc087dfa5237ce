"""What is known of each plugin: its state as `ilertd plugins` shows it, and its distribution."""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from ilertd.config import Config
from ilertd.config.settings import twilio_cannot_call_back
from ilertd.hookspecs import Integration

# The lines the plugin manager has always logged, under its name.
logger = logging.getLogger("ilertd.plugins.manager")

PluginState = Literal["enabled", "disabled by config", "load error", "config error", "hook error"]


@dataclass(frozen=True)
class PluginStatus:
    """One plugin as `ilertd plugins` shows it."""

    name: str
    version: str
    origin: str
    module: str
    state: PluginState
    error: str = ""
    integrations: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    routes: tuple[str, ...] = ()
    distribution: str = ""
    # Declarations another plugin (loaded first) or a core route already has, each with why.
    ignored: tuple[str, ...] = ()

    @property
    def runs(self) -> bool:
        """Enabled, loaded and started: its routes, integrations and channels are in service."""
        return self.state == "enabled"


class Distributions:
    """Name and version of an entry point's distribution, its metadata read once: each read of
    `Distribution.name` or `.version` parses the whole METADATA file again (ilertd's holds its
    README), and that was most of a start's time."""

    def __init__(self) -> None:
        self._known: dict[int, tuple[str, str]] = {}

    def of(self, entry_point: importlib.metadata.EntryPoint) -> tuple[str, str]:
        dist = entry_point.dist
        if dist is None:
            return "", ""
        facts = self._known.get(id(dist))
        if facts is None:
            metadata = dist.metadata
            facts = self._known[id(dist)] = (metadata["Name"] or "", metadata["Version"] or "")
        return facts


def log_statuses(statuses: list[PluginStatus], unknown_settings: list[str], config: Config) -> None:
    """Each plugin's state in the log (a broken one as an error), then unknown sections and ILERTD_*
    variables (`PluginManager.unknown_settings`), then
    whether Twilio can reach the routes of the enabled plugins it calls back (sms, voice)."""
    for status in statuses:
        detail = f": {status.error}" if status.error else ""
        level = logging.INFO if status.state in ("enabled", "disabled by config") else logging.ERROR
        logger.log(level, "plugin %s %s (%s): %s%s", status.name, status.version, status.origin,
                   status.state, detail)
    for problem in unknown_settings:
        logger.warning("%s", problem)
    called_back = any(s.name in ("sms", "voice") and s.runs for s in statuses)
    if called_back and (unreachable := twilio_cannot_call_back(config)) is not None:
        logger.error("%s (`ilertd check-config` names it too)", unreachable)


def signing_types(integrations: Iterable[Integration]) -> tuple[frozenset[str], frozenset[str]]:
    """(the alert source types whose integration is `signed`, those whose own integration checks a
    signature): see `PluginContext.signs`."""
    found = list(integrations)
    return (frozenset(i.integration_type for i in found if i.signed),
            frozenset(i.integration_type for i in found if i.verify is not None and not i.accepts_any_source))
