"""How an SMS is counted: GSM-7 septets or UCS-2 units, one segment's limit, typographic marks made plain."""

from __future__ import annotations

SMS_LIMIT = 160
# A text with a character outside GSM 03.38 goes as UCS-2: 70 characters a segment.
UCS2_LIMIT = 70

_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Characters of the GSM 03.38 extension table: each takes two septets.
_GSM7_EXTENDED = set("^{}\\[~]|€\f")


def gsm7_septets(text: str) -> int | None:
    """How many septets `text` takes in GSM-7, or None when it needs UCS-2."""
    count = 0
    for char in text:
        if char in _GSM7:
            count += 1
        elif char in _GSM7_EXTENDED:
            count += 2
        else:
            return None
    return count


def ucs2_units(text: str) -> int:
    """How many 16-bit units `text` takes in UCS-2 (UTF-16): two for a character beyond the BMP (an emoji)."""
    return len(text.encode("utf-16-le")) // 2


def fits_one_sms(text: str) -> bool:
    septets = gsm7_septets(text)
    return septets <= SMS_LIMIT if septets is not None else ucs2_units(text) <= UCS2_LIMIT


# Typographic marks a summary picks up from a tool or an editor, as Twilio's Smart Encoding sends
# them: one of them made the whole SMS UCS-2, 70 characters instead of 160.
_SMART_MARKS = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u2026": "...", "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u2002": " ", "\u2003": " ",
    "\u200b": "", "\u2022": "*",
})


def smart_encoded(text: str) -> str:
    """`text` with typographic quotes, dashes, ellipses and spaces as their plain GSM-7 forms."""
    return text.translate(_SMART_MARKS)
