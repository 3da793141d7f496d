"""Bearer tokens for the API: NURTURE_API_TOKEN, several allowed (comma-separated) for rotation."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from engine.http.errors import ApiError

_bearer = HTTPBearer(auto_error=False, description="A token from NURTURE_API_TOKEN")
_CHALLENGE = 'Bearer realm="nurture"'


def configured_tokens(value: str | None) -> list[str]:
    return [t.strip() for t in (value or "").split(",") if t.strip()]


def token_matches(given: str, tokens: list[str]) -> bool:
    """Constant time in the token's content, and every token is compared (no early exit)."""
    found = False
    for token in tokens:
        found |= hmac.compare_digest(given.encode(), token.encode())
    return found


#: how a route that checks the token itself (see `authorize`) says so in /openapi.json
SECURITY: dict[str, Any] = {"security": [{"HTTPBearer": []}]}


async def require_token(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    _check(request, None if credentials is None else credentials.credentials)


def authorize(request: Request) -> None:
    """`require_token` without the dependency machinery, for the intake route that every event passes through:
    the same header reading as HTTPBearer, the same answers."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    given = given.strip()
    _check(request, given if scheme.lower() == "bearer" and given else None)


def _check(request: Request, given: str | None) -> None:
    tokens = configured_tokens(request.app.state.ctx.nurture.config.api_token)
    if not tokens:
        raise ApiError(503, "the API is disabled because no token is configured; set NURTURE_API_TOKEN "
                            "(several may be given, separated by commas) and restart")
    if given is None:
        raise ApiError(401, "missing bearer token; send `Authorization: Bearer <token>`",
                       headers={"WWW-Authenticate": _CHALLENGE})
    if not token_matches(given, tokens):
        raise ApiError(401, "invalid bearer token",
                       headers={"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'})
