"""Reading a JSON request body of one item or a list, and naming the field a rejection is about."""

from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi import Request

from engine.http.errors import ApiError
from engine.ingest.rows import InvalidRow, Row, normalise_email

_PROPERTY = re.compile(r"^property '([^']+)'")
_FIELD = re.compile(r"^`([^`]+)` (?:must be|contains|is too large)")
_ATTRIBUTE = re.compile(r"^unknown attribute '([^']+)'")


async def read_items(request: Request, max_items: int, what: str) -> list[Any]:
    raw = await request.body()
    if not raw.strip():
        raise ApiError(400, f"the body is empty; send one {what} as a JSON object, or a list of them")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise ApiError(400, f"the body is not valid JSON ({err}); send one {what} as a JSON object, "
                            "or a list of them") from None
    if isinstance(data, dict):
        return [data]
    if not isinstance(data, list):
        raise ApiError(400, f"expected one {what} as a JSON object, or a list of them; got {type(data).__name__}")
    if len(data) > max_items:
        raise ApiError(413, f"{len(data):,} {what}s in one request; send at most {max_items:,} per request")
    return data


def rows_of(items: list[Any]) -> list[Row]:
    """Each item a row: line = its index + 1, raw = its JSON, as the quarantine keeps it."""
    return [Row(i + 1, orjson.dumps(item).decode(), item) if isinstance(item, dict)
            else Row(i + 1, orjson.dumps(item).decode(), None, "expected a JSON object")
            for i, item in enumerate(items)]


def event_field(reason: str) -> str | None:
    """The field of an event a validation reason is about."""
    if reason.startswith(("missing `lead`", "invalid email")):
        return "lead"
    if reason.startswith(("missing `type`", "unknown event type")):
        return "type"
    if reason.startswith(("missing `at`", "bad timestamp")):
        return "at"
    if reason.startswith("`props`"):
        return "props"
    if reason.startswith("`id`"):
        return "id"
    match = _PROPERTY.match(reason) or _FIELD.match(reason)
    return f"props.{match.group(1)}" if match else None


def lead_field(reason: str, item: Any) -> str | None:
    """The field of a lead a validation reason is about."""
    if reason.startswith(("missing `lead`", "invalid email")):
        try:  # the lead's email is checked first, so a valid one means the owner's is at fault
            normalise_email(item.get("email") if isinstance(item, dict) else None)
        except InvalidRow:
            return "email"
        return "owner"
    match = _ATTRIBUTE.match(reason) or _FIELD.match(reason)
    return match.group(1) if match else None
