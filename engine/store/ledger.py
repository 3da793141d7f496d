"""The score ledger and the stage history: what earned each point and why each stage changed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from engine.core.clock import as_utc
from engine.store.base import Repository
from engine.store.bulk import insert_many
from engine.store.tables import CHANGES, LEDGER


class Ledger(Repository):
    """The score ledger and the stage history: what earned each point and why each stage changed."""

    def insert_lines(self, lines: Sequence[dict[str, Any]]) -> None:
        """Ledger lines as the evaluator writes them (lead_id, score, rule, points, event_key, at, version_id)."""
        insert_many(self.conn, LEDGER, lines)

    def insert_changes(self, changes: Sequence[dict[str, Any]]) -> None:
        """Stage changes as the evaluator writes them (lead_id, at, from_stage, to_stage, reason, version_id)."""
        insert_many(self.conn, CHANGES, changes)

    def delete_lines(self, lead_ids: Sequence[int]) -> None:
        """Forget these leads' points, before they are recomputed from their events."""
        if lead_ids:
            self.conn.execute(LEDGER.delete().where(LEDGER.c.lead_id.in_(lead_ids)))

    def changes_of(self, lead_ids: Sequence[int]) -> dict[int, set[tuple[Any, str, str]]]:
        """These leads' stage history as (at, from, to) per lead: to tell what a replay changed in it."""
        found: dict[int, set[tuple[Any, str, str]]] = {}
        if lead_ids:
            query = sa.select(CHANGES.c.lead_id, CHANGES.c.at, CHANGES.c.from_stage, CHANGES.c.to_stage) \
                .where(CHANGES.c.lead_id.in_(list(lead_ids)))
            for lead_id, at, from_stage, to_stage in self.conn.execute(query):
                found.setdefault(lead_id, set()).add((as_utc(at), from_stage, to_stage))
        return found

    def delete_changes(self, lead_ids: Sequence[int]) -> None:
        """Forget these leads' stage history, before it is replayed from their events."""
        if lead_ids:
            self.conn.execute(CHANGES.delete().where(CHANGES.c.lead_id.in_(lead_ids)))
