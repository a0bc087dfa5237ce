"""A sender for each registered channel: its apprise URL, the plugin's own sender, or the log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ilertd.channels.apprise_channel import AppriseChannel
from ilertd.channels.base import Sender
from ilertd.channels.log_channel import LogChannel
from ilertd.config import Config

if TYPE_CHECKING:
    from ilertd.hookspecs import Channel
    from ilertd.plugins.manager import PluginManager


def sender_for(channel: Channel) -> Sender:
    """A fresh AppriseChannel for a URL (it holds per-send state), else the plugin's sender (shared
    by the method's channel actors), else the log."""
    if channel.sender is not None:
        return channel.sender
    if channel.url:
        return AppriseChannel(channel.method.lower(), channel.url, short_messages=channel.short_messages,
                              layout=channel.layout)
    return LogChannel(channel.method)


def channels_from_config(config: Config, plugins: PluginManager | None = None) -> dict[str, Sender]:
    """A sender per contact method the channel plugins register (those found through the entry
    points when no manager is given)."""
    if plugins is None:
        from ilertd.plugins.manager import PluginManager

        plugins = PluginManager(config)
        plugins.load_entry_points()
    return {method: sender_for(channel) for method, channel in plugins.channels.items()}
