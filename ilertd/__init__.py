"""ilertd: a self-hosted on-call alerting daemon; the package root re-exports the plugin marker."""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("ilertd")

__all__ = ["__version__", "hookimpl"]
