"""Signed tokens for unsubscribe and tracking links: nobody can act for another lead or forge a URL.

A token is base64url(JSON payload) + "." + base64url(HMAC-SHA256) under the secret key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson

from engine.store import Store, Tx


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(payload: dict[str, Any], key: str) -> str:
    return Signer(key).sign(payload)


class Signer:
    """Signs many tokens under one key: the key's HMAC state is set up once, and copied for each token."""

    def __init__(self, key: str) -> None:
        self._keyed = hmac.new(key.encode(), digestmod=hashlib.sha256)

    def sign(self, payload: dict[str, Any]) -> str:
        body = _b64(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS))
        mac = self._keyed.copy()
        mac.update(body.encode())
        return f"{body}.{_b64(mac.digest())}"


def verify(token: str, key: str) -> dict[str, Any] | None:
    """The payload of a genuine token, or None for anything tampered, foreign or malformed."""
    body, _, mac = token.partition(".")
    if not body or not mac:
        return None
    expected = hmac.new(key.encode(), body.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(_unb64(mac), expected):
            return None
        payload = orjson.loads(_unb64(body))
    except (ValueError, orjson.JSONDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def secret_key(store: Store | Tx, configured: str | None) -> str:
    """NURTURE_SECRET_KEY, or a random key generated once and kept in the store (shared by all daemons).

    Given a Store, the key is read (or made) in a transaction of its own; given a Tx, inside that one.
    """
    if configured:
        return configured
    if isinstance(store, Tx):
        return store.meta.signing_key()
    with store.transaction() as tx:
        return tx.meta.signing_key()

