"""The relays' webhooks: each provider's published signature scheme checked, its payload read into notices.

Nothing here knows HTTP: the routes hand over the raw body and the headers that carry the proof, and get
notices back or an error with a sentence. A payload is read only after its proof checked out.

- Mailgun: ``signature.signature`` is the hex HMAC-SHA256 of ``timestamp + token`` under the webhook signing key.
- SendGrid (signed event webhook): ``X-Twilio-Email-Event-Webhook-Signature`` is a base64 ECDSA (P-256,
  SHA-256) signature of ``X-Twilio-Email-Event-Webhook-Timestamp`` followed by the raw body, checked with
  the verification key from SendGrid's settings (base64 DER).
- Postmark: no signature; the webhook URL carries a shared secret as basic auth credentials
  (``https://postmark:SECRET@host/v1/feedback/postmark``), or Postmark sends it in an ``X-Nurture-Token``
  custom header.

Replaying a genuine request changes nothing: every notice is keyed by the report it came from.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from engine.ingest.feedback import Kind, Notice


class Unverified(Exception):
    """The request does not carry a valid proof that the provider sent it."""


class BadPayload(Exception):
    """The proof checked out but the body is not what the provider sends."""


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadPayload("the body is not JSON") from None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _epoch(value: object) -> dt.datetime:
    try:
        seconds = float(value) if isinstance(value, int | float) else float(str(value))
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise BadPayload(f"timestamp {value!r} is not seconds since the epoch") from None


def _iso(value: object) -> dt.datetime:
    text = _text(value)
    try:
        # Postmark writes seven digits of fractions; Python reads at most six
        head, _, tail = text.partition(".")
        if tail:
            digits = "".join(c for c in tail if c.isdigit())
            text = f"{head}.{digits[:6]}{tail[len(digits):]}"
        at = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadPayload(f"time {value!r} is not ISO 8601") from None
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


# --- Mailgun -----------------------------------------------------------------------------------------------

def verify_mailgun(body: bytes, signing_key: str) -> dict[str, Any]:
    """The webhook's JSON once its signature checks out."""
    data = _json(body)
    proof = data.get("signature") if isinstance(data, dict) else None
    if not isinstance(proof, dict) or not all(isinstance(proof.get(k), str | int) for k in ("timestamp", "token")):
        raise Unverified("the body carries no Mailgun `signature` object with timestamp, token and signature")
    expected = hmac.new(signing_key.encode(), f"{proof['timestamp']}{proof['token']}".encode(),
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, _text(proof.get("signature"))):
        raise Unverified("the Mailgun signature does not match the signing key (NURTURE_MAILGUN_SIGNING_KEY)")
    return data


#: `failed` events for addresses on Mailgun's suppression lists: a complaint stays one; an unsubscribe is no bounce
MAILGUN_SUPPRESSED: dict[str, Kind | None] = {"suppress-complaint": "complaint", "suppress-unsubscribe": None}


def mailgun_notices(data: dict[str, Any]) -> list[Notice]:
    event = data.get("event-data")
    if not isinstance(event, dict):
        raise BadPayload("the body has no `event-data` object")
    kind: Kind | None = None
    if event.get("event") == "complained":
        kind = "complaint"
    elif event.get("event") == "failed":
        kind = "hard" if event.get("severity") == "permanent" else "soft"
        # a permanent failure is also how Mailgun reports a message it dropped for an address on its own lists
        kind = MAILGUN_SUPPRESSED.get(_text(event.get("reason")), kind)
    if kind is None:
        return []
    status = _object(event.get("delivery-status"))
    reason = " ".join(str(p) for p in (status.get("code"), status.get("message") or status.get("description")
                                       or event.get("reason")) if p) or str(event.get("event"))
    headers = _object(_object(event.get("message")).get("headers"))
    ref = _text(headers.get("message-id")) or _text(event.get("id")) or None
    return [Notice(_text(event.get("recipient")), kind, reason, _epoch(event.get("timestamp")), "mailgun", ref)]


# --- SendGrid ----------------------------------------------------------------------------------------------

SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


def sendgrid_key(value: str) -> ec.EllipticCurvePublicKey:
    """The verification key as SendGrid's settings page shows it (base64 DER), or PEM."""
    try:
        raw = value.strip().encode()
        key = (serialization.load_pem_public_key(raw) if raw.startswith(b"-----")
               else serialization.load_der_public_key(base64.b64decode(raw)))
    except (ValueError, binascii.Error):
        raise ValueError("NURTURE_SENDGRID_PUBLIC_KEY is not a public key: paste the verification key "
                         "from SendGrid's Event Webhook settings") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("NURTURE_SENDGRID_PUBLIC_KEY is not an elliptic-curve key")
    return key


def verify_sendgrid(body: bytes, headers: Mapping[str, str], key: ec.EllipticCurvePublicKey) -> list[Any]:
    signature, timestamp = headers.get(SENDGRID_SIGNATURE), headers.get(SENDGRID_TIMESTAMP)
    if not signature or not timestamp:
        raise Unverified(f"the request has no {SENDGRID_SIGNATURE} and {SENDGRID_TIMESTAMP} headers: "
                         "turn on the signed event webhook in SendGrid")
    try:
        key.verify(base64.b64decode(signature), timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        raise Unverified("the SendGrid signature does not match the verification key "
                         "(NURTURE_SENDGRID_PUBLIC_KEY)") from None
    data = _json(body)
    if not isinstance(data, list):
        raise BadPayload("SendGrid posts a list of events; the body is not a list")
    return data


#: the reasons of a `dropped` event that say something about the address (the others concern the message,
#: the account or an unsubscribe)
SENDGRID_DROPPED: dict[str, Kind] = {"Bounced Address": "hard", "Invalid": "hard",
                                     "Spam Reporting Address": "complaint"}


def sendgrid_notices(events: list[Any]) -> list[Notice]:
    notices = []
    for event in events:
        if not isinstance(event, dict):
            raise BadPayload("every SendGrid event is an object")
        kind: Kind | None = None
        if event.get("event") == "spamreport":
            kind = "complaint"
        elif event.get("event") == "bounce":  # type "blocked" is a refusal that may pass later
            kind = "soft" if event.get("type") == "blocked" else "hard"
        elif event.get("event") == "dropped":  # not sent, and why: only some reasons concern the address
            kind = SENDGRID_DROPPED.get(_text(event.get("reason")))
        if kind is None:
            continue
        reason = " ".join(p for p in (_text(event.get("status")), _text(event.get("reason"))) if p) or kind
        # sg_event_id is the one SendGrid documents for deduplication; the message ids are shared by its events
        ref = (_text(event.get("sg_event_id")) or _text(event.get("sg_message_id"))
               or _text(event.get("smtp-id")) or None)
        notices.append(Notice(_text(event.get("email")), kind, reason, _epoch(event.get("timestamp")),
                              "sendgrid", ref))
    return notices


# --- Postmark ----------------------------------------------------------------------------------------------

POSTMARK_TOKEN = "X-Nurture-Token"
POSTMARK_KINDS: dict[str, Kind] = {"HardBounce": "hard", "BadEmailAddress": "hard", "SoftBounce": "soft",
                                   "Transient": "soft", "DnsError": "soft", "SpamComplaint": "complaint"}


def verify_postmark(headers: Mapping[str, str], token: str) -> None:
    given = headers.get(POSTMARK_TOKEN, "")
    auth = headers.get("Authorization", "")
    if auth.lower().startswith("basic "):
        try:
            given = base64.b64decode(auth[6:].strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            given = ""
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        raise Unverified("the request carries no Postmark token matching NURTURE_POSTMARK_TOKEN: put it in the "
                         f"webhook URL as basic auth credentials, or send it as an {POSTMARK_TOKEN} header")


def postmark_notices(body: bytes, now: dt.datetime) -> list[Notice]:
    data = _json(body)
    if not isinstance(data, dict):
        raise BadPayload("Postmark posts one record, a JSON object")
    record = data.get("RecordType")
    if record not in ("Bounce", "SpamComplaint"):
        return []
    kind = "complaint" if record == "SpamComplaint" else POSTMARK_KINDS.get(_text(data.get("Type")))
    if kind is None:
        return []
    reason = " ".join(p for p in (_text(data.get("Description")), _text(data.get("Details"))) if p) or kind
    at = _iso(data.get("BouncedAt")) if data.get("BouncedAt") else now
    ref = _text(data.get("MessageID")) or (str(data["ID"]) if data.get("ID") is not None else None)
    return [Notice(_text(data.get("Email")), kind, reason, at, "postmark", ref)]
