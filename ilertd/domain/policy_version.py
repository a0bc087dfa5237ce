"""An escalation policy's version as a form loaded it: what a save checks it still edits."""

from __future__ import annotations

import hashlib
import json
from typing import Any

# What a policy form edits; a change to any of them since the form was loaded is another's edit.
EDITED_FIELDS = ("name", "escalationRules", "repeating", "frequency")


def policy_version(policy: dict[str, Any]) -> str:
    """A short digest of the policy's edited fields (as the API shows them)."""
    edited = {name: policy.get(name) for name in EDITED_FIELDS}
    text = json.dumps(edited, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def changed_since(policy: dict[str, Any], loaded_version: str) -> bool:
    """Whether `policy` is no longer the one a form loaded as `loaded_version` (none: an older
    form without the field, taken as unchanged)."""
    return bool(loaded_version) and loaded_version != policy_version(policy)
