"""Signals: the changes journeys have yet to react to, queued in the transaction of their cause."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa

from engine.store.base import Repository
from engine.store.bulk import insert_many
from engine.store.tables import SIGNALS


class Signals(Repository):
    """Signals: the changes journeys have yet to react to, queued in the transaction of their cause."""

    def insert_lead_changes(self, changes: Sequence[tuple[int, dict[str, Any]]], at: dt.datetime) -> None:
        """One "lead" signal per (lead id, what changed) for the daemon's journeys to look at."""
        insert_many(self.conn, SIGNALS, [{"lead_id": lead_id, "kind": "lead", "name": "", "at": at,
                                          "leased_until": None, "props": props} for lead_id, props in changes])

    def take(self, limit: int) -> list[SignalRow]:
        """The oldest signals, locked for this transaction on PostgreSQL (skipping another daemon's)."""
        query = sa.select(SIGNALS.c.id, SIGNALS.c.lead_id, SIGNALS.c.props).order_by(SIGNALS.c.id).limit(limit)
        if self.postgres:
            query = query.with_for_update(skip_locked=True)
        return [SignalRow(row.id, row.lead_id, dict(row.props or {})) for row in self.conn.execute(query)]

    def delete(self, ids: Sequence[int]) -> None:
        self.conn.execute(SIGNALS.delete().where(SIGNALS.c.id.in_(list(ids))))


class SignalRow(NamedTuple):
    id: int
    lead_id: int
    #: "events": [(type, props, epoch)], "stages": [(stage, epoch)]
    props: dict[str, Any]
