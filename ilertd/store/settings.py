"""Small values kept in the store: generated once (the link-signing secret, ...) or counted (the
config generation another process bumps so a running daemon reads its changes)."""

from __future__ import annotations

from ilertd.store import models as m

# Bumped by a command that writes beside a running daemon (`ilertd provision`, `ilertd user
# delete`) in its own transaction: the daemon's caches were not told, and it looks for this.
CONFIG_GENERATION = "config_generation"


def setting(key: str) -> str | None:
    """The value kept under `key`, or None when there is none yet."""
    row = m.Setting.get_or_none(m.Setting.key == key)
    return row.value if row is not None else None


def config_generation() -> int:
    """How many times another process has changed what the daemon caches (0: never)."""
    value = setting(CONFIG_GENERATION)
    return int(value) if value else 0


def bump_config_generation() -> int:
    """Count one more change, inside the caller's write transaction; the new generation."""
    generation = config_generation() + 1
    (m.Setting.insert(key=CONFIG_GENERATION, value=str(generation))
     .on_conflict(conflict_target=[m.Setting.key], preserve=[m.Setting.value]).execute())
    return generation
