"""Leads: search by email, stage, owner or score range; one lead's page; sales accepting or rejecting it."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from engine.console.preview import campaign_templates
from engine.console.sla import follow_ups_of
from engine.console.topics import topic_states
from engine.console.web import Refused, back_to, check_csrf, ctx_of, page, signed_in
from engine.core.addresses import InvalidAddress, normalise_address
from engine.errors import LeadNotFound
from engine.http.recording import VERDICTS, feedback_row
from engine.reports.accounts import account_of_lead
from engine.reports.leads import Search, lead_story, search_leads

router = APIRouter(include_in_schema=False)
#: what the console's sales feedback is recorded as coming from (the CLI's is "cli feedback")
ORIGIN = "console feedback"


def _number(value: str, name: str) -> float | None:
    if not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        raise Refused(400, f"{name} must be a number, not {value!r}") from None


@router.get("/leads")
def leads(request: Request, email: str = "", stage: str = "", owner: str = "", score: str = "",
          min: str = "", max: str = "", after: int | None = None) -> Response:
    who = signed_in(request)
    ctx = ctx_of(request)
    _, rules = ctx.rules()
    search = Search(email.strip() or None, stage or None, owner.strip() or None, score or None,
                    _number(min, "the lowest score"), _number(max, "the highest score"))
    if search.score is not None and search.score not in rules.scores:
        raise Refused(400, f"no score named {search.score!r}; the campaign has {', '.join(rules.scores)}")
    with ctx.store.transaction() as tx:
        found = search_leads(tx, rules, search, ctx.clock.now(), after)
    query = {"email": email, "stage": stage, "owner": owner, "score": score, "min": min, "max": max}
    return page(request, who, "leads.html", found=found, query=query, stages=rules.symbols.stages,
                scores=list(rules.scores))


def _address(email: str) -> str:
    try:
        return normalise_address(email)
    except InvalidAddress:
        raise Refused(404, f"{email!r} is not an email address, so it is no lead's") from None


@router.get("/leads/{email}")
def lead(request: Request, email: str, note: str = "") -> Response:
    who = signed_in(request)
    ctx = ctx_of(request)
    _, rules = ctx.rules()
    try:
        with ctx.store.transaction() as tx:
            story = lead_story(tx, rules, _address(email), ctx.clock.now())
            topics = topic_states(tx, rules, story["id"])
            follow_ups = follow_ups_of(tx, story["id"], ctx.clock.now())
            account = account_of_lead(tx, rules, story["id"])
    except LeadNotFound:
        raise Refused(404, f"no lead with email {email!r}; search for it on the Leads page") from None
    return page(request, who, "lead.html", lead=story, note=note, templates=campaign_templates(ctx), topics=topics,
                follow_ups=follow_ups, account=account, has_accounts=rules.accounts is not None)


@router.post("/leads/{email}/feedback")
async def feedback(request: Request, email: str, verdict: str = Form(""), reason: str = Form(""),
                   csrf: str = Form("")) -> Response:
    who = await run_in_threadpool(signed_in, request, "sales")
    check_csrf(who, csrf)
    if verdict not in VERDICTS:
        raise Refused(400, "choose accept or reject")
    reason = reason.strip()
    if verdict == "reject" and not reason:
        raise Refused(400, "a rejection needs a reason (for example \"no budget this quarter\"), so marketing "
                           "can learn from it; go back and give one")
    ctx = ctx_of(request)
    address = _address(email)

    def record() -> str:
        with ctx.store.transaction() as tx:
            if tx.reports.find_lead(address) is None:
                raise Refused(404, f"no lead with email {address!r}")
        by = who.user.email if who.user else "console"
        row = feedback_row(address, verdict, reason or None, ctx.clock.now())
        outcome = ctx.writer.write([row], f"{ORIGIN} by {by}")
        if outcome.rejected:
            raise Refused(422, outcome.rejected[0][1])
        with ctx.store.transaction() as tx:
            after = tx.reports.find_lead(address)
        return after.stage if after else "?"

    stage = await run_in_threadpool(record)
    return back_to(f"/leads/{address}", f"Recorded {VERDICTS[verdict]}; the lead is now {stage}.")
