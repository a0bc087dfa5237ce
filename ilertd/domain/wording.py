"""How messages and documents word the product's nouns: their plurals."""

from __future__ import annotations


def plural(noun: str) -> str:
    """The plural of one of the product's nouns: "escalation policy" -> "escalation policies"."""
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u"):
        return noun[:-1] + "ies"
    return noun + "s"
