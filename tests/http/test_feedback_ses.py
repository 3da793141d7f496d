"""Amazon SES feedback through SNS over a real socket: messages signed with a throwaway certificate the app
is built with, as SNS signs them (SignatureVersion 1 and 2)."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from engine.config import load_config
from engine.errors import ConfigError
from engine.ingest.sns import amazon_url
from engine.store.tables import EVENTS, SUPPRESSIONS

from .live import Live

TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-feedback"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
SUBSCRIBE_URL = ("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn="
                 f"{TOPIC}&Token=2336412f37fb687f5d51e6e2425dacbba9e8e4c1")
ANN, BOB = "ann@acme.example", "bob@acme.example"


class Amazon:
    """A signing key and certificate, and the fetches the app made."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=1)).sign(self.key, hashes.SHA256()))
        self.pem = cert.public_bytes(serialization.Encoding.PEM)
        self.fetched: list[str] = []

    def fetch(self, url: str) -> bytes:
        assert amazon_url(url), url
        self.fetched.append(url)
        return self.pem if url == CERT_URL else b"<ConfirmSubscriptionResponse/>"

    def sign(self, message: dict[str, Any], version: str = "1") -> dict[str, Any]:
        # the canonical string as the SNS documentation lists it: name, newline, value, newline, in this order
        names = (["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
                 if message["Type"] == "Notification" else
                 ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"])
        text = "".join(f"{n}\n{message[n]}\n" for n in names if n in message)
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(text.encode(), padding.PKCS1v15(), algorithm)
        return {**message, "SignatureVersion": version, "Signature": base64.b64encode(signature).decode(),
                "SigningCertURL": CERT_URL}


def notification(ses: dict[str, Any], message_id: str = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324") -> dict[str, Any]:
    return {"Type": "Notification", "MessageId": message_id, "TopicArn": TOPIC,
            "Message": orjson.dumps(ses).decode(), "Timestamp": "2026-03-01T07:59:59.000Z",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x"}


MAIL = {"timestamp": "2026-03-01T07:59:00.000Z", "source": "news@nurture.example",
        "messageId": "00000137860315fd-34208509-5b74-41f3-95c5-22c1edc3c924-000000",
        "destination": [ANN], "commonHeaders": {"messageId": "<20260301.1.ABC@nurture.example>",
                                                "subject": "Welcome"}}
BOUNCE = {"notificationType": "Bounce", "mail": MAIL, "bounce": {
    "bounceType": "Permanent", "bounceSubType": "General", "timestamp": "2026-03-01T07:59:30.000Z",
    "feedbackId": "00000137860315fd-869464a4-8680-4114-98d3-716fe35851f9-000000", "reportingMTA": "dns; a.example",
    "bouncedRecipients": [{"emailAddress": ANN, "action": "failed", "status": "5.1.1",
                           "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]}}
COMPLAINT = {"notificationType": "Complaint", "mail": MAIL, "complaint": {
    "userAgent": "AnyCompany Feedback Loop (V0.01)", "complaintFeedbackType": "abuse",
    "complainedRecipients": [{"emailAddress": BOB}], "timestamp": "2026-03-01T07:59:40.000Z",
    "feedbackId": "000001378603177f-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000"}}


@pytest.fixture
def amazon() -> Amazon:
    return Amazon()


@pytest.fixture
def ses(serve: Callable[..., Live], db_url: str, amazon: Amazon) -> Live:
    live = serve(db_url, sns_fetch=amazon.fetch, sns_topic_arns=f"arn:aws:sns:eu-west-1:1:other,{TOPIC}")
    live.client.post("/v1/leads", json=[{"email": ANN}, {"email": BOB}])
    return live


def post(live: Live, message: dict[str, Any]):
    return live.anonymous.post("/v1/feedback/ses", content=orjson.dumps(message),
                               headers={"Content-Type": "text/plain; charset=UTF-8",
                                        "x-amz-sns-message-type": message["Type"]})


@pytest.mark.parametrize("version", ["1", "2"])
def test_ses_bounces_and_complaints_signed_by_sns(ses: Live, amazon: Amazon, version: str) -> None:
    answer = post(ses, amazon.sign(notification(BOUNCE), version))
    assert answer.status_code == 200, answer.text
    assert answer.json()["suppressed"] == 1 and amazon.fetched == [CERT_URL]
    assert post(ses, amazon.sign(notification(COMPLAINT, "second"), version)).json()["recorded"] == 1
    assert post(ses, amazon.sign(notification(BOUNCE), version)).json()["duplicates"] == 1  # SNS retried
    assert dict(ses.rows(sa.select(SUPPRESSIONS.c.email, SUPPRESSIONS.c.reason))) == {
        ANN: "bounced (ses): 5.1.1 smtp; 550 5.1.1 user unknown", BOB: "complained (ses): abuse"}
    assert sorted(ses.rows(sa.select(EVENTS.c.type))) == [("email.bounced",), ("email.complained",)]


def test_ses_refuses_forgeries(ses: Live, amazon: Amazon) -> None:
    signed = amazon.sign(notification(BOUNCE))
    tampered = {**signed, "Message": signed["Message"].replace("Permanent", "Transient")}
    assert post(ses, tampered).status_code == 401
    assert post(ses, Amazon().sign(notification(BOUNCE))).status_code == 401  # someone else's key
    foreign = amazon.sign({**notification(BOUNCE), "TopicArn": "arn:aws:sns:us-east-1:666:mine"})
    assert post(ses, foreign).status_code == 401  # AWS signs anyone's topic: only ours are taken
    elsewhere = {**signed, "SigningCertURL": "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem"}
    assert "SigningCertURL" in post(ses, elsewhere).json()["error"]
    assert post(ses, {**signed, "SignatureVersion": "3"}).status_code == 401
    assert ses.count(SUPPRESSIONS) == 0 and all(url == CERT_URL for url in amazon.fetched)


def subscription() -> dict[str, Any]:
    return {"Type": "SubscriptionConfirmation", "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": "2336412f37fb687f5d51e6e2425dacbba9e8e4c1", "TopicArn": TOPIC,
            "Message": f"You have chosen to subscribe to the topic {TOPIC}.",
            "SubscribeURL": SUBSCRIBE_URL, "Timestamp": "2026-03-01T07:00:00.000Z"}


def test_subscriptions_are_confirmed_only_when_configured(ses: Live, amazon: Amazon) -> None:
    answer = post(ses, amazon.sign(subscription()))
    assert answer.status_code == 200 and answer.json()["confirmed"] is False
    assert SUBSCRIBE_URL not in amazon.fetched
    ses.reconfigure(sns_confirm_subscriptions=True)
    assert post(ses, amazon.sign(subscription())).json() == {"confirmed": True, "topic": TOPIC}
    assert amazon.fetched[-1] == SUBSCRIBE_URL


def test_ses_is_off_without_topics(serve: Callable[..., Live], sqlite_url: str, amazon: Amazon) -> None:
    live = serve(sqlite_url, sns_fetch=amazon.fetch)
    answer = post(live, amazon.sign(notification(BOUNCE)))
    assert answer.status_code == 503 and "NURTURE_SNS_TOPIC_ARNS" in answer.json()["error"]
    assert amazon.fetched == []
    assert load_config(env={"NURTURE_SNS_CONFIRM_SUBSCRIPTIONS": "true"}).sns_confirm_subscriptions is True
    assert load_config(env={"NURTURE_SNS_CONFIRM_SUBSCRIPTIONS": "off"}).sns_confirm_subscriptions is False
    with pytest.raises(ConfigError, match="must be true or false"):
        load_config(env={"NURTURE_SNS_CONFIRM_SUBSCRIPTIONS": "maybe"})


def test_only_amazon_hosts_are_fetched() -> None:
    assert amazon_url(CERT_URL) and amazon_url("https://sns.cn-north-1.amazonaws.com.cn/x.pem")
    for url in ("http://sns.us-east-1.amazonaws.com/x.pem", "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
                "https://evil.example/sns.us-east-1.amazonaws.com/x.pem", "https://s3.amazonaws.com/x.pem",
                "https://sns.us-east-1.amazonaws.com:8443/x.pem"):
        assert not amazon_url(url), url
