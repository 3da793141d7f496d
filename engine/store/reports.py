"""Reading the store for people: a lead, lists of leads, explanations, the funnel, and what templates show."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.core.addresses import InvalidAddress, normalise_address
from engine.core.clock import epoch
from engine.core.rules import Rules
from engine.core.scoring import LeadState
from engine.errors import LeadNotFound
from engine.store.base import Repository
from engine.store.tables import CHANGES, ENROLLMENTS, EVENTS, LEADS, LEDGER, OUTBOX, QUARANTINE, SUPPRESSIONS, VERSIONS


class LeadRef(NamedTuple):
    id: int
    email: str
    stage: str


class TrackedMessage(NamedTuple):
    """Who a tracking link was sent to, and with which template (None when the message is gone)."""

    email: str
    template: str | None


def _iso(at: dt.datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def scores_of(rules: Rules, state: dict[str, Any], now: dt.datetime) -> dict[str, int]:
    lead_state = LeadState(state)
    return {name: lead_state.score(model, epoch(now)) for name, model in rules.scores.items()}


class Reports(Repository):
    """Reading the store for people: a lead, lists of leads, explanations, the funnel, and what templates show."""

    # ----- campaign versions, as readers see them ---------------------------------------------

    def applied_version(self) -> int | None:
        """The campaign version applied last; None when none has been."""
        return self.conn.execute(sa.select(sa.func.max(VERSIONS.c.id))).scalar()

    def campaign_files(self, version_id: int) -> dict[str, str]:
        """The files (campaign sources and templates) version ``version_id`` is made of."""
        return self.conn.execute(sa.select(VERSIONS.c.files).where(VERSIONS.c.id == version_id)).scalar_one()

    # ----- leads --------------------------------------------------------------------------------

    def find_lead(self, email: str) -> LeadRef | None:
        """The lead with this (normalised) email, or None."""
        row = self.conn.execute(sa.select(LEADS.c.id, LEADS.c.email, LEADS.c.stage)
                                .where(LEADS.c.email == email)).first()
        return None if row is None else LeadRef(row.id, row.email, row.stage)

    def _lead_row(self, email: str) -> Row[Any]:
        try:
            email = normalise_address(email)
        except InvalidAddress:
            raise LeadNotFound(email) from None
        row = self.conn.execute(sa.select(LEADS).where(LEADS.c.email == email)).first()
        if row is None:
            raise LeadNotFound(email)
        return row

    def show_lead(self, rules: Rules, email: str, now: dt.datetime, events: int = 10) -> dict[str, Any]:
        """Attributes, scores, stage, owner, recent events and stage history (LeadNotFound when unknown)."""
        row = self._lead_row(email)
        recent = self.conn.execute(
            sa.select(EVENTS.c.type, EVENTS.c.at, EVENTS.c.props).where(EVENTS.c.lead_id == row.id)
            .order_by(EVENTS.c.at.desc(), EVENTS.c.key.desc()).limit(events))
        history = self.conn.execute(
            sa.select(CHANGES.c.at, CHANGES.c.from_stage, CHANGES.c.to_stage, CHANGES.c.reason)
            .where(CHANGES.c.lead_id == row.id).order_by(CHANGES.c.at, CHANGES.c.id))
        return {
            "email": row.email,
            "stage": row.stage,
            "stage_since": row.stage_since.isoformat(),
            "owner": row.owner,
            "scores": scores_of(rules, row.state, now),
            "attributes": {**rules.symbols.defaults, **row.attributes},
            "unsubscribed": row.unsubscribed_at is not None,
            # why no marketing email goes to the address (a bounce, a complaint, an unsubscribe), if none does
            "suppressed": self.conn.execute(sa.select(SUPPRESSIONS.c.reason)
                                            .where(SUPPRESSIONS.c.email == row.email)).scalar(),
            "created_at": row.created_at.isoformat(),
            "recent_events": [{"type": e.type, "at": e.at.isoformat(), "props": e.props} for e in recent],
            "stage_history": [{"at": c.at.isoformat(), "from": c.from_stage, "to": c.to_stage, "reason": c.reason}
                              for c in history],
            "journeys": self.enrollments_of(row.id),
        }

    def enrollments_of(self, lead_id: int) -> list[dict[str, Any]]:
        """Every journey enrolment of the lead, as stored, in the order it entered them: where it is
        (step label, status, when that step is next due) or how it ended."""
        rows = self.conn.execute(
            sa.select(ENROLLMENTS.c.journey, ENROLLMENTS.c.entry, ENROLLMENTS.c.version_id, ENROLLMENTS.c.step,
                      ENROLLMENTS.c.status, ENROLLMENTS.c.due_at, ENROLLMENTS.c.entered_at, ENROLLMENTS.c.ended_at,
                      ENROLLMENTS.c.end_reason)
            .where(ENROLLMENTS.c.lead_id == lead_id).order_by(ENROLLMENTS.c.entered_at, ENROLLMENTS.c.id))
        return [{"journey": r.journey, "entry": r.entry, "version_id": r.version_id, "step": r.step,
                 "status": r.status, "due_at": _iso(r.due_at), "entered_at": _iso(r.entered_at),
                 "ended_at": _iso(r.ended_at), "end_reason": r.end_reason} for r in rows]

    def list_leads(self, rules: Rules, now: dt.datetime, stage: str | None = None,
                   limit: int = 50) -> list[dict[str, Any]]:
        """Leads, most recently changed first."""
        query = sa.select(LEADS.c.email, LEADS.c.stage, LEADS.c.owner, LEADS.c.state, LEADS.c.source,
                          LEADS.c.updated_at).order_by(LEADS.c.updated_at.desc(), LEADS.c.id.desc()).limit(limit)
        if stage:
            query = query.where(LEADS.c.stage == stage)
        return [{"email": r.email, "stage": r.stage, "owner": r.owner, "source": r.source,
                 "scores": scores_of(rules, r.state, now)} for r in self.conn.execute(query)]

    def explain_lead(self, rules: Rules, email: str, now: dt.datetime) -> dict[str, Any]:
        """Every score with the lines that make it up; the lines add up to the score exactly."""
        row = self._lead_row(email)
        at = epoch(now)
        attrs = {**rules.symbols.defaults, **row.attributes, "email": row.email, "owner": row.owner}
        lead_state = LeadState(row.state)
        ledger = self.conn.execute(sa.select(LEDGER.c.score, LEDGER.c.rule, LEDGER.c.points, LEDGER.c.at,
                                             LEDGER.c.event_key).where(LEDGER.c.lead_id == row.id)
                                   .order_by(LEDGER.c.at, LEDGER.c.id))
        by_score: dict[str, list[Any]] = defaultdict(list)
        for line in ledger:
            by_score[line.score].append(line)
        explained = []
        for name, model in rules.scores.items():
            lines: list[dict[str, Any]] = [
                {"rule": rule.text, "points": float(points), "now": float(points), "kind": "fit"}
                for rule, points in model.fit(attrs)]
            for line in by_score.get(name, ()):
                factor = math.exp(-model.decay_rate * max(0.0, at - epoch(line.at))) if model.decay_rate else 1.0
                lines.append({"rule": line.rule, "points": line.points, "now": line.points * factor,
                              "kind": "event", "at": line.at.isoformat(), "event": line.event_key})
            raw = sum(line["now"] for line in lines)
            if model.floor is not None and raw < model.floor:
                lines.append({"rule": f"floor {model.floor:g}", "points": model.floor - raw,
                              "now": model.floor - raw, "kind": "floor"})
            explained.append({"score": name, "title": model.title, "total": lead_state.score(model, at),
                              "exact": round(lead_state.raw_score(model, at), 4), "lines": lines})
        return {"email": row.email, "stage": row.stage, "at": now.isoformat(), "scores": explained}

    def quarantined(self, limit: int = 100) -> list[dict[str, Any]]:
        """Rows that could not be accepted, newest first: where they came from, why, and what they were."""
        rows = self.conn.execute(QUARANTINE.select().order_by(QUARANTINE.c.id.desc()).limit(limit)).mappings()
        return [dict(row) for row in rows]

    # ----- what links and templates need --------------------------------------------------------

    def tracked_message(self, lead_id: int, message_key: str) -> TrackedMessage | None:
        """The address and template behind a tracking link; None when the lead has been deleted since."""
        email = self.conn.execute(sa.select(LEADS.c.email).where(LEADS.c.id == lead_id)).scalar()
        if email is None:
            return None
        template = self.conn.execute(sa.select(OUTBOX.c.template).where(OUTBOX.c.key == message_key)).scalar()
        return TrackedMessage(email, template)

    def recent_activity(self, lead_id: int, limit: int = 10) -> list[dict[str, Any]]:
        """The lead's latest events, newest first, as a sales alert lists them."""
        return [{"type": r.type, "at": r.at, "props": r.props or {}} for r in self.conn.execute(
            sa.select(EVENTS.c.type, EVENTS.c.at, EVENTS.c.props).where(EVENTS.c.lead_id == lead_id)
            .order_by(EVENTS.c.at.desc()).limit(limit))]

    def points_by_rule(self, lead_id: int) -> list[tuple[str, float]]:
        """Every ledger line of the lead as (rule, points), as earned (not decayed)."""
        return [(r.rule, r.points) for r in self.conn.execute(
            sa.select(LEDGER.c.rule, LEDGER.c.points).where(LEDGER.c.lead_id == lead_id))]

    def latest_journey(self, lead_id: int) -> str | None:
        """The journey the lead entered last, if any."""
        return self.conn.execute(sa.select(ENROLLMENTS.c.journey).where(ENROLLMENTS.c.lead_id == lead_id)
                                 .order_by(ENROLLMENTS.c.entered_at.desc()).limit(1)).scalar()


# Callers not yet moved to `tx.reports` (the lab, a few tests) read through these.

def show_lead(conn: Connection, rules: Rules, email: str, now: dt.datetime, events: int = 10) -> dict[str, Any]:
    return Reports(conn).show_lead(rules, email, now, events)


def explain_lead(conn: Connection, rules: Rules, email: str, now: dt.datetime) -> dict[str, Any]:
    return Reports(conn).explain_lead(rules, email, now)

