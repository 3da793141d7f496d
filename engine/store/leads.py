"""The leads table: ids by email, lead state loaded for an update and saved back, views of leads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa

from engine.store.base import Repository, chunks
from engine.store.tables import LEADS


class Leads(Repository):
    """The leads table: ids by email, lead state loaded for an update and saved back, views of leads."""

    # ----- what journeys read ------------------------------------------------------------------

    def ids_after(self, cursor: int, limit: int) -> list[int]:
        """Lead ids after ``cursor`` in id order: walking every lead a batch at a time."""
        return list(self.conn.execute(sa.select(LEADS.c.id).where(LEADS.c.id > cursor).order_by(LEADS.c.id)
                                      .limit(limit)).scalars())

    def journey_views(self, lead_ids: Sequence[int]) -> dict[int, LeadRow]:
        """Many leads in one query: the daemon's batches read hundreds at a time, and a query per lead
        cost more than everything journeys then do with them."""
        found: dict[int, LeadRow] = {}
        for part in chunks(sorted(set(lead_ids))):
            for row in self.conn.execute(sa.select(*_ROW_COLUMNS).where(LEADS.c.id.in_(part))):
                found[row.id] = LeadRow(row.id, row.email, dict(row.attributes or {}), dict(row.state or {}),
                                        row.stage, row.owner, row.unsubscribed_at is not None)
        return found


class LeadRow(NamedTuple):
    """A lead as stored: what journeys and delivery build their view of it from."""

    id: int
    email: str
    attributes: dict[str, Any]
    #: the scoring state (engine.core.scoring.LeadState's JSON form)
    state: dict[str, Any]
    stage: str
    owner: str | None
    unsubscribed: bool


_ROW_COLUMNS = (LEADS.c.id, LEADS.c.email, LEADS.c.attributes, LEADS.c.state, LEADS.c.stage, LEADS.c.owner,
                LEADS.c.unsubscribed_at)
