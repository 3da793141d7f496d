"""Outbound message bytes: RFC 5322 multipart/alternative with RFC 8058 one-click unsubscribe headers."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

# CRLF everywhere (SMTP). Lines of at most 76 characters, as RFC 2045 asks of quoted-printable; headers
# stored raw (List-Unsubscribe) are written as given instead of being refolded into encoded words.
POLICY = policy.SMTP.clone(max_line_length=76, refold_source="none")

#: RFC 5322's hard limit on a line, CRLF excluded
MAX_LINE = 998

_URI_FORBIDDEN = re.compile(r"[\s<>\"]")


def message_id(key: str, sender_address: str) -> str:
    """A Message-ID that is the same every time for the same key: a resend is recognisably the same message."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    domain = sender_address.rpartition("@")[2].strip().lower() or "localhost"
    return f"<{digest}@{domain.encode('idna').decode('ascii')}>"


def build_message(
    *,
    sender_name: str,
    sender_address: str,
    to: str,
    subject: str,
    html: str,
    text: str,
    message_id: str,
    date: dt.datetime,
    reply_to: str | None = None,
    list_unsubscribe_url: str | None = None,
    list_unsubscribe_mailto: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """The message as it goes over SMTP: text part first, then HTML (clients show the last one they can)."""
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError("the message date must be timezone-aware")
    msg = EmailMessage(policy=POLICY)
    msg["From"] = Address(display_name=sender_name, addr_spec=sender_address)
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    if reply_to:
        msg["Reply-To"] = reply_to
    if list_unsubscribe_url:
        msg.set_raw("List-Unsubscribe", _list_unsubscribe(list_unsubscribe_url, list_unsubscribe_mailto))
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in (headers or {}).items():
        del msg[name]  # a caller's header replaces ours rather than duplicating it
        msg[name] = value
    msg["MIME-Version"] = "1.0"
    # quoted-printable keeps long HTML lines under the line limit and non-ASCII text 7-bit safe
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg.as_bytes()


def _list_unsubscribe(url: str, mailto: str | None) -> str:
    """``<https://…>, <mailto:…>``, folded between the two so neither URI is split or encoded."""
    uris = [url] + ([mailto if mailto.startswith("mailto:") else f"mailto:{mailto}"] if mailto else [])
    for uri in uris:
        if _URI_FORBIDDEN.search(uri):
            raise ValueError(f"unsubscribe URI {uri!r} contains whitespace, quotes or angle brackets")
    value = ",\r\n ".join(f"<{uri}>" for uri in uris)
    if any(len(line) > MAX_LINE - len("List-Unsubscribe: ") for line in value.splitlines()):
        raise ValueError(f"unsubscribe URI is longer than a header line may be ({MAX_LINE} characters)")
    return value
