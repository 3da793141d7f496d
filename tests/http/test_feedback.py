"""Relays' bounce and complaint webhooks over a real socket, signed the way each provider documents."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from engine.config import load_config
from engine.errors import ConfigError
from engine.store.tables import EVENTS, LEADS, SOFT_BOUNCES, SUPPRESSIONS

from .live import Live

MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
POSTMARK_TOKEN = "postmark-shared-secret"
ANN, BOB = "ann@acme.example", "bob@acme.example"


@pytest.fixture
def sendgrid_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _public(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


@pytest.fixture
def feedback(serve: Callable[..., Live], db_url: str, sendgrid_key: ec.EllipticCurvePrivateKey) -> Live:
    live = serve(db_url, mailgun_signing_key=MAILGUN_KEY, sendgrid_public_key=_public(sendgrid_key),
                 postmark_token=POSTMARK_TOKEN)
    assert live.client.post("/v1/leads", json=[{"email": ANN}, {"email": BOB}]).status_code == 200
    return live


def suppressed(live: Live) -> dict[str, str]:
    return dict(live.rows(sa.select(SUPPRESSIONS.c.email, SUPPRESSIONS.c.reason)))


def events(live: Live, etype: str) -> list[tuple[str, dict[str, Any]]]:
    return [(email, props) for email, props in live.rows(
        sa.select(LEADS.c.email, EVENTS.c.props).join(LEADS, LEADS.c.id == EVENTS.c.lead_id)
        .where(EVENTS.c.type == etype).order_by(EVENTS.c.id))]


# --- Mailgun: HMAC-SHA256 of timestamp + token ----------------------------------------------------------------

def mailgun_body(recipient: str, event: str, severity: str | None = None, *, key: str = MAILGUN_KEY,
                 token: str = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0") -> dict[str, Any]:
    timestamp = "1772352000"
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    data: dict[str, Any] = {
        "id": "G9Bn5sl1TC6nu79C8C0bwg", "timestamp": 1772352000.375624, "log-level": "error", "event": event,
        "recipient": recipient, "recipient-domain": "acme.example", "reason": "bounce",
        "envelope": {"sender": "news@nurture.example", "transport": "smtp", "targets": recipient},
        "message": {"headers": {"to": recipient, "message-id": "20260301080000.1.ABC@nurture.example",
                                "from": "news@nurture.example", "subject": "Welcome"}, "size": 1386},
        "delivery-status": {"code": 550, "message": "5.1.1 The email account that you tried to reach does not exist",
                            "description": "", "attempt-no": 1}}
    if severity:
        data["severity"] = severity
    return {"signature": {"timestamp": timestamp, "token": token, "signature": signature}, "event-data": data}


def test_a_mailgun_hard_bounce_suppresses_and_records_once(feedback: Live) -> None:
    body = mailgun_body(ANN, "failed", "permanent")
    first = feedback.anonymous.post("/v1/feedback/mailgun", json=body)
    assert first.status_code == 200, first.text
    assert first.json() == {"notices": 1, "suppressed": 1, "recorded": 1, "duplicates": 0, "soft_bounces": 0,
                            "ignored": 0}
    assert suppressed(feedback)[ANN].startswith("bounced (mailgun): 550 5.1.1")
    again = feedback.anonymous.post("/v1/feedback/mailgun", json=body)  # Mailgun retries; we record once
    assert again.json()["duplicates"] == 1
    [(email, props)] = events(feedback, "email.bounced")
    assert email == ANN and props["reason"].startswith("550 5.1.1 The email account")
    assert feedback.scalar(sa.select(LEADS.c.suppressed_reason).where(LEADS.c.email == ANN)).startswith("bounced")
    # and the lead's page says so, over the API and on the command line
    assert feedback.client.get(f"/v1/leads/{ANN}").json()["suppressed"].startswith("bounced (mailgun): 550 5.1.1")


def test_a_mailgun_complaint_and_a_temporary_failure(feedback: Live) -> None:
    complaint = feedback.anonymous.post("/v1/feedback/mailgun", json=mailgun_body(ANN, "complained"))
    assert complaint.json()["recorded"] == 1
    assert [e for e, _ in events(feedback, "email.complained")] == [ANN]
    soft = feedback.anonymous.post("/v1/feedback/mailgun", json=mailgun_body(BOB, "failed", "temporary"))
    assert soft.json()["soft_bounces"] == 1 and BOB not in suppressed(feedback)
    delivered = feedback.anonymous.post("/v1/feedback/mailgun", json=mailgun_body(BOB, "delivered"))
    assert delivered.json()["notices"] == 0


def test_a_mailgun_webhook_signed_with_another_key_is_refused(feedback: Live) -> None:
    forged = feedback.anonymous.post("/v1/feedback/mailgun", json=mailgun_body(ANN, "failed", "permanent",
                                                                                key="someone-else"))
    assert forged.status_code == 401 and "signing key" in forged.json()["error"]
    unsigned = mailgun_body(ANN, "failed", "permanent")
    del unsigned["signature"]
    assert feedback.anonymous.post("/v1/feedback/mailgun", json=unsigned).status_code == 401
    tampered = mailgun_body(ANN, "failed", "permanent")
    tampered["signature"]["token"] += "0"
    assert feedback.anonymous.post("/v1/feedback/mailgun", json=tampered).status_code == 401
    assert suppressed(feedback) == {} and events(feedback, "email.bounced") == []


# --- SendGrid: ECDSA P-256 over timestamp + body ---------------------------------------------------------------

def sendgrid_post(live: Live, events_: list[dict[str, Any]], key: ec.EllipticCurvePrivateKey,
                  tamper: bool = False) -> httpx.Response:
    body = orjson.dumps(events_)
    timestamp = "1772352000"
    signature = base64.b64encode(key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    return live.anonymous.post("/v1/feedback/sendgrid", content=body + (b" " if tamper else b""), headers={
        "Content-Type": "application/json", "X-Twilio-Email-Event-Webhook-Signature": signature,
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp})


SENDGRID_EVENTS = [
    {"email": ANN, "timestamp": 1772352000, "smtp-id": "<14c5d75ce93.dfd.64b469@nurture.example>",
     "event": "bounce", "category": "cat facts", "sg_event_id": "6g4ZI7SA-xmRDv57GoPIPw==",
     "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0", "reason": "500 unknown recipient",
     "status": "5.0.0", "type": "bounce"},
    {"email": BOB, "timestamp": 1772352001, "smtp-id": "<14c5d75ce93.dfd.64b470@nurture.example>",
     "event": "spamreport", "sg_event_id": "37nvH5QBz858KGVYCM4uOA==",
     "sg_message_id": "14c5d75ce93.dfd.64b470.filter0001.16648.5515E0B88.0"},
    {"email": BOB, "timestamp": 1772352002, "event": "delivered", "response": "250 OK",
     "sg_event_id": "rWVYmVk90MjZJ9iohOBa3w==", "sg_message_id": "14c5d75ce93.dfd.64b471.filter0001"},
    {"email": "stranger@else.example", "timestamp": 1772352003, "event": "bounce", "type": "bounce",
     "reason": "550 no such user", "status": "5.1.1", "sg_event_id": "x==", "sg_message_id": "y"},
]


def test_sendgrid_signed_events_bounce_and_complain(feedback: Live, sendgrid_key: ec.EllipticCurvePrivateKey) -> None:
    answer = sendgrid_post(feedback, SENDGRID_EVENTS, sendgrid_key)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"notices": 3, "suppressed": 2, "recorded": 2, "duplicates": 0, "soft_bounces": 0,
                             "ignored": 1}  # the stranger is no lead: answered 200, nothing created
    assert set(suppressed(feedback)) == {ANN, BOB}
    assert events(feedback, "email.bounced") == [(ANN, {"reason": "5.0.0 500 unknown recipient"})]
    assert [e for e, _ in events(feedback, "email.complained")] == [BOB]
    assert feedback.count(LEADS, LEADS.c.email == "stranger@else.example") == 0
    assert sendgrid_post(feedback, SENDGRID_EVENTS, sendgrid_key).json()["duplicates"] == 2


def test_sendgrid_refuses_a_tampered_or_unsigned_body(feedback: Live, sendgrid_key: ec.EllipticCurvePrivateKey) -> None:
    assert sendgrid_post(feedback, SENDGRID_EVENTS, sendgrid_key, tamper=True).status_code == 401
    other = ec.generate_private_key(ec.SECP256R1())
    assert sendgrid_post(feedback, SENDGRID_EVENTS, other).status_code == 401
    unsigned = feedback.anonymous.post("/v1/feedback/sendgrid", json=SENDGRID_EVENTS)
    assert unsigned.status_code == 401 and "signed event webhook" in unsigned.json()["error"]
    assert suppressed(feedback) == {}


# --- Postmark: a shared secret as basic auth or a custom header; soft bounces counted --------------------------

def postmark_bounce(email: str, kind: str = "HardBounce", bounce_id: int = 4323372036854775807) -> dict[str, Any]:
    return {"RecordType": "Bounce", "MessageStream": "outbound", "ID": bounce_id, "Type": kind, "TypeCode": 1,
            "Name": "Hard bounce", "Tag": "Test", "MessageID": f"883953f4-6105-42a2-a16a-{bounce_id}",
            "Metadata": {"a_key": "a_value"}, "ServerID": 23, "Description":
            "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
            "Details": "Test bounce details", "Email": email, "From": "news@nurture.example",
            "BouncedAt": "2026-03-01T07:33:54.9070259Z", "DumpAvailable": True, "Inactive": True,
            "CanActivate": True, "Subject": "Test subject", "Content": "<Full dump of bounce>"}


def test_postmark_takes_basic_auth_or_the_header(feedback: Live) -> None:
    url = f"{feedback.base}/v1/feedback/postmark".replace("http://", f"http://postmark:{POSTMARK_TOKEN}@")
    answer = httpx.post(url, json=postmark_bounce(ANN))  # the credentials as Postmark's webhook URL carries them
    assert answer.status_code == 200 and answer.json()["suppressed"] == 1
    complaint = {**postmark_bounce(BOB), "RecordType": "SpamComplaint", "Type": "SpamComplaint", "TypeCode": 100001}
    by_header = feedback.anonymous.post("/v1/feedback/postmark", json=complaint,
                                        headers={"X-Nurture-Token": POSTMARK_TOKEN})
    assert by_header.json()["recorded"] == 1 and [e for e, _ in events(feedback, "email.complained")] == [BOB]
    guessed = "Basic " + base64.b64encode(b"postmark:guess").decode()
    for wrong in ({"X-Nurture-Token": "guess"}, {"Authorization": guessed}, {}):
        assert feedback.anonymous.post("/v1/feedback/postmark", json=postmark_bounce(ANN),
                                       headers=wrong).status_code == 401


def test_soft_bounces_suppress_at_the_limit_counting_each_report_once(feedback: Live) -> None:
    post = lambda bounce: feedback.anonymous.post("/v1/feedback/postmark", json=bounce,  # noqa: E731
                                                  headers={"X-Nurture-Token": POSTMARK_TOKEN}).json()
    assert post(postmark_bounce(ANN, "SoftBounce", 1))["soft_bounces"] == 1
    post(postmark_bounce(ANN, "SoftBounce", 1))  # the same report again
    post(postmark_bounce(ANN, "Transient", 2))
    assert ANN not in suppressed(feedback) and feedback.count(SOFT_BOUNCES) == 2
    third = post(postmark_bounce(ANN, "SoftBounce", 3))
    assert third["suppressed"] == 1 and suppressed(feedback)[ANN].startswith("3 soft bounces (postmark)")
    post(postmark_bounce(ANN, "SoftBounce", 4))
    [(_, props)] = events(feedback, "email.bounced")
    assert props["reason"].startswith("3 soft bounces")


def test_soft_bounce_limit_is_configurable(serve: Callable[..., Live], sqlite_url: str) -> None:
    live = serve(sqlite_url, postmark_token=POSTMARK_TOKEN, soft_bounce_limit=1)
    live.client.post("/v1/leads", json={"email": ANN})
    live.anonymous.post("/v1/feedback/postmark", json=postmark_bounce(ANN, "SoftBounce"),
                        headers={"X-Nurture-Token": POSTMARK_TOKEN})
    assert ANN in suppressed(live)
    assert load_config(env={"NURTURE_SOFT_BOUNCE_LIMIT": "5"}).soft_bounce_limit == 5
    with pytest.raises(ConfigError, match="more than 0"):
        load_config(env={"NURTURE_SOFT_BOUNCE_LIMIT": "0"})


def test_an_endpoint_without_its_secret_is_off(serve: Callable[..., Live], sqlite_url: str, tmp_path) -> None:
    live = serve(sqlite_url)
    for provider, variable in (("mailgun", "NURTURE_MAILGUN_SIGNING_KEY"), ("sendgrid", "NURTURE_SENDGRID_PUBLIC_KEY"),
                               ("postmark", "NURTURE_POSTMARK_TOKEN")):
        answer = live.anonymous.post(f"/v1/feedback/{provider}", json=mailgun_body(ANN, "failed", "permanent"))
        assert answer.status_code == 503 and variable in answer.json()["error"]
    toml = tmp_path / "nurture.toml"
    toml.write_text('mailgun_signing_key = "in-the-repo"\n')
    with pytest.raises(ConfigError, match="secret"):
        load_config(toml, env={})
