"""What happened to one lead, read back in time order: how scenario tests judge and explain a run."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import sqlalchemy as sa

from engine.store.base import Repository
from engine.store.tables import ACTIONS, CHANGES, ENROLLMENTS, LEADS, LEDGER, OUTBOX


class StageChange(NamedTuple):
    at: dt.datetime
    from_stage: str
    to_stage: str
    reason: str


class Email(NamedTuple):
    """One message of the outbox, marketing or a sales notification, without its bytes."""

    id: int
    kind: str
    journey: str | None
    step: str | None
    template: str
    to_address: str
    status: str
    created_at: dt.datetime
    due_at: dt.datetime
    sent_at: dt.datetime | None
    deferrals: int
    last_error: str | None


class JourneyRun(NamedTuple):
    """One enrolment of the lead in a journey."""

    journey: str
    status: str
    step: str | None
    entered_at: dt.datetime
    due_at: dt.datetime | None
    ended_at: dt.datetime | None
    end_reason: str | None
    goal_at: dt.datetime | None


class Points(NamedTuple):
    """A line of the score ledger."""

    at: dt.datetime
    score: str
    points: float
    rule: str


class OwnerAssigned(NamedTuple):
    at: dt.datetime
    owner: str
    reason: str


_EMAIL = (OUTBOX.c.id, OUTBOX.c.kind, OUTBOX.c.journey, OUTBOX.c.step, OUTBOX.c.template, OUTBOX.c.to_address,
          OUTBOX.c.status, OUTBOX.c.created_at, OUTBOX.c.due_at, OUTBOX.c.sent_at, OUTBOX.c.deferrals,
          OUTBOX.c.last_error)
_RUN = (ENROLLMENTS.c.journey, ENROLLMENTS.c.status, ENROLLMENTS.c.step, ENROLLMENTS.c.entered_at,
        ENROLLMENTS.c.due_at, ENROLLMENTS.c.ended_at, ENROLLMENTS.c.end_reason, ENROLLMENTS.c.goal_at)


_STEP_DUE = sa.select(sa.func.min(ENROLLMENTS.c.due_at)).where(ENROLLMENTS.c.status.in_(("active", "waiting")),
                                                             ENROLLMENTS.c.due_at > sa.bindparam("after"))
_EMAIL_DUE = sa.select(sa.func.min(OUTBOX.c.due_at)).where(OUTBOX.c.status == "queued",
                                                          OUTBOX.c.due_at > sa.bindparam("after"))
_REVIEW_DUE = sa.select(sa.func.min(LEADS.c.review_at)).where(LEADS.c.review_at > sa.bindparam("after"))
# built once: the scenario runner asks at every tick, and building the statement cost more than running it
_NEXT_DUE = sa.select(_STEP_DUE.scalar_subquery(), _EMAIL_DUE.scalar_subquery(), _REVIEW_DUE.scalar_subquery())


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive UTC for an aggregate, where the column type cannot convert it."""
    return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


class History(Repository):
    """One lead's story: its stage changes, points, owners, journeys and emails, and what falls due next."""

    def lead_id(self, email: str) -> int:
        """The id of the lead with this (normalised) email; it must exist."""
        return self.conn.execute(sa.select(LEADS.c.id).where(LEADS.c.email == email)).scalar_one()

    def stage_changes(self, lead_id: int) -> list[StageChange]:
        """Every stage change of the lead, oldest first."""
        query = (sa.select(CHANGES.c.at, CHANGES.c.from_stage, CHANGES.c.to_stage, CHANGES.c.reason)
                 .where(CHANGES.c.lead_id == lead_id).order_by(CHANGES.c.at, CHANGES.c.id))
        return [StageChange._make(row) for row in self.conn.execute(query)]

    def emails(self, lead_id: int) -> list[Email]:
        """Every message queued for the lead or about it (sales notifications), in the order queued."""
        query = sa.select(*_EMAIL).where(OUTBOX.c.lead_id == lead_id).order_by(OUTBOX.c.id)
        return [Email._make(row) for row in self.conn.execute(query)]

    def first_failed_email(self, lead_id: int) -> Email | None:
        """The lead's first message that failed for good (a template that did not render, say)."""
        row = self.conn.execute(sa.select(*_EMAIL).where(OUTBOX.c.lead_id == lead_id, OUTBOX.c.status == "failed")
                                .order_by(OUTBOX.c.id).limit(1)).first()
        return None if row is None else Email._make(row)

    def journeys(self, lead_id: int) -> list[JourneyRun]:
        """Every enrolment of the lead, in the order entered."""
        query = (sa.select(*_RUN).where(ENROLLMENTS.c.lead_id == lead_id)
                 .order_by(ENROLLMENTS.c.entered_at, ENROLLMENTS.c.id))
        return [JourneyRun._make(row) for row in self.conn.execute(query)]

    def points(self, lead_id: int, until: dt.datetime) -> list[Points]:
        """The lead's ledger up to ``until``, oldest first."""
        query = (sa.select(LEDGER.c.at, LEDGER.c.score, LEDGER.c.points, LEDGER.c.rule)
                 .where(LEDGER.c.lead_id == lead_id, LEDGER.c.at <= until).order_by(LEDGER.c.at, LEDGER.c.id))
        return [Points._make(row) for row in self.conn.execute(query)]

    def owners_assigned(self, lead_id: int, until: dt.datetime) -> list[OwnerAssigned]:
        """The owners given to the lead up to ``until``, in the order assigned."""
        query = (sa.select(ACTIONS.c.created_at, ACTIONS.c.payload)
                 .where(ACTIONS.c.lead_id == lead_id, ACTIONS.c.kind == "assign_owner", ACTIONS.c.created_at <= until)
                 .order_by(ACTIONS.c.id))
        return [OwnerAssigned(at, payload["owner"], payload["reason"]) for at, payload in self.conn.execute(query)]

    def next_due(self, after: dt.datetime) -> dt.datetime | None:
        """The first moment after ``after`` when anything falls due: a journey step, an email or a stage review."""
        found = self.conn.execute(_NEXT_DUE, {"after": after}).one()
        return min((t for t in map(_aware, found) if t is not None), default=None)
