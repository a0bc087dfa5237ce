"""A page's e-mail as apprise prepared it, finished in one pass over its headers: the page's own
Message-ID (the same for every copy of the page), its Subject folded, and an HTML part beside the text."""

from __future__ import annotations

import base64
import secrets
from email.header import Header

# The headers of apprise's single text part, replaced by those of the multipart.
_PART_HEADERS = ("content-type", "content-transfer-encoding", "mime-version")


def message_id(reference: str, from_address: str, smtp_host: str) -> str:
    """The e-mail's Message-ID: the page's reference at the sender's domain (the SMTP host's when
    the sender has none), the same for every copy of the page."""
    domain = from_address.rpartition("@")[2].strip() or smtp_host or "ilertd.invalid"
    return f"<{reference}@{domain}>"


def subject_header(subject: str) -> str:
    """The Subject header of `subject`, folded into lines SMTP takes: apprise wrote it on one line,
    one encoded word for text beyond ASCII, which a server refuses past 998 characters ("500 Line
    too long": 80 Japanese characters were enough, and the page was never sent). Text that reads
    like an encoded word itself (`=?utf-8?q?...?=`) is encoded, so that it shows as written. Its
    line breaks are spaces: an alert's summary of several lines put a header of its own in the
    e-mail ("Reply-To : attacker@..."), or one a reader took for the end of the headers, and the
    email package refused some outright, so the page was never sent."""
    subject = " ".join(subject.split())
    plain = subject.isascii() and "=?" not in subject and all(len(word) <= 200 for word in subject.split())
    if plain and len(subject) <= 900 and subject.isprintable():
        # On one line as apprise wrote it: a reply's quoted subject then holds the reply key whole
        # even for a client that does not unfold.
        return "Subject: " + subject
    value = Header(subject, "us-ascii" if plain else "utf-8", header_name="Subject")
    return "Subject: " + value.encode(linesep="\n", maxlinelen=78)


def finish_email(prepared: str, identifier: str = "", text: str = "", html: str = "",
                 subject: str = "") -> str:
    """The e-mail apprise prepared, with its Message-ID (a random one) replaced by `identifier`,
    its Subject by `subject` folded (see subject_header) and, given `html`, its text/plain body
    made multipart/alternative of `text` and `html`.

    Every other header apprise wrote (Subject, From, To, Reply-To, ours) is kept. A signed or
    encrypted e-mail keeps its body: changing it would break it.
    """
    # Written by hand: parsing apprise's e-mail and generating a new one with the email package
    # cost 0.7 ms a page, most of a 1,000-page burst's extra second; this costs a tenth of that.
    head, separator, body = prepared.replace("\r\n", "\n").partition("\n\n")
    if not separator or not (identifier or html or subject):
        return prepared
    headers: list[list[str]] = []
    for line in head.split("\n"):
        if line[:1] in (" ", "\t") and headers:
            headers[-1].append(line)  # a folded header's continuation
        else:
            headers.append([line])
    names = [h[0].split(":", 1)[0].strip().lower() for h in headers]
    content_type = next((" ".join(h).partition(":")[2].strip().lower()
                         for h, name in zip(headers, names, strict=True) if name == "content-type"),
                        "text/plain")
    alternative = bool(html) and content_type.startswith("text/plain")
    dropped = (*(_PART_HEADERS if alternative else ()), *(("message-id",) if identifier else ()))
    kept = [subject_header(subject) if name == "subject" and subject else "\n".join(h)
            for h, name in zip(headers, names, strict=True) if name not in dropped]
    if identifier:
        kept.append(f"Message-ID: {identifier}")
    if not alternative:
        return "\n".join(kept) + "\n\n" + body
    boundary = f"=={secrets.token_hex(12)}=="
    parts = "".join(
        f"--{boundary}\nContent-Type: text/{kind}; charset=\"utf-8\"\nContent-Transfer-Encoding: base64\n\n"
        f"{base64.encodebytes(part.encode()).decode()}"
        for kind, part in (("plain", text), ("html", html)))
    return ("\n".join(kept) + f"\nMIME-Version: 1.0\nContent-Type: multipart/alternative; "
            f"boundary=\"{boundary}\"\n\n{parts}--{boundary}--\n")
