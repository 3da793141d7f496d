"""Errors as JSON with a message a client can act on; never a traceback."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from engine.errors import CampaignError
from engine.http.writer import PassFailed
from engine.store.existing import StoreNotReady

#: what the HTTP side cannot do anything about until someone runs a command: a 503 that says which
NOT_READY = (StoreNotReady, CampaignError)


class ApiError(Exception):
    """An answer other than success: the status, a sentence, and optional headers or fields."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extra = extra


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status_code=status, headers=headers)


_STATUS_TEXT = {404: "not found", 405: "method not allowed", 413: "request body too large"}


def _describe(errors: list[dict[str, Any]]) -> str:
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"`{where}`: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
    return "; ".join(parts) or "invalid request"


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> Response:
        return error_response(exc.status, exc.message, exc.headers, **exc.extra)

    @app.exception_handler(StoreNotReady)
    @app.exception_handler(CampaignError)
    async def not_ready(_: Request, exc: Exception) -> Response:
        return error_response(503, str(exc))

    @app.exception_handler(PassFailed)
    async def pass_failed(_: Request, exc: PassFailed) -> Response:
        if isinstance(exc.__cause__, NOT_READY):
            return error_response(503, str(exc.__cause__))
        raise exc

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else _STATUS_TEXT.get(exc.status_code, "error")
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such endpoint: {request.method} {request.url.path}; see /docs"
        return error_response(exc.status_code, detail, dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        return error_response(422, _describe(list(exc.errors())))
