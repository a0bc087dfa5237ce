"""The numbers ilertd pages from: E.164 form, the country of a calling code, merging, and the vCard."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ilertd.domain.ical import CRLF, escape_text, fold_line

SMS = "SMS"
VOICE = "VOICE"
# vCard 3.0 TEL types by our type: TYPE=text is vCard 4.0's name for a number that takes texts;
# 3.0 allows other type names (RFC 2426 3.3.1, iana-type), and contact apps read it.
VCARD_TEL_TYPES = {VOICE: "voice", SMS: "text"}

E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# What people write between the digits of a number in a configuration file.
_SEPARATORS = re.compile(r"[\s().\-/]")

# Every country code ITU-T E.164 assigns to a country or territory, as the ISO 3166-1 alpha-2
# code of the main country where several share one (44: GB, not GG, IM or JE; 39: IT, not VA;
# 590: GP, not BL or MF); 383 is Kosovo's, whose XK is the code in common use (ISO assigns
# none). Codes 1 and 7 are split further below. Codes that name no country (800, 808, 870,
# 878, 881, 882, 883, 888, 979: international freephone, satellite, networks) and unassigned
# ones are left out: their numbers have no country. No code is a prefix of another (E.164
# country codes are a prefix code), so the first prefix found is the code.
_CALLING_CODES = """
    1 US  7 RU  20 EG  27 ZA  30 GR  31 NL  32 BE  33 FR  34 ES  36 HU  39 IT  40 RO  41 CH
    43 AT  44 GB  45 DK  46 SE  47 NO  48 PL  49 DE  51 PE  52 MX  53 CU  54 AR  55 BR  56 CL
    57 CO  58 VE  60 MY  61 AU  62 ID  63 PH  64 NZ  65 SG  66 TH  81 JP  82 KR  84 VN  86 CN
    90 TR  91 IN  92 PK  93 AF  94 LK  95 MM  98 IR
    211 SS  212 MA  213 DZ  216 TN  218 LY  220 GM  221 SN  222 MR  223 ML  224 GN  225 CI
    226 BF  227 NE  228 TG  229 BJ  230 MU  231 LR  232 SL  233 GH  234 NG  235 TD  236 CF
    237 CM  238 CV  239 ST  240 GQ  241 GA  242 CG  243 CD  244 AO  245 GW  246 IO  247 AC
    248 SC  249 SD  250 RW  251 ET  252 SO  253 DJ  254 KE  255 TZ  256 UG  257 BI  258 MZ
    260 ZM  261 MG  262 RE  263 ZW  264 NA  265 MW  266 LS  267 BW  268 SZ  269 KM  290 SH
    291 ER  297 AW  298 FO  299 GL
    350 GI  351 PT  352 LU  353 IE  354 IS  355 AL  356 MT  357 CY  358 FI  359 BG  370 LT
    371 LV  372 EE  373 MD  374 AM  375 BY  376 AD  377 MC  378 SM  380 UA  381 RS  382 ME
    383 XK  385 HR  386 SI  387 BA  389 MK  420 CZ  421 SK  423 LI
    500 FK  501 BZ  502 GT  503 SV  504 HN  505 NI  506 CR  507 PA  508 PM  509 HT  590 GP
    591 BO  592 GY  593 EC  594 GF  595 PY  596 MQ  597 SR  598 UY  599 CW
    670 TL  672 NF  673 BN  674 NR  675 PG  676 TO  677 SB  678 VU  679 FJ  680 PW  681 WF
    682 CK  683 NU  685 WS  686 KI  687 NC  688 TV  689 PF  690 TK  691 FM  692 MH
    850 KP  852 HK  853 MO  855 KH  856 LA  880 BD  886 TW
    960 MV  961 LB  962 JO  963 SY  964 IQ  965 KW  966 SA  967 YE  968 OM  970 PS  971 AE
    972 IL  973 BH  974 QA  975 BT  976 MN  977 NP  992 TJ  993 TM  994 AZ  995 GE  996 KG
    998 UZ
"""
CALLING_CODES: dict[str, str] = dict(zip(*[iter(_CALLING_CODES.split())] * 2, strict=True))

# North America (+1) shares one code: the area code tells the country. These are the area codes
# of Canada and of the Caribbean and Pacific members of the plan (geographic ones, and Canada's
# non-geographic 600, 622, 633); every other area code is counted as US, so an area code
# opened after this table was written reads as US until it is added here.
_NANP_AREAS = """
    CA 204 226 236 249 250 257 263 273 289 306 343 354 365 367 368 382 403 416 418 428 431
       437 438 450 468 474 506 514 519 548 579 581 584 587 600 604 613 622 633 639 647 672
       683 705 709 742 753 778 780 782 807 819 825 867 873 879 902 905 942
    AG 268  AI 264  AS 684  BB 246  BM 441  BS 242  DM 767  DO 809 829 849  GD 473  GU 671
    JM 658 876  KN 869  KY 345  LC 758  MP 670  MS 664  PR 787 939  SX 721  TC 649  TT 868
    VC 784  VG 284  VI 340
"""


def _nanp_areas(text: str) -> dict[str, str]:
    areas: dict[str, str] = {}
    country = ""
    for word in text.split():
        if word.isdigit():
            areas[word] = country
        else:
            country = word
    return areas


NANP_AREAS = _nanp_areas(_NANP_AREAS)
# +7 is Russia's, but for Kazakhstan's numbers, which start +76 and +77.
KAZAKHSTAN_PREFIXES = frozenset({"6", "7"})


def country_of(number: str) -> str | None:
    """The ISO 3166-1 alpha-2 country of an E.164 number by its calling code, or None when the code
    names no country (international services) or none is assigned.

    +1 is read by the area code (the three digits after it): Canada's and the other members'
    as theirs, any other as US; a +1 number too short to hold an area code is US. +7 is
    Kazakhstan (KZ) when the next digit is 6 or 7, else Russia (RU).
    """
    if not number.startswith("+") or not number[1:].isdigit():
        return None
    digits = number[1:]
    code = next((digits[:n] for n in (1, 2, 3) if digits[:n] in CALLING_CODES), None)
    if code is None:
        return None
    if code == "1":
        return NANP_AREAS.get(digits[1:4], "US")
    if code == "7" and digits[1:2] in KAZAKHSTAN_PREFIXES:
        return "KZ"
    return CALLING_CODES[code]


def e164(text: str) -> str | None:
    """`text` as an E.164 number, the separators people write (spaces, dashes, dots, brackets,
    slashes) taken out; None when it is not one (no leading +, too short or too long)."""
    compact = _SEPARATORS.sub("", text)
    return compact if E164.fullmatch(compact) else None


# apprise's twilio:// sender may name a mode before the number: `w:` (or `whatsapp:`) sends
# through WhatsApp, anything else as SMS (apprise/plugins/twilio.py, MODE_DETECT_RE).
_TWILIO_MODE = re.compile(r"\s*(?:(?P<mode>[^:]+)\s*:\s*)?(?P<number>.+)$")
_TWILIO_NUMBER = re.compile(r"^\+?[0-9\s)(+-]+\s*$")


def twilio_sender(source: str) -> tuple[str, bool] | None:
    """The E.164 number pages go out from, given the sender of an apprise twilio:// URL, and whether
    they go through WhatsApp; None for a short code (5 or 6 digits: no E.164 number) or a sender
    apprise refuses.

    As apprise reads it: the digits alone, 11 to 14 of them, country code included, with a +
    put before them.
    """
    found = _TWILIO_MODE.match(source)
    if found is None:
        return None
    number = found.group("number")
    if not _TWILIO_NUMBER.match(number):
        return None
    digits = re.sub(r"[^0-9]", "", number)
    if not 11 <= len(digits) <= 14:
        return None
    whole = e164("+" + digits)
    whatsapp = (found.group("mode") or "").strip().lower().startswith("w")
    return None if whole is None else (whole, whatsapp)


# Twilio names the channel before the number of a message through WhatsApp, in the webhook's
# `From` and `To` as in the API: `whatsapp:+4915112345678`.
_TWILIO_CHANNEL = re.compile(r"\s*whatsapp:\s*", re.IGNORECASE)


def twilio_address_number(address: str) -> str:
    """The number of a Twilio webhook's `From` or `To`, without the channel a WhatsApp message
    names before it: a reply through WhatsApp comes from the same contact as one by SMS."""
    found = _TWILIO_CHANNEL.match(address)
    return address[found.end():] if found is not None else address


@dataclass(frozen=True)
class SenderNumber:
    """A number pages come from (VOICE: calls, SMS: texts), and whether a text to it reaches ilertd."""

    phone_number: str
    types: frozenset[str]
    supports_inbound_sms: bool

    @property
    def country_code(self) -> str | None:
        return country_of(self.phone_number)


def merge_numbers(numbers: Iterable[SenderNumber]) -> list[SenderNumber]:
    """One entry per number, its types and inbound SMS joined, ordered by number."""
    merged: dict[str, SenderNumber] = {}
    for number in numbers:
        known = merged.get(number.phone_number)
        if known is not None:
            number = SenderNumber(number.phone_number, known.types | number.types,
                                  known.supports_inbound_sms or number.supports_inbound_sms)
        merged[number.phone_number] = number
    return [merged[key] for key in sorted(merged)]


def render_vcard(numbers: Sequence[SenderNumber], name: str = "ilertd", organization: str = "ilertd",
                 note: str = "On-call pages from ilertd come from these numbers.") -> str:
    """One vCard 3.0 (RFC 2426) holding every number as a TEL line, so responders can save them.

    CRLF line endings; text values escaped as RFC 2426 4 says (backslash, comma, semicolon,
    newline: the same rule as iCalendar's TEXT) and lines folded at 75 octets (RFC 2425 5.8.1).
    A VOICE number is TYPE=voice, an SMS one TYPE=text, both TYPE=voice,text.
    """
    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        "PRODID:-//ilertd//numbers//EN",
        # N is required in 3.0; a card for a service names it as its family name.
        f"N:{escape_text(name)};;;;",
        f"FN:{escape_text(name)}",
        f"ORG:{escape_text(organization)}",
    ]
    if note:
        lines.append(f"NOTE:{escape_text(note)}")
    for number in numbers:
        types = ",".join(VCARD_TEL_TYPES[t] for t in (VOICE, SMS) if t in number.types)
        lines.append(f"TEL;TYPE={types}:{number.phone_number}" if types else f"TEL:{number.phone_number}")
    lines.append("END:VCARD")
    return "".join(folded + CRLF for line in lines for folded in fold_line(line))
