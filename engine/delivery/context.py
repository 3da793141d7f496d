"""What an email template sees: the lead, its scores, and for sales alerts why it qualified."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.core.journeys import LeadView
from engine.core.rules import Rules
from engine.store.tables import ENROLLMENTS, EVENTS, LEDGER


def settings_of(rules: Rules) -> dict[str, Any]:
    s = rules.symbols.settings
    return {"sender_name": s.get("sender name", ""), "sender_address": s.get("sender address", ""),
            "reply_to": s.get("reply to"), "sales_address": s.get("sales address")}


def email_context(conn: Connection, rules: Rules, lead: LeadView, now: dt.datetime, unsubscribe_url: str,
                  journey: str | None, sales: bool) -> dict[str, Any]:
    context: dict[str, Any] = {
        # every declared attribute is there, None when the lead has no value: templates may test any of them
        "lead": {**dict.fromkeys(rules.attribute_types), **lead.attributes},
        "scores": lead.scores, "stage": lead.stage, "owner": lead.owner,
        "settings": settings_of(rules), "unsubscribe_url": unsubscribe_url, "journey": journey, "now": now,
        "reasons": [], "activity": [],
    }
    if sales:
        context["reasons"] = top_reasons(conn, rules, lead)
        context["activity"] = [{"type": r.type, "at": r.at, "props": r.props or {}} for r in conn.execute(
            sa.select(EVENTS.c.type, EVENTS.c.at, EVENTS.c.props).where(EVENTS.c.lead_id == lead.id)
            .order_by(EVENTS.c.at.desc()).limit(10))]
        context["journey"] = journey or conn.execute(
            sa.select(ENROLLMENTS.c.journey).where(ENROLLMENTS.c.lead_id == lead.id)
            .order_by(ENROLLMENTS.c.entered_at.desc()).limit(1)).scalar()
    return context


def top_reasons(conn: Connection, rules: Rules, lead: LeadView, limit: int = 8) -> list[dict[str, Any]]:
    """The rules that earned the lead most points, biggest first: fit rules and the ledger."""
    totals: dict[str, float] = defaultdict(float)
    for model in rules.scores.values():
        for rule, points in model.fit(lead.attributes):
            totals[rule.text] += points
    for rule, points in conn.execute(sa.select(LEDGER.c.rule, LEDGER.c.points).where(LEDGER.c.lead_id == lead.id)):
        totals[rule] += points
    ranked = sorted(totals.items(), key=lambda kv: -abs(kv[1]))[:limit]
    return [{"rule": rule, "points": round(points)} for rule, points in ranked]
