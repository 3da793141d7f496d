"""The outbox (filter by state, journey, template or address; admins cancel or retry) and the email preview
(any template for any lead or a sample lead; admins send a test to an address)."""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from engine.console.preview import campaign_templates, compose_preview
from engine.console.web import Refused, back_to, check_csrf, ctx_of, page, signed_in
from engine.core.addresses import InvalidAddress, normalise_address
from engine.delivery.render import RenderError
from engine.delivery.transport import Message
from engine.errors import LeadNotFound
from engine.store.mailroom import STATES

log = logging.getLogger("nurture.console")
router = APIRouter(include_in_schema=False)
PAGE = 50


@router.get("/outbox")
def outbox(request: Request, state: str = "", journey: str = "", template: str = "", to: str = "",
           before: int | None = None, note: str = "") -> Response:
    who = signed_in(request)
    if state and state not in STATES:
        raise Refused(400, f"state {state!r} is not one of {', '.join(STATES)}")
    ctx = ctx_of(request)
    with ctx.store.transaction() as tx:
        rows = tx.mailroom.page(state=state or None, journey=journey or None, template=template or None,
                                to=to.strip() or None, before_id=before, limit=PAGE + 1)
        counts = tx.mailroom.counts()
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    query = {"state": state, "journey": journey, "template": template, "to": to}
    return page(request, who, "outbox.html", rows=rows, counts=counts, states=STATES, query=query,
                next_before=rows[-1].id if more and rows else None, note=note)


def _message_or_404(ctx, message_id: int):
    with ctx.store.transaction() as tx:
        row = tx.mailroom.get(message_id)
    if row is None:
        raise Refused(404, f"no message {message_id} in the outbox")
    return row


@router.get("/outbox/{message_id}")
def message(request: Request, message_id: int, note: str = "") -> Response:
    who = signed_in(request)
    row = _message_or_404(ctx_of(request), message_id)
    return page(request, who, "message.html", m=row, note=note)


@router.post("/outbox/{message_id}/cancel")
def cancel(request: Request, message_id: int, csrf: str = Form("")) -> Response:
    who = signed_in(request, "admin")
    check_csrf(who, csrf)
    ctx = ctx_of(request)
    row = _message_or_404(ctx, message_id)
    by = who.user.email if who.user else "console"
    with ctx.store.transaction() as tx:
        done = tx.mailroom.cancel(message_id, f"cancelled in the console by {by}", ctx.clock.now())
    if not done:
        raise Refused(409, f"message {message_id} is {row.state}: only a queued message that no daemon is sending "
                           "right now can be cancelled")
    log.info("message cancelled", extra={"fields": {"id": message_id, "by": by}})
    return back_to(f"/outbox/{message_id}", "Cancelled: it will not be sent.")


@router.post("/outbox/{message_id}/retry")
def retry(request: Request, message_id: int, csrf: str = Form("")) -> Response:
    who = signed_in(request, "admin")
    check_csrf(who, csrf)
    ctx = ctx_of(request)
    row = _message_or_404(ctx, message_id)
    with ctx.store.transaction() as tx:
        done = tx.mailroom.retry(message_id, ctx.clock.now())
    if not done:
        raise Refused(409, f"message {message_id} is {row.state}: only failed or cancelled messages can be retried "
                           "(a sent one never is, so nobody gets it twice)")
    log.info("message retried", extra={"fields": {"id": message_id, "by": who.user.email if who.user else ""}})
    return back_to(f"/outbox/{message_id}", "Queued again: the daemon sends it on its next tick (consent is "
                                            "checked again then).")


def _lead_or_none(lead: str) -> str | None:
    if not lead.strip():
        return None
    try:
        return normalise_address(lead)
    except InvalidAddress:
        raise Refused(404, f"{lead!r} is not an email address, so it is no lead's") from None


@router.get("/preview")
def preview(request: Request, template: str = "", lead: str = "", note: str = "") -> Response:
    who = signed_in(request)
    ctx = ctx_of(request)
    templates = campaign_templates(ctx)
    shown, error = None, None
    if template:
        if template not in templates:
            raise Refused(404, f"no template {template!r} in the applied campaign")
        try:
            shown = compose_preview(ctx, template, _lead_or_none(lead))
        except LeadNotFound:
            error = f"no lead with email {lead!r}; leave it empty to see a sample lead"
        except RenderError as err:
            error = f"the template does not render for this lead: {err}"
    return page(request, who, "preview.html", templates=templates, template=template, lead=lead, shown=shown,
                error=error, note=note)


@router.post("/preview/send")
async def test_send(request: Request, template: str = Form(""), lead: str = Form(""), to: str = Form(""),
                    csrf: str = Form("")) -> Response:
    who = await run_in_threadpool(signed_in, request, "admin")
    check_csrf(who, csrf)
    ctx = ctx_of(request)
    try:
        address = normalise_address(to)
    except InvalidAddress as err:
        raise Refused(400, f"cannot send a test to {to!r}: {err}") from None
    if template not in await run_in_threadpool(campaign_templates, ctx):
        raise Refused(404, f"no template {template!r} in the applied campaign")
    try:
        shown = await run_in_threadpool(compose_preview, ctx, template, _lead_or_none(lead), address)
    except (LeadNotFound, RenderError) as err:
        raise Refused(422, f"cannot compose {template!r}: {err}") from None
    from engine.daemon.build import smtp_transport

    mailer = smtp_transport(ctx.nurture.config)
    try:
        result = await mailer.send(Message(shown.kind, f"test:{template}", shown.sender, (address,), shown.data))
    finally:
        await mailer.close()
    back = f"/preview?template={quote(template)}&lead={quote(lead)}"
    if result.status != "sent":
        return back_to(back, f"The SMTP server did not take the test: {result.reply}")
    log.info("test email sent", extra={"fields": {"template": template, "to": address,
                                                   "by": who.user.email if who.user else ""}})
    return back_to(back, f"Test of {template} sent to {address}.")
