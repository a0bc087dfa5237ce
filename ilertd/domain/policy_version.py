"""An escalation policy's version: what an edit made from a loaded copy checks it still edits."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def policy_version(name: str, rules: Any, repeating: bool, frequency: int) -> str:
    """A short digest of what a policy edit changes: its name, levels, repeating and frequency as
    stored. Another's edit since a copy was loaded changes it."""
    edited = {"name": name, "rules": rules, "repeating": bool(repeating), "frequency": int(frequency)}
    text = json.dumps(edited, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]
