"""Leads over HTTP: upsert, read with the explanation of each score, sales feedback, and erasure."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from starlette.concurrency import run_in_threadpool

from engine.errors import LeadNotFound
from engine.http.auth import require_token
from engine.http.body import lead_field, read_items, rows_of
from engine.http.context import AppContext
from engine.http.errors import ApiError, JsonResponse
from engine.http.recording import VERDICTS, feedback_row
from engine.http.schemas import (
    ErasureResult,
    ErrorBody,
    Feedback,
    FeedbackResult,
    LeadItem,
    LeadsResult,
    LeadView,
    one_or_many,
)
from engine.ingest.processor import Report
from engine.ingest.rows import InvalidRow, normalise_email
from engine.store.reports import LeadRef

ORIGIN = "http POST /v1/leads"
FEEDBACK_ORIGIN = "http POST /v1/leads/feedback"
router = APIRouter(tags=["leads"], dependencies=[Depends(require_token)])
AUTH: dict[int | str, dict[str, Any]] = {401: {"model": ErrorBody, "description": "Missing or wrong bearer token"},
        503: {"model": ErrorBody, "description": "No API token is configured"}}
EMAIL = Path(description="The lead's email address", examples=["ann@example.com"])



@router.post(
    "/v1/leads",
    summary="Create or update leads",
    description="One lead or a list, keyed by email: attributes are merged into what the lead has, and fit "
                "scores and stages follow. Unknown attributes and values of the wrong type are refused "
                "with their index and field, and kept in quarantine.",
    response_model=None,
    responses={200: {"model": LeadsResult, "description": "Every lead was stored"},
               400: {"model": ErrorBody, "description": "The body is not JSON, or not an object or a list"},
               413: {"model": ErrorBody, "description": "Body or batch larger than the limits"},
               422: {"model": LeadsResult, "description": "Some leads were rejected; the others were stored"},
               **AUTH},
    openapi_extra=one_or_many(LeadItem),
)
async def post_leads(request: Request) -> JsonResponse:
    ctx: AppContext = request.app.state.ctx
    items = await read_items(request, ctx.limits.max_batch, "lead")
    rows = rows_of(items)

    def store() -> Report:
        with ctx.write_gate():
            return ctx.processor().import_leads(rows, ORIGIN)

    report = await run_in_threadpool(store)
    ctx.counters.add("nurture_http_leads_accepted_total", report.accepted)
    ctx.counters.add("nurture_http_leads_rejected_total", len(report.rejected))
    rejected = [{"index": r.line - 1, "field": lead_field(r.reason, items[r.line - 1]), "error": r.reason}
                for r in report.rejected]
    body: dict[str, Any] = {"accepted": report.accepted, "created": report.leads_created,
                            "updated": report.accepted - report.leads_created, "rejected": rejected}
    if rejected:
        body["error"] = (f"{len(rejected)} of {len(rows)} leads were rejected and kept in quarantine; "
                         "the others were stored")
    return JsonResponse(body, status_code=422 if rejected else 200)


def _address(email: str) -> str:
    try:
        return normalise_email(email)
    except InvalidRow:
        raise ApiError(404, f"no lead with email {email!r}: that is not an email address") from None


def _find_lead(ctx: AppContext, email: str) -> LeadRef:
    email = _address(email)
    with ctx.store.transaction() as tx:
        lead = tx.reports.find_lead(email)
    if lead is None:
        raise ApiError(404, f"no lead with email {email!r}; create it with POST /v1/leads or send its events")
    return lead


@router.get(
    "/v1/leads/{email}",
    summary="Read a lead",
    description="Attributes, scores, stage, owner, recent events, stage history, every journey enrolment (journey, "
                "version, step label, status, when the step is next due, and how it ended), and the explanation "
                "of every score: the rules and events behind it, decayed to now, adding up to the total.",
    response_model=LeadView,
    responses={404: {"model": ErrorBody, "description": "No such lead"}, **AUTH},
)
def get_lead(request: Request, email: str = EMAIL) -> dict[str, Any]:
    ctx: AppContext = request.app.state.ctx
    email = _find_lead(ctx, email).email
    _, rules = ctx.rules()
    now = ctx.clock.now()
    try:  # reading changes nothing: a stage that time alone changes moves when the daemon sweeps
        with ctx.store.transaction() as tx:
            lead = tx.reports.show_lead(rules, email, now)
            lead["explanation"] = tx.reports.explain_lead(rules, email, now)["scores"]
    except LeadNotFound as err:
        raise ApiError(404, str(err)) from None
    return lead


@router.post(
    "/v1/leads/{email}/feedback",
    summary="Sales feedback on a lead",
    description="Sales accepts or rejects a lead. The built-in event `sales.accepted` or `sales.rejected` is "
                "recorded now with the reason, and the campaign decides what follows (for example "
                "`back to mql when sales.rejected within 30 days`, or a journey that enters on it). "
                "Give an `id` to make retries safe.",
    response_model=FeedbackResult,
    responses={400: {"model": ErrorBody, "description": "The body is not JSON"},
               404: {"model": ErrorBody, "description": "No such lead"},
               422: {"model": ErrorBody, "description": "Invalid verdict, or a rejection without a reason"},
               **AUTH},
)
def post_feedback(request: Request, feedback: Feedback, email: str = EMAIL) -> dict[str, Any]:
    ctx: AppContext = request.app.state.ctx
    if feedback.verdict == "reject" and not feedback.reason.strip():
        raise ApiError(422, "a rejection needs a reason (for example \"no budget this quarter\"), "
                            "so marketing can learn from it")
    lead = _find_lead(ctx, email)
    email, before = lead.email, lead.stage
    event_id = f"feedback:{feedback.id}" if feedback.id else None
    row = feedback_row(email, feedback.verdict, feedback.reason.strip() or None, ctx.clock.now(), event_id)
    outcome = ctx.writer.write([row], FEEDBACK_ORIGIN)
    if outcome.rejected:
        raise ApiError(422, outcome.rejected[0][1])
    after = _find_lead(ctx, email).stage
    return {"lead": email, "event": VERDICTS[feedback.verdict], "duplicate": outcome.accepted == 0,
            "previous_stage": before, "stage": after}


#: who the audit record of an erasure over HTTP names
ERASED_BY = "api"


@router.delete(
    "/v1/leads/{email}",
    summary="Erase a lead (data subject request)",
    description="Removes everything held about the address in one transaction: the lead, its events, score "
                "ledger, stage changes, pending actions, signals, journey enrolments, outbox messages and their "
                "bodies (sales notifications and webhooks about it too), quarantined rows that mention the "
                "address, and its suppression entries. Only a salted hash of the address is kept, so imports and "
                "intake refuse it from then on and it is never mailed again, with an audit record (when, \"api\", "
                "rows per table) that does not hold the address. It cannot be undone.",
    response_model=ErasureResult,
    responses={404: {"model": ErrorBody, "description": "No such lead (or it was erased before)"}, **AUTH},
)
def delete_lead(request: Request, email: str = EMAIL) -> dict[str, Any]:
    ctx: AppContext = request.app.state.ctx
    address = _address(email)
    with ctx.write_gate(), ctx.store.transaction() as tx:
        counts = tx.privacy.erase(address, ERASED_BY, ctx.clock.now())
        erasure = tx.privacy.erasure_of(address) if counts is None else None
    if erasure is not None:
        raise ApiError(404, f"no lead with email {address!r}: it was erased on {erasure['erased_at']}, and nothing "
                            "is held about it any more")
    if counts is None:
        raise ApiError(404, f"no lead with email {address!r}; nothing is held about it")
    return {"lead": address, "erased": counts}
