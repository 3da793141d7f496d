"""Open pixel and click redirects: record email.opened / email.clicked, then answer at once.

Known image proxies and link scanners load pixels and follow links without a person: their opens
are recorded with `prefetched: true` (scoring rules can leave them out), their clicks not at all
(a scanner following every link is not interest). Recording never stands between the reader and
the page: a store problem is logged and the redirect still happens.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Path, Request
from starlette.responses import RedirectResponse, Response

from engine.http.context import AppContext
from engine.http.errors import ApiError
from engine.http.links import Link, read_link
from engine.http.recording import event_row, link_event_id
from engine.http.schemas import ErrorBody

log = logging.getLogger("nurture.http")
router = APIRouter(tags=["tracking"])
ORIGIN = "http tracking"

#: User-Agent fragments of mail-privacy image proxies and security link scanners. Apple Mail's
#: privacy proxy sends a plain browser agent and cannot be told apart this way.
PREFETCHERS = (
    "GoogleImageProxy",  # Gmail fetches images through its proxy, often when the mail arrives
    "YahooMailProxy",  # Yahoo and AOL mail image proxy
    "BingPreview",  # Outlook.com / Microsoft link previews and safety checks
    "ms-office",  # Office clients checking links before opening them
    "Microsoft Office",
    "Barracuda",  # security gateways that open every link and image to scan it
    "Mimecast",
    "Proofpoint",
    "Symantec",
    "Trend Micro",
    "Forcepoint",
)

#: the smallest transparent GIF: 1x1, one transparent colour
PIXEL = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
         b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
NO_CACHE = {"Cache-Control": "no-store, no-cache, must-revalidate, max-age=0", "Pragma": "no-cache", "Expires": "0"}
TOKEN = Path(description="The signed token from the email")
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "Not a genuine link"}}


def is_prefetch(user_agent: str | None) -> bool:
    agent = (user_agent or "").lower()
    return any(p.lower() in agent for p in PREFETCHERS)


def _record(ctx: AppContext, link: Link, token: str, etype: str, props: dict[str, Any]) -> None:
    try:
        with ctx.store.transaction() as tx:
            message = tx.reports.tracked_message(link.lead_id, link.message_key)
        if message is None:  # the lead has been deleted since the email went out
            return
        now = ctx.clock.now()
        props = {**({"template": message.template} if message.template else {}), **props}
        ctx.writer.write([event_row(message.email, etype, now, props, link_event_id(etype, token, now))], ORIGIN)
        ctx.counters.add("nurture_http_tracking_total", kind=etype)
    except Exception:  # the reader gets the pixel or the page all the same
        log.exception("could not record a tracking event", extra={"fields": {"event": etype}})


@router.get(
    "/t/o/{token}",
    summary="Open pixel",
    description="A 1x1 transparent GIF. Records `email.opened` with the template, and `prefetched: true` when "
                "a known image proxy or scanner loaded it. Loads within the same minute count once.",
    response_class=Response,
    responses={200: {"content": {"image/gif": {}}, "description": "The pixel"}, **NOT_FOUND},
)
def open_pixel(request: Request, token: str = TOKEN) -> Response:
    ctx: AppContext = request.app.state.ctx
    link = read_link(token, ctx.key, "o")
    if link is None:
        raise ApiError(404, "not a genuine tracking link")
    prefetched = is_prefetch(request.headers.get("user-agent"))
    if prefetched:
        ctx.counters.add("nurture_http_prefetches_total", kind="email.opened")
    _record(ctx, link, token, "email.opened", {"prefetched": prefetched})
    return Response(PIXEL, media_type="image/gif", headers=NO_CACHE)


@router.get(
    "/t/c/{token}",
    summary="Tracked click",
    description="Records `email.clicked` with the URL and redirects (302) to the URL sealed in the token. "
                "A token that is not genuine, or holds anything but an http(s) URL, is a 404 and never a "
                "redirect, so this cannot serve as an open redirect.",
    response_class=Response,
    responses={302: {"description": "Redirect to the link's target"}, **NOT_FOUND},
)
def click(request: Request, token: str = TOKEN) -> Response:
    ctx: AppContext = request.app.state.ctx
    link = read_link(token, ctx.key, "c")
    if link is None or link.url is None:
        raise ApiError(404, "not a genuine tracking link")
    if is_prefetch(request.headers.get("user-agent")):
        ctx.counters.add("nurture_http_prefetches_total", kind="email.clicked")
    else:
        _record(ctx, link, token, "email.clicked", {"url": link.url})
    return RedirectResponse(link.url, status_code=302, headers={**NO_CACHE, "Referrer-Policy": "no-referrer"})
