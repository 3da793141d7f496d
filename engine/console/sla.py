"""Follow-up SLAs in the console: a lead's follow-ups with their state now, the list of missed
ones, and a button that records the follow-up for a lead (its event, through the normal ingest path)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fastapi import APIRouter, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from engine.console.web import Refused, back_to, check_csrf, ctx_of, page, signed_in
from engine.core.addresses import InvalidAddress, normalise_address
from engine.core.sla import status
from engine.http.recording import event_row
from engine.store import Tx
from engine.store.sla import ClockRow

router = APIRouter(include_in_schema=False)
#: what a follow-up recorded in the console is recorded as coming from
ORIGIN = "console follow-up"


@dataclass(frozen=True)
class FollowUpView:
    """One follow-up clock as a person reads it now."""

    clock: ClockRow
    #: open, met, breached or left; `overdue`: open past its deadline, the daemon has yet to act
    state: str

    @property
    def can_record(self) -> bool:
        return self.state in ("open", "overdue")


def view(clock: ClockRow, now: dt.datetime) -> FollowUpView:
    if clock.status != "open":
        return FollowUpView(clock, clock.status)
    return FollowUpView(clock, "overdue" if status(clock.entered_at, clock.deadline, None, now) == "breached"
                        else "open")


def follow_ups_of(tx: Tx, lead_id: int, now: dt.datetime) -> list[FollowUpView]:
    """A lead's follow-ups, newest first (for its page)."""
    return [view(clock, now) for clock in reversed(tx.sla.of_lead(lead_id))]


@router.get("/sla")
def breaches(request: Request) -> Response:
    who = signed_in(request)
    ctx = ctx_of(request)
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        missed = [view(clock, now) for clock in tx.sla.breaches()]
        breached, overdue = tx.sla.counts(now)
    return page(request, who, "sla.html", missed=missed, breached=breached, overdue=overdue)


@router.post("/leads/{email}/follow-up")
async def record_follow_up(request: Request, email: str, csrf: str = Form("")) -> Response:
    """The lead's open follow-up is done: its event is written now, and the clock is met."""
    who = await run_in_threadpool(signed_in, request, "sales")
    check_csrf(who, csrf)
    ctx = ctx_of(request)
    try:
        address = normalise_address(email)
    except InvalidAddress:
        raise Refused(404, f"{email!r} is not an email address, so it is no lead's") from None

    def record() -> str:
        now = ctx.clock.now()
        with ctx.store.transaction() as tx:
            lead = tx.reports.find_lead(address)
            if lead is None:
                raise Refused(404, f"no lead with email {address!r}")
            waiting = [f for f in follow_ups_of(tx, lead.id, now) if f.can_record]
        if not waiting:
            raise Refused(409, f"{address} has no follow-up waiting; the lead's page shows its follow-ups")
        clock = waiting[0].clock
        by = who.user.email if who.user else "console"
        outcome = ctx.writer.write([event_row(address, clock.event, now)], f"{ORIGIN} by {by}")
        if outcome.rejected:
            raise Refused(422, outcome.rejected[0][1])
        with ctx.store.transaction() as tx:  # met now, not at the daemon's next tick
            tx.sla.mark_met(now, [lead.id])
            state = view(next(c for c in tx.sla.of_lead(lead.id) if c.id == clock.id), now).state
        return f"Recorded {clock.event}; the {clock.stage} follow-up is {state}."

    return back_to(f"/leads/{address}", await run_in_threadpool(record))
