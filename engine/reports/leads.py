"""Finding leads and telling one lead's story.

Scores are not stored (they decay continuously), so a search on a score range reads leads in bounded
batches, computes their scores and keeps the matches, up to a page; it stops after ``SCAN_LIMIT`` leads and
says so, rather than read a whole large store for one page.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.store.reports import scores_of

if TYPE_CHECKING:
    from engine.core.rules import Rules
    from engine.store import Tx

BATCH = 500
#: the most leads one search page reads when it filters on a score
SCAN_LIMIT = 20_000


@dataclass
class Search:
    email: str | None = None
    stage: str | None = None
    owner: str | None = None
    score: str | None = None
    min_score: float | None = None
    max_score: float | None = None

    @property
    def on_score(self) -> bool:
        return self.score is not None and (self.min_score is not None or self.max_score is not None)


@dataclass
class SearchPage:
    leads: list[dict[str, Any]] = field(default_factory=list)
    #: the id to continue after (None: nothing more)
    next_after: int | None = None
    scanned: int = 0
    #: the search stopped at SCAN_LIMIT leads without filling the page
    truncated: bool = False


def search_leads(tx: Tx, rules: Rules, search: Search, now: dt.datetime, after_id: int | None = None,
                 page_size: int = 50) -> SearchPage:
    """One page of leads matching ``search``, in the order they were first seen."""
    page = SearchPage()
    cursor = after_id
    while True:
        batch = tx.insights.lead_batch(email=search.email, stage=search.stage, owner=search.owner,
                                       after_id=cursor, limit=BATCH if search.on_score else page_size + 1)
        for row in batch:
            page.scanned += 1
            scores = scores_of(rules, row.state, now)
            if search.on_score:
                value = scores.get(search.score or "", 0)
                if search.min_score is not None and value < search.min_score:
                    cursor = row.id
                    continue
                if search.max_score is not None and value > search.max_score:
                    cursor = row.id
                    continue
            if len(page.leads) == page_size:
                page.next_after = cursor
                return page
            page.leads.append({"id": row.id, "email": row.email, "stage": row.stage, "owner": row.owner,
                               "source": row.source, "scores": scores})
            cursor = row.id
        full_batch = len(batch) == (BATCH if search.on_score else page_size + 1)
        if not full_batch or not search.on_score:
            return page
        if page.scanned >= SCAN_LIMIT:
            page.truncated = True
            page.next_after = cursor
            return page


def lead_story(tx: Tx, rules: Rules, email: str, now: dt.datetime) -> dict[str, Any]:
    """Everything about one lead (LeadNotFound when unknown): attributes, scores with their explanation line by
    line, enrolments with their step and due time, and a timeline of events, score changes, stage changes,
    emails (with status, opens and clicks) and sales notifications, newest first."""
    lead = tx.reports.show_lead(rules, email, now, events=200)
    explained = tx.reports.explain_lead(rules, email, now)
    ref = tx.reports.find_lead(lead["email"])
    assert ref is not None  # show_lead found it
    reactions = tx.insights.lead_reactions(ref.id)
    emails: list[dict[str, Any]] = []
    for mail in tx.history.emails(ref.id):
        opened = clicked = 0
        if mail.sent_at is not None and mail.kind == "marketing":
            for etype, at, props in reactions:
                if at >= mail.sent_at and props.get("template", mail.template) == mail.template:
                    if etype == "email.opened" and not props.get("prefetched"):
                        opened += 1
                    elif etype == "email.clicked":
                        clicked += 1
        emails.append({**mail._asdict(), "opened": opened, "clicked": clicked})
    timeline: list[dict[str, Any]] = []
    for event in lead["recent_events"]:
        timeline.append({"at": event["at"], "kind": "event", "what": event["type"], "detail": event["props"]})
    for change in lead["stage_history"]:
        timeline.append({"at": change["at"], "kind": "stage", "what": f"{change['from']} → {change['to']}",
                         "detail": change["reason"]})
    for score in explained["scores"]:
        for line in score["lines"]:
            if line["kind"] == "event":
                timeline.append({"at": line["at"], "kind": "score", "what": f"{score['score']} {line['points']:+g}",
                                 "detail": line["rule"]})
    sent_mail: dict[str, Any]
    for sent_mail in emails:
        when: dt.datetime = sent_mail["sent_at"] or sent_mail["created_at"]
        kind = "notification" if sent_mail["kind"] != "marketing" else "email"
        timeline.append({"at": when.isoformat(), "kind": kind,
                         "what": f"{sent_mail['template']} ({sent_mail['status']})",
                         "detail": sent_mail["to_address"] if kind == "notification" else
                         f"opened {sent_mail['opened']}, clicked {sent_mail['clicked']}"})
    timeline.sort(key=lambda item: item["at"], reverse=True)
    return {**lead, "id": ref.id, "explanation": explained["scores"], "emails": emails, "timeline": timeline[:400]}
