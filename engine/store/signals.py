"""Signals: the changes journeys have yet to react to, queued in the transaction of their cause."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa

from engine.store.base import Repository
from engine.store.tables import SIGNALS


class Signals(Repository):
    """Signals: the changes journeys have yet to react to, queued in the transaction of their cause."""

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
