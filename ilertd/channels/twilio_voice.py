"""Phone calls through Twilio's Calls API with our own client (apprise hard-codes its host); its signature.

The call's TwiML comes from ilertd itself (the voice plugin's `/api/v1/twilio/voice/{notificationId}`),
which reads the incident aloud; `api_base_url` lets tests and proxies stand in for Twilio. The
Calls API takes no idempotency key: a call re-placed after a crash is recognised by its TwiML URL,
which names the notification, and by the page's reference in the `Idempotency-Key` header (for
a proxy in front of Twilio, or a person reading its log).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
from xml.sax.saxutils import escape

from ilertd.channels.base import DeliveryError, Message
from ilertd.domain.text_input import storable_pairs
from ilertd.errors import ApiError

logger = logging.getLogger(__name__)

# How long Twilio may take to answer (each read): a call placed and answered late was counted
# failed, and placed again at each retry.
TIMEOUT_S = 30
# What XML 1.0 cannot hold (§2.2): the C0 controls but tab, newline and carriage return, and
# U+FFFE, U+FFFF. An alert's summary may hold any of them, and one in a TwiML document makes it
# one Twilio cannot parse: the callee hears "an application error has occurred", not the page.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def twiml_text(text: str) -> str:
    """`text` escaped for a TwiML document, what XML cannot hold as spaces."""
    return escape(_NOT_XML.sub(" ", text))


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's request signature: HMAC-SHA1 over the URL and the sorted POST parameters."""
    data = url + "".join(key + params[key] for key in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def check_twilio_request(auth_token: str, public_url: str, path: str, query: str, method: str,
                         body: bytes, given: str) -> dict[str, str]:
    """The request's form parameters, once its `X-Twilio-Signature` (`given`) is Twilio's for the URL
    under `public_url`; ApiError 403 otherwise (also when Twilio is not configured)."""
    if not auth_token:
        raise ApiError(403, "FORBIDDEN", "Twilio is not configured")
    url = public_url + path + (f"?{query}" if query else "")
    form = urllib.parse.parse_qsl(body.decode(errors="replace"), keep_blank_values=True)
    params = dict(form) if method == "POST" else {}
    if not hmac.compare_digest(given.encode(), twilio_signature(auth_token, url, params).encode()):
        raise ApiError(403, "FORBIDDEN", "missing or invalid X-Twilio-Signature")
    # Signed as Twilio sent them; kept with U+FFFD for U+0000 (ilertd.domain.text_input).
    return storable_pairs(params)


class TwilioVoiceChannel:
    name = "voice"

    def __init__(self, account_sid: str, auth_token: str, from_number: str, api_base_url: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = from_number
        self.api_base_url = api_base_url.rstrip("/")

    def send(self, target: str, message: Message) -> None:
        if not message.voice_url:
            raise DeliveryError("a voice page needs a TwiML URL")
        url = f"{self.api_base_url}/2010-04-01/Accounts/{urllib.parse.quote(self.account_sid)}/Calls.json"
        form = urllib.parse.urlencode({
            "To": target, "From": self.from_number, "Url": message.voice_url, "Method": "POST",
        }).encode()
        credentials = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        request = urllib.request.Request(url, data=form, method="POST", headers={
            "Authorization": f"Basic {credentials}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            "Idempotency-Key": message.idempotency_key,
        })
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                answer = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read()[:300].decode(errors="replace")
            retry_after = error.headers.get("Retry-After") if error.code in (429, 503) else None
            raise DeliveryError(f"Twilio refused the call to {target}: HTTP {error.code} {detail}",
                                retry_after) from None
        except (urllib.error.URLError, OSError) as error:
            if _timed_out(error):
                raise DeliveryError(f"Twilio timed out after {TIMEOUT_S} s waiting for its answer (the"
                                    f" call to {target} may have been placed)") from None
            raise DeliveryError(f"Twilio could not be reached: {error}") from None
        try:
            reply = json.loads(answer or b"{}")
        except ValueError:
            reply = None
        if not isinstance(reply, dict) or not reply.get("sid"):
            # A 2xx: the call was placed (a proxy may rewrite the body); placing it again at each
            # retry would ring the responder again.
            logger.warning("Twilio took the call to %s without a readable call sid: %r", target, answer[:200])


def _timed_out(error: BaseException) -> bool:
    reason = getattr(error, "reason", error)
    return isinstance(reason, TimeoutError) or "timed out" in str(reason)
