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

from engine.delivery.retry import http_status
from engine.delivery.transport import Message, SendResult


def body(payload: dict[str, Any]) -> bytes:
    return orjson.dumps(payload, default=str, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def signature(data: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


class WebhookTransport:
    """POSTs each message's body to its URL (the message's one recipient), signed with ``secret``."""

    def __init__(self, secret: str, *, timeout: float = 10.0) -> None:
        self._secret = secret
        self._timeout = timeout

    async def send(self, message: Message) -> SendResult:
        """POST once; 2xx is sent, 408/429/5xx and network errors are temporary, other answers permanent."""
        [url] = message.recipients
        headers = {"Content-Type": "application/json", "X-Nurture-Signature": signature(message.data, self._secret),
                   "X-Nurture-Delivery": message.key, "User-Agent": "nurture-webhook"}
        try:
            # a client per notification: they are few (one per qualified lead), and a client holds no
            # connections across the event loops of virtual runs
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(url, content=message.data, headers=headers)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as err:  # no retry can fix the configuration
            return SendResult("permanent", None, f"the webhook URL {url!r} cannot be posted to: {err}; "
                                                 "set sales_webhook_url to an http(s) URL")
        except httpx.HTTPError as err:
            return SendResult("temporary", None, f"webhook unreachable: {type(err).__name__}: {err}")
        reply = f"HTTP {response.status_code} {response.text[:200]}".strip()
        return SendResult(http_status(response.status_code), response.status_code, reply)

    async def close(self) -> None:
        return None
