"""POST /v1/events: engagement events in, one or a list, exactly as `nurture events ingest` reads them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from engine.http.auth import SECURITY, authorize
from engine.http.body import event_field, read_items, rows_of
from engine.http.errors import JsonResponse
from engine.http.schemas import ErrorBody, EventItem, IntakeResult, one_or_many

ORIGIN = "http POST /v1/events"
router = APIRouter(tags=["intake"])


@router.post(
    "/v1/events",
    summary="Ingest engagement events",
    description="One event object or a list of them (at most the configured batch size, 1000 by default). "
                "Valid events are stored, scored and move leads through stages; invalid ones are refused "
                "with their index and reason and kept in quarantine. Re-sending an event (same `id`, or the "
                "same content when it has none) counts as a duplicate, so retries are safe.",
    response_model=None,
    responses={
        200: {"model": IntakeResult, "description": "Every event was taken (stored now or before)"},
        400: {"model": ErrorBody, "description": "The body is not JSON, or not an object or a list"},
        401: {"model": ErrorBody, "description": "Missing or wrong bearer token"},
        413: {"model": ErrorBody, "description": "Body or batch larger than the limits"},
        422: {"model": IntakeResult, "description": "Some events were rejected; the others were taken"},
        503: {"model": ErrorBody, "description": "No API token is configured"},
    },
    openapi_extra={**one_or_many(EventItem), **SECURITY},  # the token is checked first thing, below
)
async def post_events(request: Request) -> JsonResponse:
    authorize(request)  # before the body is read; a dependency would cost more than the check
    ctx = request.app.state.ctx
    items = await read_items(request, ctx.limits.max_batch, "event")
    rows = rows_of(items)
    outcome = await ctx.writer.submit(rows, ORIGIN)  # stored by the writer thread: no thread per request
    ctx.counters.add("nurture_http_events_accepted_total", outcome.accepted)
    ctx.counters.add("nurture_http_events_duplicate_total", outcome.duplicates)
    ctx.counters.add("nurture_http_events_rejected_total", len(outcome.rejected))
    body: dict[str, Any] = {
        "accepted": outcome.accepted, "duplicates": outcome.duplicates,
        "rejected": [{"index": i, "field": event_field(reason), "error": reason} for i, reason in outcome.rejected]}
    if outcome.rejected:
        body["error"] = (f"{len(outcome.rejected)} of {len(rows)} events were rejected and kept in quarantine; "
                         "the others were taken. Fix them and send them again")
    return JsonResponse(body, status_code=422 if outcome.rejected else 200)
