"""Unsubscribe links: a GET shows a confirm page (link scanners prefetch, so it never unsubscribes);
a POST unsubscribes at once (RFC 8058 one-click: no cookies, no auth, 200 and never a redirect)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse

from engine.http import pages, preferences
from engine.http.context import AppContext
from engine.http.links import read_link
from engine.http.pages import HTML, PAGE_HEADERS
from engine.http.recording import event_row, link_event_id
from engine.store.suppressions import LeadConsent

log = logging.getLogger("nurture.http")
router = APIRouter(tags=["unsubscribe"])
ORIGIN = "http unsubscribe"
TOKEN = Path(description="The signed token from the email's unsubscribe link")
RESPONSES: dict[int | str, dict[str, Any]] = {200: {**HTML, "description": "The page"},
                                              404: {**HTML, "description": "Not a genuine link"},
                                              503: {**HTML, "description": "The store is unavailable; try again"}}
BODY = {"requestBody": {"required": False, "content": {
    "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {
        "List-Unsubscribe": {"type": "string", "enum": ["One-Click"]}}}},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "List-Unsubscribe": {"type": "string", "enum": ["One-Click"]}}}}}}}


def _page(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def _sender(ctx: AppContext) -> str:
    return str(ctx.rules()[1].symbols.settings.get("sender name") or "")


def _lead(ctx: AppContext, token: str) -> LeadConsent | None:
    link = read_link(token, ctx.key, "u")
    if link is None:
        return None
    with ctx.store.transaction() as tx:
        return tx.suppressions.consent_of(link.lead_id)


@router.get("/u/{token}", summary="Unsubscribe page", response_class=HTMLResponse, responses=RESPONSES,
            description="Asks the reader to confirm with a button; loading it changes nothing.")
def unsubscribe_page(request: Request, token: str = TOKEN) -> HTMLResponse:
    ctx: AppContext = request.app.state.ctx
    lead = _lead(ctx, token)
    if lead is None:
        return _page(pages.invalid_link(), 404)
    if lead.unsubscribed:
        return _page(pages.unsubscribed(lead.email, _sender(ctx), f"{token}/resubscribe"))
    link = read_link(token, ctx.key, "u")
    if link is not None and (topic_page := preferences.confirm_leaving_topic(ctx, link, lead, token)) is not None:
        return topic_page  # `unsubscribe leaves topic`: this email's topic only
    return _page(pages.confirm(lead.email, _sender(ctx), token))


@router.post("/u/{token}", summary="Unsubscribe (RFC 8058 one-click)", response_class=HTMLResponse,
             responses=RESPONSES, openapi_extra=BODY,
             description="Unsubscribes at once: the lead is marked unsubscribed, the address is suppressed and "
                         "`email.unsubscribed` is recorded. Mail clients post `List-Unsubscribe=One-Click`; any "
                         "body is accepted. Answers with a page that offers to subscribe again.")
async def unsubscribe(request: Request, token: str = TOKEN) -> HTMLResponse:
    ctx: AppContext = request.app.state.ctx
    return await run_in_threadpool(_unsubscribe, ctx, token)


def _unsubscribe(ctx: AppContext, token: str) -> HTMLResponse:
    link = read_link(token, ctx.key, "u")
    if link is None:
        return _page(pages.invalid_link(), 404)
    if (topic_page := preferences.leave_email_topic(ctx, link)) is not None:
        return topic_page  # `unsubscribe leaves topic`: this email's topic only
    now = ctx.clock.now()
    try:
        with ctx.write_gate(), ctx.store.transaction() as tx:
            lead = tx.suppressions.consent_of(link.lead_id)
            changed = lead is not None and tx.suppressions.unsubscribe(lead, now)
    except Exception:
        log.exception("unsubscribe failed")
        return _page(pages.unavailable(), 503)
    if lead is None:
        return _page(pages.invalid_link(), 404)
    if changed:
        ctx.counters.add("nurture_http_unsubscribes_total", kind="unsubscribe")
        try:  # consent is already withdrawn; the event is for scores, journeys and reports
            ctx.writer.write([event_row(lead.email, "email.unsubscribed", now, None,
                                        link_event_id("unsubscribe", token, now))], ORIGIN)
        except Exception:
            log.exception("could not record email.unsubscribed")
    return _page(pages.unsubscribed(lead.email, _sender(ctx), f"{token}/resubscribe"))


@router.post("/u/{token}/resubscribe", summary="Subscribe again", response_class=HTMLResponse,
             responses=RESPONSES, openapi_extra=BODY,
             description="Undoes an unsubscribe: clears the flag and lifts the suppression it added "
                         "(a bounce's suppression stays).")
def resubscribe(request: Request, token: str = TOKEN) -> HTMLResponse:
    ctx: AppContext = request.app.state.ctx
    link = read_link(token, ctx.key, "u")
    if link is None:
        return _page(pages.invalid_link(), 404)
    try:
        with ctx.write_gate(), ctx.store.transaction() as tx:
            lead = tx.suppressions.consent_of(link.lead_id)
            changed = lead is not None and tx.suppressions.resubscribe(lead, ctx.clock.now())
    except Exception:
        log.exception("resubscribe failed")
        return _page(pages.unavailable(), 503)
    if lead is None:
        return _page(pages.invalid_link(), 404)
    if changed:
        ctx.counters.add("nurture_http_unsubscribes_total", kind="resubscribe")
    return _page(pages.resubscribed(lead.email, _sender(ctx), f"../{token}"))
