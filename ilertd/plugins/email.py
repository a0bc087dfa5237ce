"""E-mail pages as a built-in channel plugin: sent through the apprise URL of `[channels.email] url`."""

from __future__ import annotations

from ilertd import hookimpl
from ilertd.hookspecs import Channel, PluginContext


@hookimpl
def register_channels(context: PluginContext) -> list[Channel]:
    # Empty: the method still exists (contacts may use it), and its pages go to the log.
    return [Channel("EMAIL", url=context.settings.channels.email.url, layout="email",
                    description="e-mail through apprise (mailto://, mailtos://, ...)")]
