"""Stage entry actions (owner assignment, sales notifications) and round-robin turns."""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

import sqlalchemy as sa

from engine.store.base import Repository
from engine.store.tables import ACTIONS


class Actions(Repository):
    """Stage entry actions (owner assignment, sales notifications) and round-robin turns."""

    def pending_notifications(self, limit: int) -> list[ActionRow]:
        """Sales notifications not yet queued, oldest first; locked for this transaction on PostgreSQL."""
        query = (sa.select(ACTIONS.c.id, ACTIONS.c.key, ACTIONS.c.lead_id, ACTIONS.c.payload)
                 .where(ACTIONS.c.status == "pending", ACTIONS.c.kind == "notify").order_by(ACTIONS.c.id).limit(limit))
        if self.postgres:
            query = query.with_for_update(skip_locked=True)
        return [ActionRow(row.id, row.key, row.lead_id, dict(row.payload or {})) for row in self.conn.execute(query)]

    def mark_done(self, action_id: int, now: dt.datetime) -> None:
        self.conn.execute(ACTIONS.update().where(ACTIONS.c.id == action_id).values(status="done", done_at=now))


class ActionRow(NamedTuple):
    id: int
    #: lead, stage, transition time and action index: unique per transition
    key: str
    lead_id: int
    payload: dict[str, Any]
