"""The relays' own published sample payloads (tests/http/fixtures/feedback, README there), each delivered as its
provider delivers it, signed with a test key the provider's way, over a real socket; then the store and
`nurture leads show` say what happened and why."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

from engine.cli import app
from engine.store.tables import EVENTS, LEADS, SOFT_BOUNCES, SUPPRESSIONS

from .live import Live
from .test_feedback_ses import TOPIC, Amazon, notification
from .test_feedback_ses import post as post_sns

SAMPLES = Path(__file__).parent / "fixtures" / "feedback"
MAILGUN_KEY = "key-published-samples"
POSTMARK_TOKEN = "postmark-samples-secret"
# every recipient the samples name, made leads first: reports about addresses that are not leads are ignored
ADDRESSES = ("jane@example.com", "mary@example.com", "richard@example.com", "example@test.com", "john@example.com",
             "slava@mailgun.com", "christest123@test.com", "test@test.com", "foo@example.com")


def sample(name: str) -> Any:
    return orjson.loads((SAMPLES / name).read_bytes())


@pytest.fixture
def sendgrid_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def amazon() -> Amazon:
    return Amazon()


@pytest.fixture
def relays(serve: Callable[..., Live], sqlite_url: str, sendgrid_key: ec.EllipticCurvePrivateKey,
           amazon: Amazon) -> Live:
    der = sendgrid_key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    live = serve(sqlite_url, mailgun_signing_key=MAILGUN_KEY, sendgrid_public_key=base64.b64encode(der).decode(),
                 postmark_token=POSTMARK_TOKEN, sns_fetch=amazon.fetch, sns_topic_arns=TOPIC)
    assert live.client.post("/v1/leads", json=[{"email": e} for e in ADDRESSES]).status_code == 200
    return live


def suppressed(live: Live) -> dict[str, str]:
    return dict(live.rows(sa.select(SUPPRESSIONS.c.email, SUPPRESSIONS.c.reason)))


def events(live: Live, email: str) -> list[tuple[str, str]]:
    """(type, reason) of the lead's bounce and complaint events, oldest first."""
    return [(etype, props["reason"]) for etype, props in live.rows(
        sa.select(EVENTS.c.type, EVENTS.c.props).join(LEADS, LEADS.c.id == EVENTS.c.lead_id)
        .where(LEADS.c.email == email, EVENTS.c.type.in_(["email.bounced", "email.complained"]))
        .order_by(EVENTS.c.at, EVENTS.c.id))]


def shown(live: Live, email: str) -> str:
    """`nurture leads show EMAIL` against the served store, long lines unwrapped."""
    result = CliRunner().invoke(app, ["leads", "show", email], env={"NURTURE_DATABASE_URL": live.config.database_url})
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


# --- Amazon SES, through an SNS subscription ------------------------------------------------------------------

def test_ses_published_bounces_and_complaints(relays: Live, amazon: Amazon) -> None:
    def deliver(name: str, message_id: str) -> dict[str, Any]:
        # SNS delivers SES's notification as the string Message of a signed notification
        answer = post_sns(relays, amazon.sign(notification(sample(name), message_id)))
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    assert deliver("ses-bounce-with-dsn.json", "sns-1") == {
        "notices": 1, "suppressed": 1, "recorded": 1, "duplicates": 0, "soft_bounces": 0, "ignored": 0}
    assert deliver("ses-bounce-without-dsn.json", "sns-2")["recorded"] == 2  # jane again, and richard
    assert deliver("ses-complaint-with-feedback.json", "sns-3")["recorded"] == 1
    assert deliver("ses-complaint-without-feedback.json", "sns-4")["recorded"] == 1  # another report, another id
    assert deliver("ses-bounce-with-dsn.json", "sns-1")["duplicates"] == 1  # SNS delivered it again

    dsn = "5.1.1 smtp; 550 5.1.1 <jane@example.com>... User"
    assert suppressed(relays) == {"jane@example.com": f"bounced (ses): {dsn}",
                                  "richard@example.com": "bounced (ses): Permanent/General"}
    assert events(relays, "jane@example.com") == [("email.bounced", dsn), ("email.bounced", "Permanent/General")]
    assert events(relays, "richard@example.com") == [
        ("email.bounced", "Permanent/General"), ("email.complained", "abuse"), ("email.complained", "complaint")]
    assert events(relays, "mary@example.com") == []  # a destination of the message that neither bounced nor complained
    assert f"suppressed: bounced (ses): {dsn}" in shown(relays, "jane@example.com")
    richard = shown(relays, "richard@example.com")
    assert "suppressed: bounced (ses): Permanent/General" in richard and "email.complained" in richard


# --- SendGrid: the signed Event Webhook ----------------------------------------------------------------------

def post_sendgrid(live: Live, body: bytes, key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    timestamp = "1513299570"
    signature = base64.b64encode(key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    answer = live.anonymous.post("/v1/feedback/sendgrid", content=body, headers={
        "Content-Type": "application/json", "X-Twilio-Email-Event-Webhook-Signature": signature,
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_sendgrid_published_bounce_dropped_blocked_and_spamreport(relays: Live,
                                                                  sendgrid_key: ec.EllipticCurvePrivateKey) -> None:
    who = "example@test.com"
    bounce = post_sendgrid(relays, (SAMPLES / "sendgrid-bounce.json").read_bytes(), sendgrid_key)
    assert bounce == {"notices": 1, "suppressed": 1, "recorded": 1, "duplicates": 0, "soft_bounces": 0, "ignored": 0}
    assert suppressed(relays) == {who: "bounced (sendgrid): 5.0.0 500 unknown recipient"}
    # dropped because the address bounced before: a hard bounce of its own event
    assert post_sendgrid(relays, (SAMPLES / "sendgrid-dropped.json").read_bytes(), sendgrid_key)["recorded"] == 1
    blocked = post_sendgrid(relays, (SAMPLES / "sendgrid-blocked.json").read_bytes(), sendgrid_key)
    assert blocked["soft_bounces"] == 1 and blocked["recorded"] == 0  # counted, below the limit of 3
    assert relays.count(SOFT_BOUNCES, SOFT_BOUNCES.c.email == who) == 1
    assert post_sendgrid(relays, (SAMPLES / "sendgrid-spamreport.json").read_bytes(), sendgrid_key)["recorded"] == 1
    assert events(relays, who) == [("email.bounced", "5.0.0 500 unknown recipient"),
                                   ("email.bounced", "5.0.0 Bounced Address"), ("email.complained", "complaint")]
    assert post_sendgrid(relays, (SAMPLES / "sendgrid-bounce.json").read_bytes(), sendgrid_key)["duplicates"] == 1
    text = shown(relays, who)
    assert "suppressed: bounced (sendgrid): 5.0.0 500 unknown recipient" in text and "email.complained" in text


# --- Postmark: basic auth in the webhook URL ----------------------------------------------------------------

def test_postmark_published_bounce_and_spam_complaint(relays: Live) -> None:
    url = f"{relays.base}/v1/feedback/postmark".replace("http://", f"http://postmark:{POSTMARK_TOKEN}@")
    bounce = httpx.post(url, content=(SAMPLES / "postmark-bounce.json").read_bytes(),
                        headers={"Content-Type": "application/json"})
    assert bounce.status_code == 200 and bounce.json()["suppressed"] == 1, bounce.text
    complaint = httpx.post(url, content=(SAMPLES / "postmark-spam-complaint.json").read_bytes(),
                           headers={"Content-Type": "application/json"})
    assert complaint.status_code == 200 and complaint.json()["recorded"] == 1, complaint.text
    why = ("The server was unable to deliver your message (ex: unknown user, mailbox not found). "
           "Test bounce details")
    assert suppressed(relays) == {"john@example.com": f"bounced (postmark): {why}"}
    assert events(relays, "john@example.com") == [("email.bounced", why),
                                                  ("email.complained", "Test spam complaint details")]
    assert f"suppressed: bounced (postmark): {why}" in shown(relays, "john@example.com")


# --- Mailgun: HMAC-SHA256 of timestamp + token in the body ----------------------------------------------------

def post_mailgun(live: Live, name: str) -> dict[str, Any]:
    # the signature block as Mailgun's webhook documentation shows it, signed with the test key
    timestamp, token = "1529006854", "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
    signature = hmac.new(MAILGUN_KEY.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    body = {"signature": {"timestamp": timestamp, "token": token, "signature": signature},
            "event-data": sample(name)}
    answer = live.anonymous.post("/v1/feedback/mailgun", content=orjson.dumps(body),
                                 headers={"Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_mailgun_published_failures_and_complaint(relays: Live) -> None:
    assert post_mailgun(relays, "mailgun-failed-permanent.json")["suppressed"] == 1
    assert post_mailgun(relays, "mailgun-failed-permanent-delayed.json")["suppressed"] == 1
    temporary = post_mailgun(relays, "mailgun-failed-temporary.json")
    assert temporary["soft_bounces"] == 1 and temporary["suppressed"] == 0
    assert post_mailgun(relays, "mailgun-complained.json")["recorded"] == 1
    assert post_mailgun(relays, "mailgun-complained.json")["duplicates"] == 1  # Mailgun retried

    delayed = "550 smtp; 550-5.1.1 The email account that you tried to reach does not exist."
    assert suppressed(relays) == {
        "slava@mailgun.com": "bounced (mailgun): 605 Not delivering to previously bounced address",
        "christest123@test.com": f"bounced (mailgun): {delayed}",
        "foo@example.com": "complained (mailgun): complained"}
    assert events(relays, "christest123@test.com") == [("email.bounced", delayed)]
    assert relays.count(SOFT_BOUNCES, SOFT_BOUNCES.c.email == "test@test.com") == 1
    assert "test@test.com" not in suppressed(relays)
    assert f"suppressed: bounced (mailgun): {delayed}" in shown(relays, "christest123@test.com")
    assert "suppressed: complained (mailgun): complained" in shown(relays, "foo@example.com")
