"""The `cloudwatch` integration: SNS signatures against a loopback certificate, subscriptions, alarms.

The fixtures' signatures are placeholders: each test points SigningCertURL (and SubscribeURL) at a
loopback HTTP server serving a self-signed certificate, and signs the message with its key here,
building the canonical string from AWS's documentation rather than from the plugin's code.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from ilertd.config import Config, PluginSections
from ilertd.hookspecs import IntegrationRequest
from ilertd.plugins import cloudwatch
from ilertd.plugins.manager import PluginManager
from ilertd.plugins.sns import url_refusal
from tests import integration_helpers as helpers
from tests.inprocess import InProcessDaemon

ALARM = "aws_sns_cloudwatch_alarm"
OK = "aws_sns_cloudwatch_ok"
SUBSCRIPTION = "aws_sns_subscription_confirmation"
ALARM_ARN = "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:checkout-5xx-rate"
CONFIRMATION_PATH = "/confirm?Action=ConfirmSubscription&Token=2336412f"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def self_signed_pem(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.loopback.test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=30))
                   .sign(key, hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return new_key()


class LoopbackAws:
    """SNS's side on 127.0.0.1: the signing certificate at /cert.pem, subscription confirmation at
    /confirm; it records every request path it was asked for."""

    def __init__(self, pem: bytes) -> None:
        self.requests: list[str] = []
        aws = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                aws.requests.append(self.path)
                if self.path == "/cert.pem":
                    self._answer(200, pem)
                elif self.path.startswith("/confirm?"):
                    self._answer(200, b"<ConfirmSubscriptionResponse/>")
                else:
                    self._answer(404, b"no such thing")

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def __enter__(self) -> LoopbackAws:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def aws(signing_key: rsa.RSAPrivateKey) -> Iterator[LoopbackAws]:
    with LoopbackAws(self_signed_pem(signing_key)) as server:
        yield server


@pytest.fixture
def app(tmp_path: Path, make_app: Callable[..., InProcessDaemon]) -> InProcessDaemon:
    """A daemon whose cloudwatch plugin fetches from 127.0.0.1 (its default allows only AWS hosts)."""
    config = tmp_path / "ilertd.toml"
    config.write_text("[plugins.cloudwatch]\ncert_host_pattern = '127\\.0\\.0\\.1'\nfetch_timeout = 2.0\n")
    return make_app(config=config).start()


# The fields SNS signs, in the order of "Verifying the signatures of Amazon SNS messages".
NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")


def sign(message: dict[str, Any], key: rsa.RSAPrivateKey, version: str = "1") -> dict[str, Any]:
    fields = NOTIFICATION_FIELDS if message["Type"] == "Notification" else CONFIRMATION_FIELDS
    text = "".join(f"{name}\n{message[name]}\n" for name in fields if name in message)
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(text.encode(), padding.PKCS1v15(), algorithm)
    return {**message, "SignatureVersion": version, "Signature": base64.b64encode(signature).decode()}


def sns(name: str, aws: LoopbackAws, key: rsa.RSAPrivateKey, version: str = "1",
        cert_url: str | None = None, **changes: Any) -> dict[str, Any]:
    """A fixture message pointed at the loopback server (`changes` applied), signed."""
    message = helpers.fixture_json(f"{name}.json")
    message["SigningCertURL"] = cert_url or aws.url("/cert.pem")
    if "SubscribeURL" in message:
        message["SubscribeURL"] = aws.url(CONFIRMATION_PATH)
    message.update(changes)
    return sign(message, key, version)


def alarm_message(**changes: Any) -> str:
    alarm = json.loads(helpers.fixture_json(f"{ALARM}.json")["Message"])
    return json.dumps({**alarm, **changes})


def make_source(app: InProcessDaemon, segment: str = "cloudwatch") -> str:
    return f"/api/v1/events/{segment}/{helpers.new_source(app, 'CLOUDWATCH', 'aws')}"


def deliver(app: InProcessDaemon, url: str, message: dict[str, Any] | bytes) -> httpx.Response:
    """POST as SNS does: its headers, a text/plain body of indented JSON."""
    body = message if isinstance(message, bytes) else json.dumps(message, indent=2).encode()
    message_type = "Notification" if isinstance(message, bytes) else message["Type"]
    return app.client.post(url, content=body, headers={
        "x-amz-sns-message-type": message_type, "Content-Type": "text/plain; charset=UTF-8",
        "User-Agent": "Amazon Simple Notification Service Agent"})


def test_an_alarm_opens_an_incident_deduplicates_and_ok_resolves_it(
    app: InProcessDaemon, aws: LoopbackAws, signing_key: rsa.RSAPrivateKey
) -> None:
    url = make_source(app)
    alarm = sns(ALARM, aws, signing_key)
    opened = deliver(app, url, alarm)
    assert opened.status_code == 202, opened.text
    (result,) = opened.json()
    assert result["responseCode"] == "NEW_INCIDENT_CREATED"
    incident = app.get(f"/api/incidents/{result['incidentId']}").json()
    assert incident["summary"].startswith(
        "checkout-5xx-rate: Threshold Crossed: 5 out of the last 5 datapoints [212.0 (06/05/24 10:14:00)")
    assert incident["alertKey"] == ALARM_ARN
    assert incident["priority"] == "HIGH"  # the source's: an ALARM carries none of its own
    assert incident["status"] == "PENDING"
    assert incident["links"] == [{
        "href": "https://console.aws.amazon.com/cloudwatch/home?region=eu-central-1"
                "#alarmsV2:alarm/checkout-5xx-rate",
        "text": "CloudWatch alarm"}]
    assert incident["labels"] == {"region": "eu-central-1", "account": "123456789012",
                                  "namespace": "AWS/ApplicationELB", "metric": "HTTPCode_Target_5XX_Count",
                                  "state": "ALARM"}
    assert incident["details"].splitlines()[0] == "5xx responses of the checkout ALB above 5% for 5 minutes"
    assert "Metric: AWS/ApplicationELB/HTTPCode_Target_5XX_Count (SUM) GreaterThanThreshold 50" \
        in incident["details"]
    assert incident["customDetails"]["Trigger"]["Threshold"] == 50.0
    assert aws.requests == ["/cert.pem"]

    again = deliver(app, url, alarm)
    assert again.status_code == 202 and again.json()[0]["responseCode"] == "EVENT_ADDED_TO_INCIDENT"
    assert [i["id"] for i in app.get("/api/incidents").json()] == [incident["id"]]
    assert app.get(f"/api/incidents/{incident['id']}").json()["eventCount"] == 2

    # Signature version 2 (SHA256withRSA), with the certificate already fetched: no second fetch.
    resolved = deliver(app, url, sns(OK, aws, signing_key, version="2"))
    assert resolved.status_code == 202 and resolved.json()[0]["responseCode"] == "INCIDENT_RESOLVED"
    assert app.get(f"/api/incidents/{incident['id']}").json()["status"] == "RESOLVED"
    assert aws.requests == ["/cert.pem"]


def test_a_signed_message_holding_u0000_is_verified_as_sent_and_stored_with_u_fffd(
    app: InProcessDaemon, aws: LoopbackAws, signing_key: rsa.RSAPrivateKey
) -> None:
    """ilertd keeps U+0000 as U+FFFD (PostgreSQL cannot store it); the signature covers the text
    as SNS sent it, so it is checked on that text (it failed as 401 before)."""
    url = make_source(app)
    alarm = sns(ALARM, aws, signing_key, Subject="ALARM: \x00checkout",
                Message=alarm_message(AlarmDescription="5xx\x00 above 5%"))
    assert b"\\u0000" in json.dumps(alarm).encode()
    opened = deliver(app, url, alarm)
    assert opened.status_code == 202, opened.text
    incident = app.get(f"/api/incidents/{opened.json()[0]['incidentId']}").json()
    assert incident["details"].splitlines()[0] == "5xx\ufffd above 5%"
    # Changing what was signed still fails, U+0000 or not.
    forged = {**alarm, "Subject": "ALARM: \x00checkput"}
    assert deliver(app, url, forged).status_code == 401


def test_the_sns_alias_and_insufficient_data_as_a_low_alert(
    app: InProcessDaemon, aws: LoopbackAws, signing_key: rsa.RSAPrivateKey
) -> None:
    url = make_source(app, "SNS")
    message = sns(ALARM, aws, signing_key, Message=alarm_message(
        NewStateValue="INSUFFICIENT_DATA", NewStateReason="Insufficient Data: 1 datapoint was unknown."))
    reply = deliver(app, url, message)
    assert reply.status_code == 202, reply.text
    incident = app.get(f"/api/incidents/{reply.json()[0]['incidentId']}").json()
    assert incident["priority"] == "LOW"
    assert incident["summary"] == ("checkout-5xx-rate (INSUFFICIENT_DATA): "
                                   "Insufficient Data: 1 datapoint was unknown.")
    assert incident["alertKey"] == ALARM_ARN


def test_a_subscription_confirmation_is_confirmed_and_opens_nothing(
    app: InProcessDaemon, aws: LoopbackAws, signing_key: rsa.RSAPrivateKey
) -> None:
    url = make_source(app)
    reply = deliver(app, url, sns(SUBSCRIPTION, aws, signing_key))
    assert reply.status_code == 202, reply.text
    assert reply.json() == []
    assert aws.requests == ["/cert.pem", CONFIRMATION_PATH]
    assert app.get("/api/incidents").json() == []
    topic = "arn:aws:sns:eu-central-1:123456789012:ilertd-alarms"
    assert f"confirmed the SNS subscription of {topic} to alert source 'aws'" in app.log()


def test_a_tampered_or_foreign_signature_is_401_and_stores_nothing(
    app: InProcessDaemon, aws: LoopbackAws, signing_key: rsa.RSAPrivateKey
) -> None:
    url = make_source(app)
    genuine = sns(ALARM, aws, signing_key)
    tampered_message = {**genuine, "Message": alarm_message(AlarmName="someone-elses-alarm")}
    tampered_subject = {**genuine, "Subject": "ALARM: something else"}
    without_subject = {k: v for k, v in genuine.items() if k != "Subject"}
    other_key = sns(ALARM, aws, new_key())
    wrong_version = {**genuine, "SignatureVersion": "2"}
    unknown_version = {**genuine, "SignatureVersion": "3"}
    not_base64 = {**genuine, "Signature": "EXAMPLEpH+ZDdZsm8cPi9KNqZ3N5M6c2Q4NdjbBbxR0mE/XAMPLE==!"}
    placeholder = {**genuine, "Signature": helpers.fixture_json(f"{ALARM}.json")["Signature"]}
    for message in (tampered_message, tampered_subject, without_subject, other_key, wrong_version,
                    unknown_version, not_base64, placeholder):
        reply = deliver(app, url, message)
        assert reply.status_code == 401, reply.text
        assert reply.json()["code"] == "INVALID_SIGNATURE"
    assert app.get("/api/incidents").json() == []
    confirmation = sns(SUBSCRIPTION, aws, signing_key)
    forged = {**confirmation, "SubscribeURL": aws.url("/confirm?Action=ConfirmSubscription&Token=forged")}
    assert deliver(app, url, forged).status_code == 401
    assert not any(path.startswith("/confirm") for path in aws.requests)
    assert deliver(app, url, genuine).status_code == 202
    # Every SNS message is signed: the key alone opens nothing through the routes that take a
    # key alone (it opened and resolved the source's incidents there).
    key = url.rsplit("/", 1)[1]
    native = {"integrationKey": key, "eventType": "ALERT", "summary": "forged"}
    shim = {"routing_key": key, "event_action": "trigger",
            "payload": {"summary": "forged", "source": "x", "severity": "critical"}}
    for path, body in (("/api/events", native), ("/v2/enqueue", shim), (f"/api/v1/events/api/{key}", native)):
        assert app.client.post(path, json=body).status_code == 401, path
    assert len(app.get("/api/incidents").json()) == 1


def test_a_url_on_a_host_the_pattern_refuses_is_never_fetched(
    app: InProcessDaemon, aws: LoopbackAws, signing_key: rsa.RSAPrivateKey
) -> None:
    url = make_source(app)
    # The same loopback server by another name: the pattern allows 127.0.0.1 only.
    by_name = sns(ALARM, aws, signing_key, cert_url=aws.url("/cert.pem", host="localhost"))
    look_alike = sns(ALARM, aws, signing_key, cert_url=aws.url("/cert.pem", host="127.0.0.1.nip.io"))
    with_user = sns(ALARM, aws, signing_key, cert_url=f"http://attacker@127.0.0.1:{aws.port}/cert.pem")
    confirmation = sns(SUBSCRIPTION, aws, signing_key,
                       SubscribeURL=aws.url(CONFIRMATION_PATH, host="localhost"))
    for message, reason in (
        (by_name, "SigningCertURL host 'localhost' does not match [plugins.cloudwatch] cert_host_pattern"),
        (look_alike, "SigningCertURL host '127.0.0.1.nip.io' does not match"),
        (with_user, "SigningCertURL names a user"),
        (confirmation, "SubscribeURL host 'localhost' does not match"),
    ):
        reply = deliver(app, url, message)
        assert reply.status_code == 401, reply.text
        assert reply.json()["code"] == "INVALID_SIGNATURE"
        assert reason in reply.json()["message"]
    assert aws.requests == []
    assert app.get("/api/incidents").json() == []


def test_a_certificate_that_cannot_be_fetched_is_502_so_sns_retries(
    app: InProcessDaemon, aws: LoopbackAws, signing_key: rsa.RSAPrivateKey
) -> None:
    url = make_source(app)
    reply = deliver(app, url, sns(ALARM, aws, signing_key, cert_url=aws.url("/rotated.pem")))
    assert reply.status_code == 502 and reply.json()["code"] == "SNS_UNREACHABLE"
    assert "HTTP 404" in reply.json()["message"]
    assert app.get("/api/incidents").json() == []


@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "not valid JSON"),
    (b'["Notification"]', "must be a JSON object"),
    (json.dumps(json.loads(alarm_message())).encode(), "'Type' must be one of"),  # raw message delivery
    (b'{"Type": "Notification", "MessageId": "m", "TopicArn": "t", "Timestamp": "x", "Message": "{}"}',
     "'SignatureVersion' is missing"),
])
def test_a_malformed_message_is_400_without_any_fetch(
    app: InProcessDaemon, aws: LoopbackAws, body: bytes, reason: str
) -> None:
    helpers.assert_refused(app, deliver(app, make_source(app), body), reason=reason)
    assert aws.requests == []


@pytest.mark.parametrize(("message", "reason"), [
    ("a test message published from the console", "not a CloudWatch alarm"),
    (json.dumps({"AlarmName": "x", "NewStateValue": "PANIC"}), "'NewStateValue' must be one of"),
])
def test_a_signed_notification_that_is_no_alarm_is_400(
    app: InProcessDaemon, aws: LoopbackAws, signing_key: rsa.RSAPrivateKey, message: str, reason: str
) -> None:
    reply = deliver(app, make_source(app), sns(ALARM, aws, signing_key, Message=message))
    helpers.assert_refused(app, reply, reason=reason)


def test_the_message_type_header_must_agree_with_the_body(
    app: InProcessDaemon, aws: LoopbackAws, signing_key: rsa.RSAPrivateKey
) -> None:
    body = json.dumps(sns(SUBSCRIPTION, aws, signing_key)).encode()
    reply = app.client.post(make_source(app), content=body,
                            headers={"x-amz-sns-message-type": "Notification"})
    assert reply.status_code == 400 and "x-amz-sns-message-type" in reply.json()["message"]
    assert aws.requests == []


def test_a_key_of_another_source_type_is_refused(
    app: InProcessDaemon, aws: LoopbackAws, signing_key: rsa.RSAPrivateKey
) -> None:
    reply = deliver(app, f"/api/v1/events/cloudwatch/{app.integration_key}", sns(ALARM, aws, signing_key))
    helpers.assert_refused(app, reply, "INTEGRATION_TYPE_MISMATCH")
    assert aws.requests == []


DEFAULT = re.compile(cloudwatch.DEFAULT_CERT_HOST_PATTERN)


@pytest.mark.parametrize("url", [
    "https://sns.eu-central-1.amazonaws.com/SimpleNotificationService-0000.pem",
    "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-0000.pem",
    "https://SNS.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=t",
])
def test_the_default_pattern_allows_sns_hosts_over_https(url: str) -> None:
    assert url_refusal(url, DEFAULT) is None


@pytest.mark.parametrize(("url", "reason"), [
    ("http://sns.eu-central-1.amazonaws.com/cert.pem", "is not https"),
    ("ftp://sns.eu-central-1.amazonaws.com/cert.pem", "is not https"),
    ("https://sns.eu-central-1.amazonaws.com.evil.example/cert.pem", "does not match"),
    ("https://evil.example/sns.eu-central-1.amazonaws.com/cert.pem", "does not match"),
    ("https://sns.eu-central-1.amazonaws.com@evil.example/cert.pem", "names a user"),
    ("https://evil.example\\@sns.eu-central-1.amazonaws.com/cert.pem", "backslash"),
    ("https://sns.eu-central-1.amazonaws.com:99999/cert.pem", "is not a URL"),
    ("https://127.0.0.1/cert.pem", "does not match"),
    ("http://127.0.0.1/cert.pem", "does not match"),
    ("/cert.pem", "has no host"),
])
def test_the_default_pattern_refuses_everything_else(url: str, reason: str) -> None:
    refusal = url_refusal(url, DEFAULT)
    assert refusal is not None and reason in refusal


def test_plain_http_is_only_for_a_loopback_address_even_when_the_pattern_allows_more() -> None:
    anything = re.compile(".*")
    assert url_refusal("http://127.0.0.1:8080/cert.pem", anything) is None
    assert url_refusal("http://[::1]:8080/cert.pem", anything) is None
    assert url_refusal("http://localhost:8080/cert.pem", anything) == "is not https"
    assert url_refusal("http://10.0.0.1/cert.pem", anything) == "is not https"


def test_parse_maps_the_fixture_without_io() -> None:
    body = helpers.fixture_bytes(f"{OK}.json")
    headers = {"X-Amz-Sns-Message-Type": "Notification"}
    (event,) = cloudwatch.parse(IntegrationRequest(body=body, headers=headers, query={}))
    assert (event.event_type, event.alert_key) == ("RESOLVE", ALARM_ARN)
    confirmation = helpers.fixture_bytes(f"{SUBSCRIPTION}.json")
    assert cloudwatch.parse(IntegrationRequest(body=confirmation, headers={}, query={})) == []


def test_a_long_arn_keeps_a_distinct_key_within_the_limit() -> None:
    first, second = (f"arn:aws:cloudwatch:eu-central-1:123456789012:alarm:{'x' * 250}{end}" for end in "ab")
    keys = {cloudwatch.alarm_key(first), cloudwatch.alarm_key(second)}
    assert len(keys) == 2 and all(len(key) == 255 for key in keys)


def test_cert_host_pattern_must_be_a_regular_expression() -> None:
    config = Config(plugins=PluginSections({"cloudwatch": {"cert_host_pattern": "sns.(["}}, {}))
    status = PluginManager(config).register(cloudwatch, "cloudwatch")
    assert status.state == "config error"
    assert "cert_host_pattern" in status.error and "must be a regular expression" in status.error


def test_an_alarm_after_insufficient_data_joins_the_low_incident_until_ok(
    app: InProcessDaemon, aws: LoopbackAws, signing_key: rsa.RSAPrivateKey
) -> None:
    """As docs/integrations/cloudwatch.md says: an ALERT on an open incident changes nothing."""
    url = make_source(app)
    missing = sns(ALARM, aws, signing_key, Message=alarm_message(NewStateValue="INSUFFICIENT_DATA"))
    opened = deliver(app, url, missing).json()[0]
    added = deliver(app, url, sns(ALARM, aws, signing_key)).json()[0]
    assert added["responseCode"] == "EVENT_ADDED_TO_INCIDENT" and added["incidentId"] == opened["incidentId"]
    assert app.get(f"/api/incidents/{opened['incidentId']}").json()["priority"] == "LOW"
    assert deliver(app, url, sns(OK, aws, signing_key)).json()[0]["responseCode"] == "INCIDENT_RESOLVED"
    nothing_open = deliver(app, url, sns(OK, aws, signing_key))
    assert nothing_open.status_code == 202
    assert nothing_open.json()[0]["responseCode"] == "NO_OPEN_INCIDENT_WITH_KEY"
    reopened = deliver(app, url, sns(ALARM, aws, signing_key)).json()[0]
    assert reopened["responseCode"] == "NEW_INCIDENT_CREATED"
    assert app.get(f"/api/incidents/{reopened['incidentId']}").json()["priority"] == "HIGH"
