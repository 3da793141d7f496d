"""How long a preference link in an email stays good, and reading one back.

A preference page shows and changes what a lead receives, so its link expires: a year after the email
was composed, far longer than any reader keeps a marketing email before using its links, short enough
that a forwarded or leaked old email stops working. The unsubscribe link itself never expires
(RFC 8058 and the law expect it to keep working).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from engine.delivery.tokens import verify

#: a preference link is good for this long after its email was composed
PREFERENCE_LINK_LIFETIME = dt.timedelta(days=365)
#: far longer than any link the daemon signs; longer input is not worth an HMAC
MAX_TOKEN = 4096


def preference_expiry(composed: dt.datetime) -> int:
    """When a preference link in an email composed at ``composed`` stops working, in seconds since the epoch."""
    return int((composed + PREFERENCE_LINK_LIFETIME).timestamp())


@dataclass(frozen=True)
class PreferenceLink:
    lead_id: int
    #: the key of the email the link came in
    message_key: str
    expires: dt.datetime

    def expired(self, now: dt.datetime) -> bool:
        return now >= self.expires


def read_preference_link(token: str, key: str) -> PreferenceLink | None:
    """The preference link in ``token`` when it is genuine; None for anything tampered, foreign or malformed.
    Whether it has expired is the caller's question (it holds the clock)."""
    if len(token) > MAX_TOKEN:
        return None
    payload = verify(token, key)
    if payload is None or payload.get("k") != "p":
        return None
    lead, message, expires = payload.get("l"), payload.get("m"), payload.get("x")
    if not isinstance(lead, int) or isinstance(lead, bool) or not isinstance(message, str) \
            or not isinstance(expires, int) or isinstance(expires, bool):
        return None
    try:
        when = dt.datetime.fromtimestamp(expires, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return PreferenceLink(lead, message, when)
