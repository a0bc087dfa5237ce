"""The SNS side of the `cloudwatch` integration: the envelope, its canonical string and RSA
signature as AWS documents them, which URLs may be fetched, and the verifier that fetches signing
certificates (kept by URL) and confirms subscriptions."""

from __future__ import annotations

import base64
import binascii
import http.client
import ipaddress
import json
import logging
import re
import ssl
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ilertd.errors import ApiError
from ilertd.hookspecs import IntegrationRequest
from ilertd.plugins.payloads import header, invalid_payload

logger = logging.getLogger(__name__)

# The integration whose refusals these are.
NAME = "cloudwatch"

MESSAGE_TYPE_HEADER = "x-amz-sns-message-type"
# An SNS signing certificate is about 2 KiB; a confirmation reply under 1 KiB.
MAX_FETCH_BYTES = 64 * 1024
# Certificates by URL; SNS rotates them rarely, so a handful covers every region in use.
CACHED_CERTIFICATES = 32

# The fields each message type signs, in the documented order ("Verifying the signatures of
# Amazon SNS messages"); Subject only when the notification has one.
SIGNED_FIELDS: dict[str, tuple[str, ...]] = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                                 "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                                "TopicArn", "Type"),
}
OPTIONAL_SIGNED_FIELDS = frozenset({"Subject"})
ENVELOPE_FIELDS = ("SignatureVersion", "Signature", "SigningCertURL")
SIGNATURE_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}

_UNSAFE_URL_CHARACTERS = re.compile(r"[\x00-\x20\x7f\\]")


class FetchError(Exception):
    """A URL could not be fetched: the network, a timeout, or a reply other than 200."""


# --- pure: the SNS envelope, its canonical string, which URLs may be fetched ---------------------


def _invalid(reason: str) -> ApiError:
    return invalid_payload(reason, NAME)


def _unsigned(reason: str) -> ApiError:
    return ApiError(401, "INVALID_SIGNATURE", f"cloudwatch: {reason}")


def sns_message(body: Any, message_type_header: str | None) -> dict[str, Any]:
    """The SNS message of a request body, checked to hold every field its type signs (400 if not)."""
    if not isinstance(body, dict):
        raise _invalid("the body must be a JSON object (an SNS message)")
    message_type = body.get("Type")
    if message_type not in SIGNED_FIELDS:
        raise _invalid(f"'Type' must be one of {', '.join(SIGNED_FIELDS)}, got {message_type!r}"
                       " (is raw message delivery on? ilertd needs the SNS envelope to verify it)")
    if message_type_header is not None and message_type_header.strip() != message_type:
        raise _invalid(f"the x-amz-sns-message-type header says {message_type_header!r}"
                       f" but the message's Type is {message_type!r}")
    for name in (*SIGNED_FIELDS[message_type], *ENVELOPE_FIELDS):
        value = body.get(name)
        if name in OPTIONAL_SIGNED_FIELDS and value is None:
            continue
        if not isinstance(value, str):
            raise _invalid(f"'{name}' is missing or not a string")
    return body


def canonical_string(message: Mapping[str, Any]) -> bytes:
    """What SNS signs: each signed field's name and value, a line each, in the documented order."""
    lines: list[str] = []
    for name in SIGNED_FIELDS[message["Type"]]:
        if name in OPTIONAL_SIGNED_FIELDS and message.get(name) is None:
            continue
        lines += [name, message[name]]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_refusal(url: str, host_pattern: re.Pattern[str]) -> str | None:
    """Why `url` may not be fetched, or None. https on a host the pattern matches whole; plain http
    only to a loopback address (127.0.0.0/8, ::1), which the pattern must then allow too."""
    if _UNSAFE_URL_CHARACTERS.search(url):
        return "holds a space, a control character or a backslash"
    try:
        parts = urlsplit(url)
        _ = parts.port  # a bad port raises here, not at fetch time
    except ValueError as error:
        return f"is not a URL ({error})"
    if "@" in parts.netloc:
        return "names a user"
    host = parts.hostname
    if not host:
        return "has no host"
    if not host_pattern.fullmatch(host):
        return f"host {host!r} does not match [plugins.cloudwatch] cert_host_pattern"
    if not (parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(host))):
        return "is not https"
    return None


def as_signed(body: bytes, message: dict[str, Any]) -> Mapping[str, Any]:
    """The message as SNS signed it. `IntegrationRequest.json()` keeps a U+0000 as U+FFFD (it
    cannot be stored everywhere: ilertd.domain.text_input), which changes what the signature
    covers; only a body holding the escape `\\u0000` differs, and is read again as it came."""
    if b"\\u0000" not in body:
        return message
    # `message` came from this very body, so it is JSON; json_input refused what it must refuse.
    signed: dict[str, Any] = json.loads(body)
    return signed


def check_signature(message: Mapping[str, Any], public_key: rsa.RSAPublicKey) -> None:
    """401 INVALID_SIGNATURE unless `Signature` is the RSA signature of the canonical string."""
    hash_algorithm = SIGNATURE_HASHES.get(message["SignatureVersion"])
    if hash_algorithm is None:
        raise _unsigned(f"SignatureVersion {message['SignatureVersion']!r} is not 1 or 2")
    try:
        signature = base64.b64decode(message["Signature"], validate=True)
    except (binascii.Error, ValueError):
        raise _unsigned("Signature is not base64") from None
    try:
        public_key.verify(signature, canonical_string(message), padding.PKCS1v15(), hash_algorithm())
    except InvalidSignature:
        raise _unsigned(f"the {message['Type']} does not match its Signature") from None


def certificate_key(pem: bytes) -> rsa.RSAPublicKey:
    """The RSA public key of a PEM certificate; 401 if it is none."""
    # Imported here, on the first certificate: it is most of this module's import (about 20 ms
    # of every daemon start), and most daemons never receive an SNS message.
    from cryptography import x509

    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise _unsigned("SigningCertURL does not hold a PEM certificate") from None
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise _unsigned("the certificate at SigningCertURL has no RSA key")
    return key


# --- I/O: fetching certificates and confirming subscriptions ------------------------------------


def http_get(url: str, timeout: float) -> bytes:
    """GET a URL that `url_refusal` passed, from exactly the host it checked: no redirects, no
    proxy, at most MAX_FETCH_BYTES; https with the system's CA certificates."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(host, parts.port, timeout=timeout,
                                                 context=ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(host, parts.port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("GET", target, headers={"User-Agent": "ilertd-cloudwatch"})
        response = connection.getresponse()
        if response.status != 200:
            raise FetchError(f"answered HTTP {response.status}")
        data = response.read(MAX_FETCH_BYTES + 1)
        if len(data) > MAX_FETCH_BYTES:
            raise FetchError(f"answered more than {MAX_FETCH_BYTES} bytes")
        return data
    except (OSError, http.client.HTTPException) as error:
        raise FetchError(str(error) or type(error).__name__) from None
    finally:
        connection.close()


class SnsVerifier:
    """The integration's `verify`: refuses what is not a genuine SNS message, confirms subscriptions.

    Holds the certificates it fetched, by URL (the most recent CACHED_CERTIFICATES)."""

    def __init__(self, cert_host_pattern: re.Pattern[str], timeout: float,
                 fetch: Callable[[str, float], bytes] = http_get) -> None:
        self.cert_host_pattern = cert_host_pattern
        self.timeout = timeout
        self.fetch = fetch
        self._keys: OrderedDict[str, rsa.RSAPublicKey] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, request: IntegrationRequest) -> None:
        message = sns_message(request.json(), header(request.headers, MESSAGE_TYPE_HEADER))
        # Both URLs are judged before either is fetched: a refused one costs no request at all.
        self._check_url(message["SigningCertURL"], "SigningCertURL")
        if message["Type"] == "SubscriptionConfirmation":
            self._check_url(message["SubscribeURL"], "SubscribeURL")
        check_signature(as_signed(request.body, message), self.public_key(message["SigningCertURL"]))
        if message["Type"] == "SubscriptionConfirmation":
            self._get(message["SubscribeURL"], "SubscribeURL")
            logger.info("cloudwatch: confirmed the SNS subscription of %s to alert source %r",
                        message["TopicArn"], request.source_name)
        elif message["Type"] == "UnsubscribeConfirmation":
            logger.info("cloudwatch: %s unsubscribed alert source %r", message["TopicArn"],
                        request.source_name)

    def _check_url(self, url: str, field: str) -> None:
        refusal = url_refusal(url, self.cert_host_pattern)
        if refusal is not None:
            raise _unsigned(f"{field} {refusal}")

    def _get(self, url: str, field: str) -> bytes:
        try:
            return self.fetch(url, self.timeout)
        except FetchError as error:
            # 5xx: SNS retries it later, as it should for an AWS endpoint that did not answer.
            raise ApiError(502, "SNS_UNREACHABLE", f"cloudwatch: fetching {field} failed: {error}") from None

    def public_key(self, url: str) -> rsa.RSAPublicKey:
        """The key of the certificate at `url`, fetched once and then kept."""
        with self._lock:
            key = self._keys.get(url)
            if key is not None:
                self._keys.move_to_end(url)
                return key
        key = certificate_key(self._get(url, "SigningCertURL"))
        with self._lock:
            self._keys[url] = key
            while len(self._keys) > CACHED_CERTIFICATES:
                self._keys.popitem(last=False)
        return key
