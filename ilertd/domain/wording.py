"""How messages and documents word the product's nouns: their plurals, the names people gave."""

from __future__ import annotations


def quoted(name: str) -> str:
    """A name as its owner entered it, in double quotes: `"Veeam job D:\\backups (Bob's)"`. Not
    Python's repr, which doubled a backslash and switched to double quotes for an apostrophe
    (summaries and pages are read by people, not parsed back)."""
    return f'"{name}"'


def plural(noun: str) -> str:
    """The plural of one of the product's nouns: "escalation policy" -> "escalation policies"."""
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u"):
        return noun[:-1] + "ies"
    return noun + "s"
