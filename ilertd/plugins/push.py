"""Push pages as a built-in channel plugin: sent through the apprise URL of `[channels.push] url`."""

from __future__ import annotations

from ilertd import hookimpl
from ilertd.hookspecs import Channel, PluginContext


@hookimpl
def register_channels(context: PluginContext) -> list[Channel]:
    # Empty: the method still exists (contacts may use it), and its pages go to the log.
    return [Channel("PUSH", url=context.settings.channels.push.url, layout="push",
                    description="push notifications through apprise (ntfys://, pover://, ...)")]
