"""Follow-up SLA clocks: one row per entry into a stage with a follow-up, from open to met,
breached or left, and the queries the daemon, the console and /metrics ask of them.

A clock's ``key`` (lead, stage, entry instant) is unique, so two daemons opening the same entry make one
clock; a breach is claimed by a conditional update from `open`, so its actions run once whoever sees it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from engine.store.base import Repository
from engine.store.bulk import insert_ignoring
from engine.store.models import UTCDateTime
from engine.store.tables import CHANGES, EVENTS, LEADS, SIGNALS, _table


class SlaClock(SQLModel, table=True):
    __tablename__ = "sla_clocks"
    __table_args__ = (sa.Index("ix_sla_clocks_due", "status", "deadline"),
                      sa.Index("ix_sla_clocks_lead", "lead_id", "entered_at"))
    id: int | None = Field(default=None, primary_key=True)
    #: "<lead>:<stage>:<entry in milliseconds>": an entry has one clock however many daemons see it
    key: str = Field(unique=True, max_length=300)
    lead_id: int = Field(foreign_key="leads.id")
    stage: str = Field(max_length=100)
    #: the event that meets it
    event: str = Field(max_length=200)
    owner: str | None = Field(default=None, max_length=320)
    entered_at: dt.datetime = Field(sa_type=UTCDateTime)
    deadline: dt.datetime = Field(sa_type=UTCDateTime)
    #: open, met, breached, or left (the lead left the stage before the deadline)
    status: str = Field(default="open", max_length=20)
    closed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: what a breach did, one line per action
    outcome: str | None = Field(default=None, max_length=2000)


SLA_CLOCKS = _table(SlaClock)


class ClockRow(NamedTuple):
    id: int
    key: str
    lead_id: int
    email: str
    stage: str
    event: str
    owner: str | None
    entered_at: dt.datetime
    deadline: dt.datetime
    status: str
    closed_at: dt.datetime | None
    outcome: str | None


_COLUMNS = (SLA_CLOCKS.c.id, SLA_CLOCKS.c.key, SLA_CLOCKS.c.lead_id, LEADS.c.email, SLA_CLOCKS.c.stage,
            SLA_CLOCKS.c.event, SLA_CLOCKS.c.owner, SLA_CLOCKS.c.entered_at, SLA_CLOCKS.c.deadline,
            SLA_CLOCKS.c.status, SLA_CLOCKS.c.closed_at, SLA_CLOCKS.c.outcome)


def _rows(result: Any) -> list[ClockRow]:
    return [ClockRow(*row) for row in result]


class SlaClocks(Repository):
    """Follow-up clocks: opened on entry, met by the follow-up event, breached at the deadline."""

    def open(self, clocks: Sequence[dict[str, Any]]) -> None:
        """Record clocks; an entry another daemon has just clocked keeps the clock it has."""
        insert_ignoring(self.conn, SLA_CLOCKS, list(clocks), "key")

    def mark_met(self, now: dt.datetime, lead_ids: Sequence[int] | None = None,
                 due_by: dt.datetime | None = None) -> int:
        """Open clocks whose follow-up event has happened after entry and before the deadline are met: those of
        ``lead_ids`` (as their events are stored), or those due by ``due_by`` (before a deadline is acted on)."""
        followed_up = (sa.select(sa.func.min(EVENTS.c.at))
                       .where(EVENTS.c.lead_id == SLA_CLOCKS.c.lead_id, EVENTS.c.type == SLA_CLOCKS.c.event,
                              EVENTS.c.at >= SLA_CLOCKS.c.entered_at, EVENTS.c.at < SLA_CLOCKS.c.deadline,
                              EVENTS.c.at <= now)
                       .scalar_subquery())
        update = SLA_CLOCKS.update().where(SLA_CLOCKS.c.status == "open", followed_up.is_not(None))
        if lead_ids is not None:
            update = update.where(SLA_CLOCKS.c.lead_id.in_(list(lead_ids)))
        if due_by is not None:
            update = update.where(SLA_CLOCKS.c.deadline <= due_by)
        result = self.conn.execute(update.values(status="met", closed_at=followed_up))
        return result.rowcount or 0

    def due(self, now: dt.datetime, limit: int) -> list[ClockRow]:
        """Open clocks whose deadline has come, oldest first; on PostgreSQL another daemon's are skipped."""
        query = (sa.select(*_COLUMNS).join(LEADS, LEADS.c.id == SLA_CLOCKS.c.lead_id)
                 .where(SLA_CLOCKS.c.status == "open", SLA_CLOCKS.c.deadline <= now)
                 .order_by(SLA_CLOCKS.c.deadline, SLA_CLOCKS.c.id).limit(limit))
        if self.postgres:
            query = query.with_for_update(of=SLA_CLOCKS, skip_locked=True)
        return _rows(self.conn.execute(query))

    def close(self, clock_id: int, status: str, now: dt.datetime, outcome: str | None = None) -> bool:
        """Move an open clock to ``status``; False when it is no longer open (another daemon closed it):
        the caller then does nothing, so a breach acts once."""
        result = self.conn.execute(SLA_CLOCKS.update().where(SLA_CLOCKS.c.id == clock_id,
                                                             SLA_CLOCKS.c.status == "open")
                                   .values(status=status, closed_at=now, outcome=outcome))
        return result.rowcount == 1

    def set_outcome(self, clock_id: int, outcome: str) -> None:
        self.conn.execute(SLA_CLOCKS.update().where(SLA_CLOCKS.c.id == clock_id).values(outcome=outcome[:2000]))

    def still_in(self, lead_id: int, stage: str, since: dt.datetime) -> bool:
        """Whether the lead is still in the stage entry a clock was started for."""
        row = self.conn.execute(sa.select(LEADS.c.stage, LEADS.c.stage_since).where(LEADS.c.id == lead_id)).first()
        return row is not None and row.stage == stage and row.stage_since == since

    def set_owner(self, lead_id: int, owner: str) -> None:
        # the revision goes up with every write of a lead's row: a processor's kept copy of it is then stale
        self.conn.execute(LEADS.update().where(LEADS.c.id == lead_id).values(owner=owner,
                                                                              revision=LEADS.c.revision + 1))

    def move_back(self, lead_id: int, from_stage: str, to_stage: str, at: dt.datetime, reason: str,
                  version_id: int | None) -> bool:
        """Recycle a lead to an earlier stage, recorded as a stage change journeys react to (`stage becomes`)."""
        moved = self.conn.execute(LEADS.update().where(LEADS.c.id == lead_id, LEADS.c.stage == from_stage)
                                  .values(stage=to_stage, stage_since=at, revision=LEADS.c.revision + 1))
        if moved.rowcount != 1:
            return False
        self.conn.execute(CHANGES.insert().values(lead_id=lead_id, at=at, from_stage=from_stage, to_stage=to_stage,
                                                  reason=reason[:2000], version_id=version_id))
        self.conn.execute(SIGNALS.insert().values(lead_id=lead_id, kind="lead", name="", at=at, leased_until=None,
                                                  props={"stages": [[to_stage, at.timestamp()]]}))
        return True

    def of_lead(self, lead_id: int) -> list[ClockRow]:
        query = (sa.select(*_COLUMNS).join(LEADS, LEADS.c.id == SLA_CLOCKS.c.lead_id)
                 .where(SLA_CLOCKS.c.lead_id == lead_id).order_by(SLA_CLOCKS.c.entered_at, SLA_CLOCKS.c.id))
        return _rows(self.conn.execute(query))

    def breaches(self, limit: int = 200) -> list[ClockRow]:
        """The latest breaches, newest first."""
        query = (sa.select(*_COLUMNS).join(LEADS, LEADS.c.id == SLA_CLOCKS.c.lead_id)
                 .where(SLA_CLOCKS.c.status == "breached")
                 .order_by(SLA_CLOCKS.c.deadline.desc(), SLA_CLOCKS.c.id.desc()).limit(limit))
        return _rows(self.conn.execute(query))

    def counts(self, now: dt.datetime) -> tuple[int, int]:
        """(breached clocks, open clocks past their deadline that no daemon has handled yet)."""
        breached = self.conn.execute(sa.select(sa.func.count()).select_from(SLA_CLOCKS)
                                     .where(SLA_CLOCKS.c.status == "breached")).scalar_one()
        overdue = self.conn.execute(sa.select(sa.func.count()).select_from(SLA_CLOCKS)
                                    .where(SLA_CLOCKS.c.status == "open", SLA_CLOCKS.c.deadline <= now)).scalar_one()
        return int(breached), int(overdue)

    def next_deadline(self, after: dt.datetime) -> dt.datetime | None:
        """The next deadline of an open clock after ``after``: when a virtual clock must tick next."""
        return self.conn.execute(sa.select(sa.func.min(SLA_CLOCKS.c.deadline))
                                 .where(SLA_CLOCKS.c.status == "open", SLA_CLOCKS.c.deadline > after)).scalar()

