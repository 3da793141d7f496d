"""Figures for operations: the daemons' heartbeats and the store's totals, for health checks and metrics."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import sqlalchemy as sa

from engine.core.clock import UTC
from engine.core.journeys import OPEN_STATUSES
from engine.store.base import Repository
from engine.store.tables import DAEMONS, ENROLLMENTS, EVENTS, OUTBOX, QUARANTINE, SIGNALS

_OPEN = [str(status) for status in OPEN_STATUSES]


class Heartbeat(NamedTuple):
    name: str
    started_at: dt.datetime
    heartbeat_at: dt.datetime


class Totals(NamedTuple):
    """What every process sees alike, read with a few indexed queries."""

    events: int
    quarantined: int
    #: outbox messages by status (sent, failed, suppressed, queued, ...)
    messages: dict[str, int]
    #: times messages were put off by quiet hours or caps
    deferrals: int
    daemons: int
    newest_heartbeat: dt.datetime | None


class Backlog(NamedTuple):
    """How far behind the daemons are: when the oldest piece of work still waiting became due (None: none waits)."""

    #: the oldest change of a lead journeys have not reacted to yet
    oldest_signal_at: dt.datetime | None
    #: the earliest due time of a journey step that is due and has not run
    oldest_due_step_at: dt.datetime | None
    #: the earliest due time of an email that is due and not yet sent
    oldest_due_message_at: dt.datetime | None


def _aware(at: dt.datetime | None) -> dt.datetime | None:
    # min() and friends may come back without the column's time zone on some drivers
    return None if at is None else at if at.tzinfo else at.replace(tzinfo=UTC)


class Figures(Repository):
    """Figures for operations: the daemons' heartbeats and the store's totals."""

    def heartbeats(self) -> list[Heartbeat]:
        """The registered daemons, the most recent heartbeat first."""
        rows = self.conn.execute(sa.select(DAEMONS.c.name, DAEMONS.c.started_at, DAEMONS.c.heartbeat_at)
                                 .order_by(DAEMONS.c.heartbeat_at.desc()))
        return [Heartbeat(r.name, r.started_at, r.heartbeat_at) for r in rows]

    def totals(self) -> Totals:
        messages: dict[str, int] = {}
        deferrals = 0
        for row in self.conn.execute(sa.select(OUTBOX.c.status, sa.func.count().label("n"),
                                               sa.func.sum(OUTBOX.c.deferrals).label("deferrals"))
                                     .group_by(OUTBOX.c.status)):
            messages[row.status] = row.n
            deferrals += int(row.deferrals or 0)
        newest = _aware(self.conn.execute(sa.select(sa.func.max(DAEMONS.c.heartbeat_at))).scalar())
        return Totals(
            # the highest id, not count(*): exact while events are never deleted, and O(1) on a big table
            events=self.conn.execute(sa.select(sa.func.max(EVENTS.c.id))).scalar() or 0,
            quarantined=self.conn.execute(sa.select(sa.func.count()).select_from(QUARANTINE)).scalar_one(),
            messages=messages,
            deferrals=deferrals,
            daemons=self.conn.execute(sa.select(sa.func.count()).select_from(DAEMONS)).scalar_one(),
            newest_heartbeat=newest,
        )

    def backlog(self, now: dt.datetime) -> Backlog:
        """The oldest waiting signal, due journey step and due email, each read from an index."""
        signal = self.conn.execute(sa.select(SIGNALS.c.at).order_by(SIGNALS.c.id).limit(1)).scalar()
        step = self.conn.execute(sa.select(sa.func.min(ENROLLMENTS.c.due_at))
                                 .where(ENROLLMENTS.c.status.in_(_OPEN), ENROLLMENTS.c.due_at <= now)).scalar()
        message = self.conn.execute(sa.select(sa.func.min(OUTBOX.c.due_at))
                                    .where(OUTBOX.c.status == "queued", OUTBOX.c.due_at <= now)).scalar()
        return Backlog(_aware(signal), _aware(step), _aware(message))
