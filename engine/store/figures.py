"""Figures for operations: the daemons' heartbeats and the store's totals, for health checks and metrics."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import sqlalchemy as sa

from engine.core.clock import UTC
from engine.store.base import Repository
from engine.store.tables import DAEMONS, EVENTS, OUTBOX, QUARANTINE


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
        newest = self.conn.execute(sa.select(sa.func.max(DAEMONS.c.heartbeat_at))).scalar()
        return Totals(
            # the highest id, not count(*): exact while events are never deleted, and O(1) on a big table
            events=self.conn.execute(sa.select(sa.func.max(EVENTS.c.id))).scalar() or 0,
            quarantined=self.conn.execute(sa.select(sa.func.count()).select_from(QUARANTINE)).scalar_one(),
            messages=messages,
            deferrals=deferrals,
            daemons=self.conn.execute(sa.select(sa.func.count()).select_from(DAEMONS)).scalar_one(),
            # max() may come back without the column's time zone on some drivers
            newest_heartbeat=None if newest is None else newest if newest.tzinfo else newest.replace(tzinfo=UTC),
        )
