"""Mail domains compared as mail is routed to them: case, a trailing dot and IDNA forms do not matter."""

from __future__ import annotations

import encodings.idna


def domain_form(domain: str) -> str:
    """A domain for comparison: `Alerts.Example.com.` and `alerts.example.com`, `ü` and `xn--` alike."""
    domain = domain.strip().rstrip(".").lower()
    try:
        return ".".join(encodings.idna.ToASCII(label).decode("ascii") if label else ""
                        for label in domain.split(".")).lower()
    except UnicodeError:
        return domain


def at_domain(address: str, domain: str) -> bool:
    """Whether the e-mail `address` is at `domain` (an empty domain: none is)."""
    _local, at, address_domain = address.rpartition("@")
    return bool(at and domain.strip()) and domain_form(address_domain) == domain_form(domain)
