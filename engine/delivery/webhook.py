"""Sales notifications as a signed JSON POST, for a CRM or a chat tool; delivered and retried like email.

The body is signed with HMAC-SHA256 under NURTURE_WEBHOOK_SECRET and sent in `X-Nurture-Signature:
sha256=<hex>`; `X-Nurture-Delivery` carries a key that stays the same on every retry, so a receiver can
drop repeats.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import httpx
import orjson

from engine.delivery.smtp import SendResult


def body(payload: dict[str, Any]) -> bytes:
    return orjson.dumps(payload, default=str, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def signature(data: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


async def post(url: str, data: bytes, secret: str, delivery: str, timeout: float = 10.0) -> SendResult:
    """POST once; 2xx is sent, 408/429/5xx and network errors are temporary, other answers permanent."""
    headers = {"Content-Type": "application/json", "X-Nurture-Signature": signature(data, secret),
               "X-Nurture-Delivery": delivery, "User-Agent": "nurture-webhook"}
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.post(url, content=data, headers=headers)
    except httpx.HTTPError as err:
        return SendResult("temporary", None, f"webhook unreachable: {type(err).__name__}: {err}")
    reply = f"HTTP {response.status_code} {response.text[:200]}".strip()
    if response.is_success:
        return SendResult("sent", response.status_code, reply)
    temporary = response.status_code in (408, 429) or response.status_code >= 500
    return SendResult("temporary" if temporary else "permanent", response.status_code, reply)
