"""What an email template sees: the lead, its scores, and for sales alerts why it qualified."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from engine.core.journeys import LeadView
from engine.core.rules import Rules

if TYPE_CHECKING:
    from engine.store import Tx


def settings_of(rules: Rules) -> dict[str, Any]:
    s = rules.symbols.settings
    return {"sender_name": s.get("sender name", ""), "sender_address": s.get("sender address", ""),
            "reply_to": s.get("reply to"), "sales_address": s.get("sales address")}


def email_context(tx: Tx | None, rules: Rules, lead: LeadView, now: dt.datetime, unsubscribe_url: str,
                  journey: str | None, sales: bool) -> dict[str, Any]:
    """What a template sees; a sales alert also reads why the lead qualified, so it needs ``tx``."""
    context: dict[str, Any] = {
        # every declared attribute is there, None when the lead has no value: templates may test any of them;
        # a placeholder ("Select") reads as the rules read it, so no email says "built for Select teams"
        "lead": {**dict.fromkeys(rules.attribute_types), **rules.placeholders.clean(lead.attributes)},
        "scores": lead.scores, "stage": lead.stage, "owner": lead.owner,
        "settings": settings_of(rules), "unsubscribe_url": unsubscribe_url, "journey": journey, "now": now,
        "reasons": [], "activity": [],
        # a marketing email's link to the lead's topics, set when it is composed (sales alerts have none)
        "preferences_url": None,
    }
    if sales:
        if tx is None:
            raise ValueError("a sales alert's context reads the lead's ledger: pass the transaction")
        context["reasons"] = top_reasons(tx, rules, lead)
        context["activity"] = tx.reports.recent_activity(lead.id)
        context["journey"] = journey or tx.reports.latest_journey(lead.id)
    return context


def top_reasons(tx: Tx, rules: Rules, lead: LeadView, limit: int = 8) -> list[dict[str, Any]]:
    """The rules that earned the lead most points, biggest first: fit rules and the ledger."""
    totals: dict[str, float] = defaultdict(float)
    for model in rules.scores.values():
        for fit_rule, fit_points in model.fit(lead.attributes):
            totals[fit_rule.text] += fit_points
    for rule, points in tx.reports.points_by_rule(lead.id):
        totals[rule] += points
    ranked = sorted(totals.items(), key=lambda kv: -abs(kv[1]))[:limit]
    return [{"rule": text, "points": round(total)} for text, total in ranked]
