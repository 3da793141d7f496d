"""Amazon SES feedback through SNS: the message signature checked, subscriptions confirmed only when asked.

SNS signs every message (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA) over a canonical string of
its fields, with a certificate it publishes at ``SigningCertURL``. The certificate is fetched only from an
https ``sns.<region>.amazonaws.com`` host, and a message is taken only from a topic listed in
``sns_topic_arns``: anyone can create a topic, and AWS signs their messages too.

The fetching is a `Fetch` the app is built with (`fetch_amazon` in production), so tests hand in a
certificate of their own and nothing here touches the network by itself.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from engine.ingest.esp import BadPayload, Unverified
from engine.ingest.feedback import Kind, Notice

#: reads a URL (a signing certificate, a subscription confirmation) and returns the body
Fetch = Callable[[str], bytes]

_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
_SIGNED_FIELDS = {"Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
                  "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                                               "TopicArn", "Type")}
_SIGNED_FIELDS["UnsubscribeConfirmation"] = _SIGNED_FIELDS["SubscriptionConfirmation"]
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
MAX_FETCH_BYTES = 64 * 1024


def amazon_url(url: str) -> bool:
    """An https URL on an SNS host of AWS: the only place a certificate or a confirmation is fetched from."""
    parts = urlsplit(url)
    return parts.scheme == "https" and parts.port in (None, 443) and bool(_HOST.match(parts.hostname or ""))


def fetch_amazon(url: str) -> bytes:
    """GET an allow-listed SNS URL; signing certificates are cached for the life of the process."""
    return _certificate(url) if urlsplit(url).path.endswith(".pem") else _get(url)


@functools.lru_cache(maxsize=32)
def _certificate(url: str) -> bytes:
    return _get(url)


def _get(url: str) -> bytes:
    import httpx

    if not amazon_url(url):
        raise Unverified(f"{url!r} is not an https URL on an sns.<region>.amazonaws.com host")
    try:
        response = httpx.get(url, timeout=10, follow_redirects=False)
        response.raise_for_status()
    except httpx.HTTPError as err:
        raise Unverified(f"could not fetch {url}: {err}") from None
    if len(response.content) > MAX_FETCH_BYTES:
        raise Unverified(f"{url} answered with more than {MAX_FETCH_BYTES} bytes")
    return response.content


def canonical(message: dict[str, Any]) -> bytes:
    """The string SNS signs: each signed field present, as ``name\\nvalue\\n``, in byte order of the names."""
    fields = _SIGNED_FIELDS.get(str(message.get("Type")))
    if fields is None:
        raise BadPayload(f"unknown SNS message type {message.get('Type')!r}")
    return "".join(f"{name}\n{message[name]}\n" for name in fields if message.get(name) is not None).encode()


def read_sns(body: bytes, topics: set[str], fetch: Fetch) -> dict[str, Any]:
    """The SNS message once its topic is one of ``topics`` and its signature checks out."""
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadPayload("the body is not an SNS message (JSON)") from None
    if not isinstance(message, dict) or not all(isinstance(message.get(k), str) for k in
                                                ("Type", "TopicArn", "Signature", "SigningCertURL")):
        raise Unverified("the body is not a signed SNS message (Type, TopicArn, Signature, SigningCertURL)")
    if message["TopicArn"] not in topics:
        raise Unverified(f"topic {message['TopicArn']} is not in sns_topic_arns")
    algorithm = _HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise Unverified(f"SignatureVersion {message.get('SignatureVersion')!r} is not 1 or 2")
    if not amazon_url(message["SigningCertURL"]) or not urlsplit(message["SigningCertURL"]).path.endswith(".pem"):
        raise Unverified("SigningCertURL is not a .pem on an https sns.<region>.amazonaws.com host")
    try:
        key = x509.load_pem_x509_certificate(fetch(message["SigningCertURL"])).public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise Unverified("the SNS signing certificate does not hold an RSA key")
        key.verify(base64.b64decode(message["Signature"]), canonical(message), padding.PKCS1v15(), algorithm())
    except (InvalidSignature, binascii.Error, ValueError):
        raise Unverified("the SNS signature does not match the signing certificate") from None
    return message


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _when(value: object, fallback: str) -> dt.datetime:
    for text in (value, fallback):
        try:
            return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        except ValueError:
            continue
    raise BadPayload(f"SES time {value!r} is not ISO 8601")


def _ref(report: dict[str, Any], mail: dict[str, Any]) -> object:
    """The report's own id (the same on every delivery of it), else SES's id of the message: not the Message-ID
    header, which a sender may give several messages (SES's published samples all carry "custom-message-ID")."""
    return report.get("feedbackId") or mail.get("messageId") or _object(mail.get("commonHeaders")).get("messageId")


def ses_notices(message: dict[str, Any]) -> list[Notice]:
    """Bounces and complaints of an SES notification (or event publishing record) in an SNS message."""
    try:
        ses = orjson.loads(message.get("Message") or "")
    except orjson.JSONDecodeError:
        raise BadPayload("the SNS Message is not an SES notification (JSON)") from None
    ses = _object(ses)
    kind_name = ses.get("notificationType") or ses.get("eventType")
    mail = _object(ses.get("mail"))
    notices = []
    if kind_name == "Bounce":
        bounce = _object(ses.get("bounce"))
        ref = _ref(bounce, mail)
        kind: Kind = "hard" if bounce.get("bounceType") == "Permanent" else "soft"
        at = _when(bounce.get("timestamp"), str(message.get("Timestamp")))
        for recipient in bounce.get("bouncedRecipients") or []:
            recipient = _object(recipient)
            reason = " ".join(str(p) for p in (recipient.get("status"), recipient.get("diagnosticCode")
                                               or f"{bounce.get('bounceType')}/{bounce.get('bounceSubType')}") if p)
            notices.append(Notice(str(recipient.get("emailAddress") or ""), kind, reason, at, "ses",
                                  str(ref) if ref else None))
    elif kind_name == "Complaint":
        complaint = _object(ses.get("complaint"))
        ref = _ref(complaint, mail)
        at = _when(complaint.get("timestamp"), str(message.get("Timestamp")))
        reason = str(complaint.get("complaintFeedbackType") or "complaint")
        for recipient in complaint.get("complainedRecipients") or []:
            notices.append(Notice(str(_object(recipient).get("emailAddress") or ""), "complaint", reason, at, "ses",
                                  str(ref) if ref else None))
    return notices
