"""Reading the signed links emails carry; anything not genuine, or not for this use, is refused."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from engine.delivery.tokens import verify

#: far longer than any link the daemon signs; longer input is not worth an HMAC
MAX_TOKEN = 4096


@dataclass(frozen=True)
class Link:
    lead_id: int
    message_key: str
    url: str | None = None


def read_link(token: str, key: str, kind: str) -> Link | None:
    """The link in ``token`` when it is genuine and of ``kind`` (u, o, c); None for anything else."""
    if len(token) > MAX_TOKEN:
        return None
    payload = verify(token, key)
    if payload is None or payload.get("k") != kind:
        return None
    lead, message = payload.get("l"), payload.get("m")
    if not isinstance(lead, int) or isinstance(lead, bool) or not isinstance(message, str):
        return None
    url = payload.get("u")
    if kind == "c" and not safe_target(url):
        return None
    return Link(lead, message, url if kind == "c" else None)


def safe_target(url: object) -> bool:
    """Only absolute http(s) URLs are redirect targets, even inside a genuine token."""
    if not isinstance(url, str) or len(url) > 2048 or any(ord(c) < 0x21 or c == "\\" for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
