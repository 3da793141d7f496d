"""What a whole run added up to: counts, sends, waits and stages over every lead, for simulations,
backtests and the demo.

Reads over every lead come back as iterators, so a run of ten thousand leads is never held in memory
at once; consume them inside the transaction that produced them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, NamedTuple

import sqlalchemy as sa

from engine.store.base import Repository
from engine.store.tables import ACTIONS, CHANGES, ENROLLMENTS, EVENTS, LEADS, LEDGER, OUTBOX, QUARANTINE


class Sent(NamedTuple):
    kind: str
    journey: str | None
    step: str | None
    template: str
    sent_at: dt.datetime


class StepSends(NamedTuple):
    """Messages sent from one journey step (or one stage's alert) of one template."""

    kind: str
    journey: str | None
    step: str | None
    template: str
    sent: int


class MarketingSent(NamedTuple):
    email: str
    attributes: dict[str, Any]
    sent_at: dt.datetime
    template: str


class LeadSent(NamedTuple):
    lead_id: int
    sent_at: dt.datetime
    template: str


class OpenEnrollment(NamedTuple):
    journey: str
    status: str
    step: str | None
    waiting_for: int | None
    marks: dict[str, float]
    entered_at: dt.datetime
    due_at: dt.datetime | None
    email: str


class LeadFacts(NamedTuple):
    id: int
    email: str
    attributes: dict[str, Any]
    owner: str | None


class LedgerLine(NamedTuple):
    lead_id: int
    score: str
    rule: str
    points: float
    at: dt.datetime


class LeadStage(NamedTuple):
    email: str
    stage: str


class StageReached(NamedTuple):
    lead_id: int
    to_stage: str
    at: dt.datetime


def _count(table: sa.Table) -> sa.Select:
    return sa.select(sa.func.count()).select_from(table)


class Tallies(Repository):
    """Counts and streams over the whole store."""

    def lead_count(self) -> int:
        return self.conn.execute(_count(LEADS)).scalar_one()

    def event_count(self) -> int:
        return self.conn.execute(_count(EVENTS)).scalar_one()

    def leads_per_stage(self) -> dict[str, int]:
        """Stage -> leads in it now (stages no lead is in are absent)."""
        return dict(self.conn.execute(sa.select(LEADS.c.stage, sa.func.count()).group_by(LEADS.c.stage)).all())

    def outbox_by_status(self) -> dict[str, int]:
        """Status (queued, sent, failed, ...) -> messages."""
        query = sa.select(OUTBOX.c.status, sa.func.count()).group_by(OUTBOX.c.status)
        return dict(self.conn.execute(query).all())

    def sent(self) -> Iterator[Sent]:
        """Every message sent, marketing and sales, in no particular order."""
        query = (sa.select(OUTBOX.c.kind, OUTBOX.c.journey, OUTBOX.c.step, OUTBOX.c.template, OUTBOX.c.sent_at)
                 .where(OUTBOX.c.status == "sent"))
        return map(Sent._make, self.conn.execute(query))

    def sent_per_step(self) -> list[StepSends]:
        """Messages sent per (journey, step, template), ordered by journey and step; stage alerts have no
        journey."""
        columns = (OUTBOX.c.kind, OUTBOX.c.journey, OUTBOX.c.step, OUTBOX.c.template)
        query = (sa.select(*columns, sa.func.count()).where(OUTBOX.c.status == "sent").group_by(*columns)
                 .order_by(OUTBOX.c.journey, OUTBOX.c.step, OUTBOX.c.template))
        return [StepSends._make(row) for row in self.conn.execute(query)]

    def render_failures(self) -> list[tuple[str, str]]:
        """(template, error) of every message that failed because it did not render, in the order queued."""
        query = (sa.select(OUTBOX.c.template, OUTBOX.c.last_error)
                 .where(OUTBOX.c.status == "failed", OUTBOX.c.last_error.like("render:%")).order_by(OUTBOX.c.id))
        return [(template, error) for template, error in self.conn.execute(query)]

    def marketing_sent(self) -> Iterator[MarketingSent]:
        """Every marketing email sent, with its lead's email and attributes, in the order sent."""
        query = (sa.select(LEADS.c.email, LEADS.c.attributes, OUTBOX.c.sent_at, OUTBOX.c.template)
                 .join(LEADS, LEADS.c.id == OUTBOX.c.lead_id)
                 .where(OUTBOX.c.status == "sent", OUTBOX.c.kind == "marketing")
                 .order_by(OUTBOX.c.sent_at, OUTBOX.c.id))
        return map(MarketingSent._make, self.conn.execute(query))

    def marketing_sent_between(self, since: dt.datetime, until: dt.datetime) -> list[tuple[str, dt.datetime]]:
        """(recipient, sent at) of the marketing emails sent after ``since`` up to ``until``, in the order sent."""
        query = (sa.select(OUTBOX.c.to_address, OUTBOX.c.sent_at)
                 .where(OUTBOX.c.status == "sent", OUTBOX.c.kind == "marketing", OUTBOX.c.sent_at > since,
                        OUTBOX.c.sent_at <= until)
                 .order_by(OUTBOX.c.sent_at, OUTBOX.c.id))
        return [(to, at) for to, at in self.conn.execute(query)]

    def marketing_sent_to_leads(self, since: dt.datetime, until: dt.datetime) -> list[LeadSent]:
        """The marketing emails sent after ``since`` up to ``until``, by lead, in the order sent."""
        query = (sa.select(OUTBOX.c.lead_id, OUTBOX.c.sent_at, OUTBOX.c.template)
                 .where(OUTBOX.c.status == "sent", OUTBOX.c.kind == "marketing", OUTBOX.c.sent_at > since,
                        OUTBOX.c.sent_at <= until)
                 .order_by(OUTBOX.c.sent_at, OUTBOX.c.id))
        return [LeadSent._make(row) for row in self.conn.execute(query)]

    def sales_notified(self, since: dt.datetime, until: dt.datetime) -> list[str]:
        """The leads sales was told about from ``since`` to just before ``until``, in the order notified."""
        query = (sa.select(LEADS.c.email).join(ACTIONS, ACTIONS.c.lead_id == LEADS.c.id)
                 .where(ACTIONS.c.kind == "notify", ACTIONS.c.created_at >= since, ACTIONS.c.created_at < until)
                 .order_by(ACTIONS.c.id))
        return list(self.conn.execute(query).scalars())

    def sales_notifications_sent(self) -> list[tuple[str, str, str]]:
        """(lead, recipient, template) of every sales notification sent, in the order sent."""
        query = (sa.select(LEADS.c.email, OUTBOX.c.to_address, OUTBOX.c.template)
                 .join(LEADS, LEADS.c.id == OUTBOX.c.lead_id)
                 .where(OUTBOX.c.kind == "sales", OUTBOX.c.status == "sent").order_by(OUTBOX.c.sent_at))
        return [(lead, to, template) for lead, to, template in self.conn.execute(query)]

    def open_enrollments(self) -> Iterator[OpenEnrollment]:
        """Enrolments still running or waiting, with their lead's email, in the order created."""
        query = (sa.select(ENROLLMENTS.c.journey, ENROLLMENTS.c.status, ENROLLMENTS.c.step,
                           ENROLLMENTS.c.waiting_for, ENROLLMENTS.c.marks, ENROLLMENTS.c.entered_at,
                           ENROLLMENTS.c.due_at, LEADS.c.email)
                 .join(LEADS, LEADS.c.id == ENROLLMENTS.c.lead_id)
                 .where(ENROLLMENTS.c.status.in_(("active", "waiting"))).order_by(ENROLLMENTS.c.id))
        return map(OpenEnrollment._make, self.conn.execute(query))

    def quarantined(self, limit: int) -> list[tuple[str, int | None, str]]:
        """(origin, line, reason) of the first ``limit`` rows put in quarantine."""
        query = (sa.select(QUARANTINE.c.origin, QUARANTINE.c.line, QUARANTINE.c.reason)
                 .order_by(QUARANTINE.c.id).limit(limit))
        return [(origin, line, reason) for origin, line, reason in self.conn.execute(query)]

    def stages_by_email(self) -> Iterator[LeadStage]:
        """Every lead's stage, in email order: two stores can be walked side by side."""
        return map(LeadStage._make, self.conn.execute(sa.select(LEADS.c.email, LEADS.c.stage).order_by(LEADS.c.email)))

    # ----- lead by lead, in lead id order, so several streams can be walked together ----------------

    def leads(self) -> Iterator[LeadFacts]:
        query = sa.select(LEADS.c.id, LEADS.c.email, LEADS.c.attributes, LEADS.c.owner).order_by(LEADS.c.id)
        return map(LeadFacts._make, self.conn.execute(query))

    def ledger(self) -> Iterator[LedgerLine]:
        """Every line of the score ledger, lead by lead, each lead's oldest first."""
        query = (sa.select(LEDGER.c.lead_id, LEDGER.c.score, LEDGER.c.rule, LEDGER.c.points, LEDGER.c.at)
                 .order_by(LEDGER.c.lead_id, LEDGER.c.at, LEDGER.c.id))
        return map(LedgerLine._make, self.conn.execute(query))

    def stages_reached(self) -> Iterator[StageReached]:
        """Every stage change, lead by lead, each lead's oldest first."""
        query = (sa.select(CHANGES.c.lead_id, CHANGES.c.to_stage, CHANGES.c.at)
                 .order_by(CHANGES.c.lead_id, CHANGES.c.at, CHANGES.c.id))
        return map(StageReached._make, self.conn.execute(query))
