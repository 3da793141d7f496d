"""The preference page: a signed link in every marketing email (`preferences_url`) opens the lead's topics
with their state; a POST saves the ticked ones, or leaves everything. A link that is not genuine or has
expired gets an error page and changes nothing.

Also the topic side of an email's own unsubscribe link: with `unsubscribe leaves topic`, it leaves the
topic of that email only (an email with no topic still leaves everything).
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import Any

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse

from dsl import ast as a
from engine.core.rules import Rules
from engine.delivery.preferences import preference_expiry, read_preference_link
from engine.delivery.tokens import Signer
from engine.http import pages, preference_pages
from engine.http.context import AppContext
from engine.http.links import Link
from engine.http.pages import HTML, PAGE_HEADERS
from engine.http.preference_pages import TopicState
from engine.http.recording import event_row, link_event_id
from engine.store.suppressions import LeadConsent

log = logging.getLogger("nurture.http")
router = APIRouter(tags=["unsubscribe"])
ORIGIN = "http preferences"
TOKEN = Path(description="The signed token from the email's preference link")
PAGE_RESPONSES: dict[int | str, dict[str, Any]] = {200: {**HTML, "description": "The page"},
                                                   404: {**HTML, "description": "Not a genuine link"},
                                                   410: {**HTML, "description": "The link has expired"},
                                                   503: {**HTML, "description": "The store is unavailable; try again"}}
FORM = {"requestBody": {"required": False, "content": {
    "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {
        "topic": {"type": "array", "items": {"type": "string"}, "description": "Topics to keep receiving"},
        "do": {"type": "string", "enum": ["save", "everything"]}}}}}}}


def _page(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def _sender(rules: Rules) -> str:
    return str(rules.symbols.settings.get("sender name") or "")


def _title(topic: a.TopicDecl) -> str:
    return topic.title or str(topic.name)


def _states(rules: Rules, left: set[str]) -> list[TopicState]:
    return [TopicState(name, _title(decl), name not in left) for name, decl in rules.symbols.topics.items()]


def preference_url(ctx: AppContext, lead_id: int, message_key: str) -> str:
    """A fresh preference link for a lead, as an email would carry it (for pages answering an unsubscribe)."""
    token = Signer(ctx.key).sign({"l": lead_id, "m": message_key, "k": "p", "x": preference_expiry(ctx.clock.now())})
    return f"{ctx.nurture.config.base_url.rstrip('/')}/p/{token}"


def _read(ctx: AppContext, token: str) -> tuple[int | None, HTMLResponse | None]:
    """The lead a genuine, current link is for; else the error page to answer with."""
    link = read_preference_link(token, ctx.key)
    if link is None:
        return None, _page(preference_pages.invalid(), 404)
    if link.expired(ctx.clock.now()):
        return None, _page(preference_pages.expired(), 410)
    return link.lead_id, None


@router.get("/p/{token}", summary="Email preference page", response_class=HTMLResponse, responses=PAGE_RESPONSES,
            description="Shows the lead's subscription topics, each ticked while the lead receives it; loading it "
                        "changes nothing.")
def preference_page(request: Request, token: str = TOKEN) -> HTMLResponse:
    ctx: AppContext = request.app.state.ctx
    lead_id, error = _read(ctx, token)
    if error is not None or lead_id is None:
        return error or _page(preference_pages.invalid(), 404)
    _, rules = ctx.rules()
    with ctx.store.transaction() as tx:
        lead = tx.suppressions.consent_of(lead_id)
        left = tx.topics.of_lead(lead_id) if lead is not None else set()
    if lead is None:
        return _page(preference_pages.invalid(), 404)
    return _page(preference_pages.preferences(lead.email, _sender(rules), _states(rules, left), lead.unsubscribed,
                                              token))


@router.post("/p/{token}", summary="Save email preferences", response_class=HTMLResponse,
             responses=PAGE_RESPONSES, openapi_extra=FORM,
             description="`do=save` keeps the `topic` values given and leaves every other topic; `do=everything` "
                         "unsubscribes from all marketing email, as the unsubscribe link does. Answers with the "
                         "page as it now stands.")
async def save_preferences(request: Request, token: str = TOKEN) -> HTMLResponse:
    ctx: AppContext = request.app.state.ctx
    form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
    return await run_in_threadpool(_save, ctx, token, form)


def _save(ctx: AppContext, token: str, form: dict[str, list[str]]) -> HTMLResponse:
    lead_id, error = _read(ctx, token)
    if error is not None or lead_id is None:
        return error or _page(preference_pages.invalid(), 404)
    _, rules = ctx.rules()
    declared = rules.symbols.topics
    everything = form.get("do", ["save"])[-1] == "everything"
    kept = {t for t in form.get("topic", []) if t in declared}
    now = ctx.clock.now()
    unsubscribed = False
    try:
        with ctx.write_gate(), ctx.store.transaction() as tx:
            lead = tx.suppressions.consent_of(lead_id)
            if lead is None:
                return _page(preference_pages.invalid(), 404)
            if everything:
                unsubscribed = tx.suppressions.unsubscribe(lead, now, "via the preference page")
                left, joined = set(), set()
            else:
                left = tx.topics.leave(lead_id, set(declared) - kept, now)
                joined = tx.topics.rejoin(lead_id, kept)
            still_left = tx.topics.of_lead(lead_id)
            lead = tx.suppressions.consent_of(lead_id) or lead
    except Exception:
        log.exception("saving preferences failed")
        return _page(pages.unavailable(), 503)
    if unsubscribed:
        _record_unsubscribe(ctx, lead, token)
    saved = preference_pages.saved_message([_title(declared[t]) for t in declared if t in left],
                                           [_title(declared[t]) for t in declared if t in joined], everything)
    return _page(preference_pages.preferences(lead.email, _sender(rules), _states(rules, still_left),
                                              lead.unsubscribed, token, saved))


def _record_unsubscribe(ctx: AppContext, lead: LeadConsent, token: str) -> None:
    ctx.counters.add("nurture_http_unsubscribes_total", kind="unsubscribe")
    now = ctx.clock.now()
    try:  # consent is already withdrawn; the event is for scores, journeys and reports
        ctx.writer.write([event_row(lead.email, "email.unsubscribed", now, None,
                                    link_event_id("preferences", token, now))], ORIGIN)
    except Exception:
        log.exception("could not record email.unsubscribed")


# ===== an email's own unsubscribe link, under `unsubscribe leaves topic` ==========================


def email_topic(ctx: AppContext, link: Link) -> a.TopicDecl | None:
    """The topic the unsubscribe ``link`` leaves: its email's, when the campaign says `unsubscribe leaves topic`
    and the email has a topic it still declares; None means the link leaves everything."""
    _, rules = ctx.rules()
    if rules.symbols.unsubscribe_leaves != "topic":
        return None
    with ctx.store.transaction() as tx:
        topic = tx.topics.topic_of_message(link.message_key)
    return rules.symbols.topics.get(topic) if topic is not None else None


def confirm_leaving_topic(ctx: AppContext, link: Link, lead: LeadConsent, action: str) -> HTMLResponse | None:
    """The unsubscribe link's confirm page when it leaves the email's topic only; None when it leaves everything."""
    topic = email_topic(ctx, link)
    if topic is None:
        return None
    return _page(preference_pages.confirm_topic(lead.email, _sender(ctx.rules()[1]), _title(topic), action))


def leave_email_topic(ctx: AppContext, link: Link) -> HTMLResponse | None:
    """The one-click unsubscribe of a topic's email when it leaves that topic only; None when it leaves
    everything (the caller unsubscribes as before)."""
    topic = email_topic(ctx, link)
    if topic is None:
        return None
    try:
        with ctx.write_gate(), ctx.store.transaction() as tx:
            lead = tx.suppressions.consent_of(link.lead_id)
            if lead is not None:
                tx.topics.leave(link.lead_id, [str(topic.name)], ctx.clock.now())
    except Exception:
        log.exception("leaving a topic failed")
        return _page(pages.unavailable(), 503)
    if lead is None:
        return _page(pages.invalid_link(), 404)
    return _page(preference_pages.left_topic(lead.email, _sender(ctx.rules()[1]), _title(topic),
                                             preference_url(ctx, link.lead_id, link.message_key)))
