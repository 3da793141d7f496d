"""ASGI middleware: body size limit, access log with tokens redacted, and a last-resort 500 as JSON."""

from __future__ import annotations

import logging
import re
import time

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.http.metrics import Counters

log = logging.getLogger("nurture.http")
#: signed links carry a token in their path; it must never reach a log
_TOKEN_PATH = re.compile(r"^/(u|t/o|t/c)/[^/]+")


def redact(path: str) -> str:
    return _TOKEN_PATH.sub(lambda m: f"/{m.group(1)}/[token]", path)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit:,} bytes; send smaller batches")


class Guard:
    """Outermost layer of the app: limits bodies, logs each request, and turns a crash into a 500."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, counters: Counters, access_log: bool = True) -> None:
        self.app = app
        self.limit = max_body_bytes
        self.counters = counters
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = redact(scope.get("path", ""))
        state = {"status": 0}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
            await send(message)

        length = _content_length(scope)
        try:
            if length is not None and length > self.limit:  # refused before a byte of it is read
                await _json(sending, 413, str(BodyTooLarge(self.limit).detail))
            else:
                await self.app(scope, self._limited(receive), sending)
        except BodyTooLarge as err:
            if not state["status"]:
                await _json(sending, 413, str(err.detail))
        except Exception:
            log.exception("request failed", extra={"fields": {"method": scope.get("method"), "path": path}})
            if not state["status"]:
                await _json(sending, 500, "internal error; it has been logged. Try again, or report it with the "
                                          "time of the request")
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.counters.add("nurture_http_requests_total", method=scope.get("method", ""), route=template,
                              status=str(state["status"]))
            if self.access_log:
                log.info("%s %s %s", scope.get("method"), path, state["status"], extra={"fields": {
                    "ms": round((time.perf_counter() - started) * 1000, 1)}})

    def _limited(self, receive: Receive) -> Receive:
        """Counts a streamed (chunked) body as it arrives: a body without Content-Length is limited too."""
        seen = 0

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        return wrapped


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _json(send: Send, status: int, message: str) -> None:
    body = orjson.dumps({"error": message})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
