"""Tracking from websites: /t.js and POST /v1/track, authenticated by a publishable key.

A publishable key is public (it is in every page), so what it may do is narrow: only the browser
events (`page.viewed`, `form.submitted`, when the campaign declares them), only from the key's origins
(the `Origin` header; CORS answers only those), at a limited rate per key and per client address.
A visitor is anonymous until a form with an email is submitted: its events are kept apart, then moved
onto the lead with that address and scored in time order; its later events go to the lead directly.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from engine.http.errors import ApiError, JsonResponse
from engine.http.ratelimit import TrackLimits
from engine.http.schemas import ErrorBody
from engine.http.snippet import SNIPPET
from engine.ingest.rows import InvalidRow, Row, validate_event
from engine.store.visitors import KeyInfo

ORIGIN = "http POST /v1/track"
#: the only events a publishable key may send; each only when the campaign declares it
BROWSER_EVENTS = ("page.viewed", "form.submitted")
_VISITOR = re.compile(r"[A-Za-z0-9_-]{8,64}")
_EVENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: an address that only stands in for the lead while an anonymous event is checked
_PLACEHOLDER = "visitor@example.com"
router = APIRouter(tags=["tracking"])


class TrackResult(BaseModel):
    stored: str
    merged: int | None = None


def new_key() -> str:
    return "pk_" + secrets.token_urlsafe(24)


def _limits(request: Request) -> TrackLimits:
    state = request.app.state
    if getattr(state, "track_limits", None) is None:
        state.track_limits = TrackLimits.from_env()
    limits: TrackLimits = state.track_limits
    return limits


def _cors(origin: str) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def _throttle(request: Request, key: str, origin: str) -> None:
    limits = _limits(request)
    client = request.client.host if request.client else "unknown"
    wait = max(limits.per_client.take(client), limits.per_key.take(key))
    if wait:
        seconds = max(1, int(wait + 0.999))
        raise ApiError(429, f"too many events; try again in {seconds} s",
                       headers={"Retry-After": str(seconds), **_cors(origin)})


@router.get("/t.js", summary="The tracking snippet", response_class=Response,
            responses={200: {"content": {"application/javascript": {}}, "description": "Plain JavaScript"}})
async def snippet() -> Response:
    return Response(SNIPPET, media_type="application/javascript",
                    headers={"Cache-Control": "public, max-age=300"})


@router.options("/v1/track", include_in_schema=False)
async def preflight(request: Request) -> Response:
    origin = request.headers.get("origin", "")
    ctx = request.app.state.ctx

    def allowed() -> bool:
        with ctx.store.transaction() as tx:
            return any(origin in k.origins for k in tx.visitors.all_keys() if k.revoked_at is None)

    if not origin or not await run_in_threadpool(allowed):
        raise ApiError(403, "this origin may not send events; add it to a key: nurture keys add --publishable "
                            "--origin ORIGIN")
    return Response(status_code=204, headers={
        **_cors(origin), "Access-Control-Allow-Methods": "POST",
        "Access-Control-Allow-Headers": "Content-Type, X-Nurture-Key", "Access-Control-Max-Age": "600"})


def _body(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the body is not JSON; send an object with key, anonymous_id, type and props") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object with key, anonymous_id, type and props")
    return data


@router.post(
    "/v1/track",
    summary="A browser event from a website",
    description="`{\"key\": \"pk_...\", \"anonymous_id\", \"type\", \"props\", \"id\", \"email\"}` (the key may "
                "instead come in `X-Nurture-Key`), sent by /t.js. Only `page.viewed` and `form.submitted`, from "
                "the key's origins; `form.submitted` with an `email` identifies the visitor.",
    response_model=None,
    responses={
        200: {"model": TrackResult, "description": "Stored, on the visitor or on its lead"},
        400: {"model": ErrorBody, "description": "The body is not a JSON object"},
        401: {"model": ErrorBody, "description": "Missing, unknown or revoked publishable key"},
        403: {"model": ErrorBody, "description": "The Origin is not one of the key's"},
        413: {"model": ErrorBody, "description": "Body larger than the limit"},
        422: {"model": ErrorBody, "description": "Not a browser event the campaign declares, or a bad field"},
        429: {"model": ErrorBody, "description": "Over the key's or the client's rate; see Retry-After"},
    },
)
async def track(request: Request) -> JsonResponse:
    ctx = request.app.state.ctx
    origin = request.headers.get("origin", "")
    data = _body(await request.body())
    key = request.headers.get("x-nurture-key") or data.get("key")
    if not isinstance(key, str) or not key.startswith("pk_"):
        raise ApiError(401, "missing publishable key; send `key` in the body or an X-Nurture-Key header")
    _throttle(request, key, origin)

    def find() -> KeyInfo | None:
        with ctx.store.transaction() as tx:
            return tx.visitors.key(key)

    found = await run_in_threadpool(find)
    if found is None or found.revoked_at is not None:
        raise ApiError(401, "unknown or revoked publishable key")
    if not origin or origin not in found.origins:
        raise ApiError(403, f"origin {origin or '(none)'!r} may not use this key; its origins are "
                            f"{', '.join(found.origins)}")
    cors = _cors(origin)
    try:
        answer = await run_in_threadpool(_record, ctx, data)
    except ApiError as err:
        err.headers = {**err.headers, **cors}
        raise
    return JsonResponse(answer, headers=cors)


def _invalid(message: str) -> ApiError:
    return ApiError(422, message)


def _record(ctx: Any, data: dict[str, Any]) -> dict[str, Any]:
    _, rules = ctx.rules()
    etype = data.get("type")
    declared = [t for t in BROWSER_EVENTS if t in rules.event_types]
    if etype not in declared:
        raise _invalid(f"a publishable key may send only {' and '.join(declared) or 'no events'} "
                       f"(browser events the campaign declares), not {etype!r}")
    visitor = data.get("anonymous_id")
    if not isinstance(visitor, str) or not _VISITOR.fullmatch(visitor):
        raise _invalid("`anonymous_id` must be 8 to 64 letters, digits, '-' or '_'")
    given = data.get("id")
    if given is not None and (not isinstance(given, str) or not _EVENT_ID.fullmatch(given)):
        raise _invalid("`id` must be 1 to 64 letters, digits, '-' or '_'")
    event_id = f"track:{visitor}:{given or secrets.token_hex(12)}"
    props = data.get("props") or {}
    if not isinstance(props, dict):
        raise _invalid("`props` must be an object")
    # the snippet is the same on every site: properties the campaign does not declare are left out
    props = {name: value for name, value in props.items() if name in rules.event_types[etype]}
    now = ctx.clock.now()
    email = data.get("email") if etype == "form.submitted" else None

    def row(lead: str, key: str, kind: str, at: Any, values: dict[str, Any]) -> Row:
        item = {"id": key, "lead": lead, "type": kind, "at": at.isoformat(), "props": values}
        return Row(0, json.dumps(item, default=str), item)

    this = row(email if isinstance(email, str) else _PLACEHOLDER, event_id, etype, now, props)
    try:
        checked = validate_event(this, rules.event_types, False)
    except InvalidRow as err:
        raise _invalid(str(err)) from None
    if email is not None:
        return _identify(ctx, visitor, checked.email, this)
    with ctx.write_gate(), ctx.store.transaction() as tx:
        lead = tx.visitors.lead_of(visitor)
        if lead is None:
            tx.visitors.keep(visitor, event_id, etype, now, checked.props, now)
            return {"stored": "anonymous"}
    item = {**(this.data or {}), "lead": lead}
    _write(ctx, [Row(0, json.dumps(item), item)])
    return {"stored": "lead"}


def _identify(ctx: Any, visitor: str, email: str, this: Row) -> dict[str, Any]:
    """Move the visitor's anonymous history onto the lead with ``email``, with this event, in time order."""
    with ctx.store.transaction() as tx:
        history = tx.visitors.history(visitor)
    rows = []
    for kept in history:
        item = {"id": kept.key, "lead": email, "type": kept.type, "at": kept.at.isoformat(), "props": kept.props}
        rows.append(Row(0, json.dumps(item, default=str), item))
    _write(ctx, [*rows, this])  # stored by their ids: a merge done again stores nothing twice
    with ctx.write_gate(), ctx.store.transaction() as tx:
        tx.visitors.identify(visitor, email, [kept.key for kept in history], ctx.clock.now())
    return {"stored": "lead", "merged": len(history)}


def _write(ctx: Any, rows: list[Row]) -> None:
    outcome = ctx.writer.write(rows, ORIGIN)
    ctx.counters.add("nurture_http_events_accepted_total", outcome.accepted)
    ctx.counters.add("nurture_http_events_duplicate_total", outcome.duplicates)
    if outcome.rejected:
        raise _invalid(outcome.rejected[0][1])
